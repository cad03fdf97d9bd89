/**
 * The broker connect after the CONNECT, without sockets: what waits is
 * copied and kept in order, the limit says when to stop reading the client,
 * and cancelling aborts the connect.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { DeferredUpstream } from '../../../src/bridge/deferred-upstream.js'
import type { OpenUpstream } from '../../../src/upstream/upstream.js'

describe('deferred upstream', () => {
  test('holds copies in order, and says when more than the limit waits', () => {
    const opening = new DeferredUpstream(Buffer.from('connect'))
    const chunk = Buffer.from('publish')
    assert.equal(opening.hold(chunk, 20), false)
    chunk.fill(0)
    assert.equal(opening.hold(Buffer.alloc(10), 20), true, '7 + 7 + 10 bytes > 20')
    assert.deepEqual(opening.take().map((b) => b.toString('latin1')), ['connect', 'publish', '\0'.repeat(10)])
  })

  test('cancel aborts the connect in flight', async () => {
    let seen: AbortSignal | undefined
    const open: OpenUpstream = async (_clientId, signal) => {
      seen = signal
      await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))))
      throw new Error('unreachable')
    }
    const opening = new DeferredUpstream(Buffer.from('connect'))
    const connecting = opening.open(open, 'sensor-1')
    opening.cancel()
    await assert.rejects(connecting, /aborted/)
    assert.equal(seen?.aborted, true)
  })
})

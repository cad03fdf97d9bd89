/**
 * The in-process stream pair to the embedded broker: TCP's semantics where
 * the bridge relies on them, and the unbounded mode that keeps one slow
 * client from making Aedes wait.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { UnreadOverflowError } from '../../../src/errors.js'
import { duplexPair } from '../../../src/upstream/duplex-pair.js'

describe('duplex pair', () => {
  test('destroying one end with an error reaches the other as a FIN (as a TCP socket would), not a reset', async () => {
    const [ours, theirs] = duplexPair()
    const ended = once(ours, 'end')
    ours.resume()
    ours.on('error', (err) => assert.fail(`the other end saw an error: ${String(err)}`))
    theirs.on('error', () => {})
    theirs.destroy(new Error('protocol error'))
    await ended
  })

  test('by default a write waits until the other end reads (TCP\'s window)', async () => {
    const [ours, theirs] = duplexPair()
    ours.pause()
    let flushed = 0
    for (let i = 0; i < 8; i++) theirs.write(Buffer.alloc(8192), () => { flushed++ })
    await new Promise((resolve) => setImmediate(resolve))
    assert.ok(flushed < 8, 'every write completed though nothing was read')
  })

  test('unbounded: the second end\'s writes never wait; past maxUnread the first end is destroyed with UnreadOverflowError', async () => {
    const [ours, theirs] = duplexPair({ unbounded: { maxUnread: 64 * 1024 } })
    ours.pause()
    let flushed = 0
    for (let i = 0; i < 7; i++) theirs.write(Buffer.alloc(8192), () => { flushed++ })
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(flushed, 7, 'a write waited for the slow reader')
    assert.equal(ours.destroyed, false)
    const failed = once(ours, 'error')
    theirs.write(Buffer.alloc(16 * 1024))
    const [err] = await failed as [Error]
    assert.ok(err instanceof UnreadOverflowError)
    assert.equal((err as UnreadOverflowError).code, 'MWG_ERR_UNREAD_OVERFLOW')
  })

  test('onFirstWrite runs once, before the first bytes reach the other end', async () => {
    let calls = 0
    let readyBeforeData = false
    const pair: { theirs?: import('node:stream').Duplex } = {}
    const [ours, theirs] = duplexPair({ onFirstWrite: () => { calls++; readyBeforeData = pair.theirs?.readableLength === 0 } })
    pair.theirs = theirs
    ours.write('a')
    ours.write('b')
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(calls, 1)
    assert.equal(readyBeforeData, true)
  })
})

/**
 * One direction of a connection, on a real in-process stream pair: corks
 * once per turn, notices a buffer over the mark once, and reports the drain.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Direction } from '../../../src/bridge/direction.js'
import type { DirectionHost } from '../../../src/bridge/direction.js'
import { duplexPair } from '../../../src/upstream/duplex-pair.js'

class Host implements DirectionHost {
  flushes = 0
  slow = 0
  drained = 0
  scheduleFlush (): void { this.flushes++ }
  onSlow (): void { this.slow++ }
  onDrained (): void { this.drained++ }
}

describe('direction', () => {
  test('corks on the first write of a turn only, and uncorks at flush', () => {
    const host = new Host()
    const [ours, theirs] = duplexPair()
    const seen: Buffer[] = []
    theirs.on('data', (chunk: Buffer) => seen.push(chunk))
    const direction = new Direction('broker', host, 1024 * 1024)
    direction.attach(ours)
    for (const text of ['a', 'b', 'c']) {
      direction.cork()
      ours.write(text)
      direction.checkBuffer()
    }
    assert.equal(host.flushes, 1, 'one flush asked for the turn')
    assert.equal(ours.writableCorked, 1)
    direction.flush()
    assert.equal(ours.writableCorked, 0)
    direction.flush() // a second flush in the same turn does nothing
    assert.equal(ours.writableCorked, 0)
  })

  test('over the high-water mark: slow once, then drained once the reader reads', async () => {
    const host = new Host()
    const [ours, theirs] = duplexPair()
    theirs.pause()
    const direction = new Direction('client', host, 16 * 1024)
    direction.attach(ours)
    for (let i = 0; i < 8; i++) {
      ours.write(Buffer.alloc(8 * 1024))
      direction.checkBuffer()
    }
    assert.equal(direction.slow, true)
    assert.equal(host.slow, 1, 'onSlow once, however many writes went over')
    theirs.resume()
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setTimeout(resolve, 10))
    assert.equal(direction.slow, false)
    assert.equal(host.drained, 1)
  })

  test('before a sink is attached (broker still being connected) it does nothing', () => {
    const host = new Host()
    const direction = new Direction('broker', host, 1024)
    direction.cork()
    direction.checkBuffer()
    direction.flush()
    assert.deepEqual([host.flushes, host.slow, direction.slow], [0, 0, false])
  })
})

/**
 * One timer for all of a connection's deadlines: each fires once, at its
 * time, in any order of setting; clearing and re-setting work; a handler
 * that sets a later deadline does not delay an earlier one that is due.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Deadline, Deadlines } from '../../../src/bridge/deadlines.js'
import type { DeadlineKind, DeadlineOwner } from '../../../src/bridge/deadlines.js'

class Recorder implements DeadlineOwner {
  readonly fired: { kind: DeadlineKind, at: number }[] = []
  private readonly started = performance.now()
  onKind: ((kind: DeadlineKind) => void) | undefined
  onDeadline (kind: DeadlineKind): void {
    this.fired.push({ kind, at: performance.now() - this.started })
    this.onKind?.(kind)
  }
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

describe('deadlines', () => {
  test('each fires once, in time order, whatever the order of setting', async () => {
    const owner = new Recorder()
    const deadlines = new Deadlines(owner)
    deadlines.set(Deadline.close, 60)
    deadlines.set(Deadline.connect, 20)
    deadlines.set(Deadline.drain, 40)
    await sleep(120)
    assert.deepEqual(owner.fired.map((f) => f.kind), [Deadline.connect, Deadline.drain, Deadline.close])
    for (const [i, want] of [20, 40, 60].entries()) {
      const at = owner.fired[i]?.at ?? 0
      assert.ok(at >= want - 1 && at < want + 40, `deadline ${i} fired at ${at.toFixed(1)} ms, due at ${want}`)
    }
  })

  test('a cleared deadline never fires; re-setting one moves it', async () => {
    const owner = new Recorder()
    const deadlines = new Deadlines(owner)
    const fired = (): DeadlineKind[] => owner.fired.map((f) => f.kind)
    deadlines.set(Deadline.connect, 20)
    deadlines.set(Deadline.idle, 30)
    deadlines.clear(Deadline.connect)
    deadlines.set(Deadline.idle, 60)
    assert.equal(deadlines.isSet(Deadline.connect), false)
    assert.equal(deadlines.isSet(Deadline.idle), true)
    await sleep(40)
    assert.deepEqual(fired(), [])
    await sleep(50)
    assert.deepEqual(fired(), [Deadline.idle])
    assert.equal(deadlines.isSet(Deadline.idle), false, 'a fired deadline is cleared')
  })

  test('a handler that sets a later deadline does not delay an earlier one still set', async () => {
    const owner = new Recorder()
    const deadlines = new Deadlines(owner)
    deadlines.set(Deadline.connect, 10)
    deadlines.set(Deadline.drain, 40)
    owner.onKind = (kind) => { if (kind === Deadline.connect) deadlines.set(Deadline.idle, 10_000) }
    await sleep(80)
    assert.deepEqual(owner.fired.map((f) => f.kind), [Deadline.connect, Deadline.drain])
    deadlines.stop()
  })

  test('a handler may set its own kind again (the idle pinger re-arms itself)', async () => {
    const owner = new Recorder()
    const deadlines = new Deadlines(owner)
    let left = 3
    owner.onKind = () => { if (--left > 0) deadlines.set(Deadline.idle, 10) }
    deadlines.set(Deadline.idle, 10)
    await sleep(100)
    assert.equal(owner.fired.length, 3)
  })

  test('stop clears everything', async () => {
    const owner = new Recorder()
    const deadlines = new Deadlines(owner)
    deadlines.set(Deadline.token, 10)
    deadlines.stop()
    await sleep(30)
    assert.deepEqual(owner.fired, [])
  })

  test('a deadline beyond setTimeout\'s 24.8-day range is kept, not fired at once', async () => {
    const owner = new Recorder()
    const deadlines = new Deadlines(owner)
    deadlines.set(Deadline.token, 40 * 24 * 3600 * 1000)
    await sleep(20)
    assert.deepEqual(owner.fired, [])
    assert.equal(deadlines.isSet(Deadline.token), true)
    deadlines.stop()
  })
})

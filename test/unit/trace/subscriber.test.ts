/**
 * A trace viewer's bounded queue, against an outlet that stops taking lines
 * (as a socket whose reader stopped): at most maxEvents / maxBytes wait, the
 * rest are dropped and counted, the viewer is told how many once it drains,
 * and a viewer stalled past stallMs is cut off with the count.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Subscriber } from '../../../src/trace/subscriber.js'
import type { Outlet } from '../../../src/trace/subscriber.js'

class StuckOutlet implements Outlet {
  written: string[] = []
  ended: string | undefined | null = null
  accepting = true
  private drain: (() => void) | undefined

  write (chunk: string): boolean {
    this.written.push(chunk)
    return this.accepting
  }

  onDrain (callback: () => void): void {
    this.drain = callback
  }

  end (last?: string): void {
    this.ended = last
  }

  unstick (): void {
    this.accepting = true
    const drain = this.drain
    this.drain = undefined
    drain?.()
  }

  get lines (): Record<string, unknown>[] {
    return this.written.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  }
}

const event = (n: number): string => JSON.stringify({ type: 'packet', n })

describe('trace subscriber', () => {
  test('writes straight through while the outlet takes lines', () => {
    const out = new StuckOutlet()
    const sub = new Subscriber(out, 'ndjson', { maxEvents: 3, maxBytes: 1e6, stallMs: 1000 }, 'test')
    for (let i = 0; i < 10; i++) sub.push(event(i), 0)
    assert.deepEqual(out.lines.map((l) => l.n), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert.equal(sub.dropped, 0)
  })

  test('a stalled outlet: the queue holds maxEvents, the rest are dropped, counted, and told on drain', () => {
    const out = new StuckOutlet()
    const sub = new Subscriber(out, 'ndjson', { maxEvents: 3, maxBytes: 1e6, stallMs: 10_000 }, 'test')
    out.accepting = false
    sub.push(event(0), 0) // written, and the outlet says "full"
    for (let i = 1; i <= 100; i++) sub.push(event(i), 1)
    assert.equal(sub.queued, 3)
    assert.equal(sub.dropped, 97)
    assert.equal(out.written.length, 1, 'nothing more written while stalled')
    out.unstick()
    const lines = out.lines
    assert.deepEqual(lines.map((l) => l.type === 'dropped' ? `dropped ${String(l.count)}` : l.n), [0, 1, 2, 3, 'dropped 97'])
    sub.push(event(101), 2)
    assert.equal(out.lines.at(-1)?.n, 101)
  })

  test('the byte bound holds as well as the count', () => {
    const out = new StuckOutlet()
    const sub = new Subscriber(out, 'ndjson', { maxEvents: 1000, maxBytes: 100, stallMs: 10_000 }, 'test')
    out.accepting = false
    sub.push(event(0), 0)
    for (let i = 1; i <= 50; i++) sub.push(event(i), 0)
    assert.ok(sub.queued * event(10).length <= 100)
    assert.equal(sub.queued + sub.dropped, 50)
  })

  test('stalled past stallMs while events come: cut off, the last line saying how many were lost', () => {
    const out = new StuckOutlet()
    const sub = new Subscriber(out, 'ndjson', { maxEvents: 2, maxBytes: 1e6, stallMs: 500 }, 'test')
    let closedWhy: string | undefined
    sub.onClosed = (_s, why) => { closedWhy = why }
    out.accepting = false
    sub.push(event(0), 0)
    for (let i = 1; i <= 10; i++) sub.push(event(i), 100)
    assert.equal(closedWhy, undefined)
    sub.push(event(11), 600)
    assert.equal(closedWhy, 'cut_off')
    const last = JSON.parse(String(out.ended)) as Record<string, unknown>
    assert.equal(last.type, 'cut_off')
    assert.equal(last.dropped, 9)
    sub.push(event(12), 700)
    assert.equal(sub.dropped, 9, 'nothing counted after the cut')
  })

  test('SSE framing, and the end line after what is queued', () => {
    const out = new StuckOutlet()
    const sub = new Subscriber(out, 'sse', { maxEvents: 10, maxBytes: 1e6, stallMs: 10_000 }, 'test')
    out.accepting = false
    sub.push(event(0), 0)
    sub.push(event(1), 0)
    sub.end(JSON.stringify({ type: 'trace_end' }))
    assert.equal(out.written[0], `data: ${event(0)}\n\n`)
    assert.equal(out.ended, `data: ${event(1)}\n\ndata: {"type":"trace_end"}\n\n`)
  })
})

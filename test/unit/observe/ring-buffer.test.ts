/**
 * RingBuffer: keeps the last `capacity` items, oldest first.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RingBuffer } from '../../../src/observe/ring-buffer.js'

function filled (capacity: number, count: number): RingBuffer<number> {
  const ring = new RingBuffer<number>(capacity)
  for (let i = 1; i <= count; i++) ring.push(i)
  return ring
}

test('keeps the last items, oldest first', () => {
  const cases: { capacity: number, count: number, expected: number[] }[] = [
    { capacity: 3, count: 0, expected: [] },
    { capacity: 3, count: 2, expected: [1, 2] },
    { capacity: 3, count: 3, expected: [1, 2, 3] },
    { capacity: 3, count: 4, expected: [2, 3, 4] },
    { capacity: 3, count: 7, expected: [5, 6, 7] },
    { capacity: 1, count: 5, expected: [5] }
  ]
  for (const { capacity, count, expected } of cases) {
    const ring = filled(capacity, count)
    assert.deepEqual(ring.toArray(), expected, `capacity ${capacity}, ${count} pushed`)
    assert.equal(ring.size, expected.length)
  }
})

test('a capacity that is not a positive integer is refused', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new RingBuffer(bad), RangeError)
})

/**
 * A fixed-size buffer that keeps the last `capacity` items: the status
 * page's samples and recent closes, bounded however long the gateway runs.
 */
import { OutOfRangeError } from '../errors.js'

export class RingBuffer<T> {
  readonly capacity: number
  private readonly items: (T | undefined)[]
  private next = 0
  private count = 0

  constructor (capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new OutOfRangeError(`capacity must be a positive integer, got ${capacity}`)
    this.capacity = capacity
    this.items = new Array<T | undefined>(capacity)
  }

  get size (): number {
    return this.count
  }

  /** Adds `item`, dropping the oldest one when full. */
  push (item: T): void {
    this.items[this.next] = item
    this.next = (this.next + 1) % this.capacity
    if (this.count < this.capacity) this.count++
  }

  /** The items, oldest first. */
  toArray (): T[] {
    const out: T[] = []
    const start = (this.next - this.count + this.capacity) % this.capacity
    for (let i = 0; i < this.count; i++) out.push(this.items[(start + i) % this.capacity] as T)
    return out
  }
}

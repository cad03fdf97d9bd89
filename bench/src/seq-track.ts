/**
 * Tells, for one publisher as seen by one subscriber, whether each arriving
 * sequence number is new and in order, new but late, or a duplicate.
 *
 * A growing bitset of seen numbers makes the three cases exact; it costs one
 * bit per message sent (125 KB per million), and stops growing at `MAX_BITS`,
 * past which later numbers are taken as new.
 */
export const Arrival = { IN_ORDER: 0, OUT_OF_ORDER: 1, DUPLICATE: 2 } as const
export type Arrival = typeof Arrival[keyof typeof Arrival]

const MAX_BITS = 2 ** 30

export class SeqTrack {
  /** Distinct sequence numbers seen. */
  unique = 0
  duplicates = 0
  outOfOrder = 0
  private highest = -1
  private seen = new Uint8Array(1024)

  record (seq: number): Arrival {
    if (seq < MAX_BITS && this.testAndSet(seq)) {
      this.duplicates++
      return Arrival.DUPLICATE
    }
    this.unique++
    if (seq < this.highest) {
      this.outOfOrder++
      return Arrival.OUT_OF_ORDER
    }
    this.highest = seq
    return Arrival.IN_ORDER
  }

  /** Marks `seq` seen; true when it already was. */
  private testAndSet (seq: number): boolean {
    const byte = seq >>> 3
    if (byte >= this.seen.length) this.grow(byte)
    const bit = 1 << (seq & 7)
    const old = this.seen[byte]!
    this.seen[byte] = old | bit
    return (old & bit) !== 0
  }

  private grow (byte: number): void {
    let size = this.seen.length
    while (size <= byte) size *= 2
    const bigger = new Uint8Array(size)
    bigger.set(this.seen)
    this.seen = bigger
  }
}

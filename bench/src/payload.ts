/**
 * The first bytes of every bench PUBLISH payload say who sent it, which one
 * it was and when, so a subscriber can count loss, duplicates and reordering
 * per publisher and measure end-to-end latency without any lookup.
 *
 *   0..3   publisher index (uint32 BE)
 *   4..7   sequence number of that publisher (uint32 BE, from 0)
 *   8..15  send time in µs on this process's monotonic clock (float64 BE)
 *
 * Publishers and subscribers live in the same process, so both ends read the
 * same clock and no synchronisation is needed.
 */
import { randomFillSync } from 'node:crypto'

export const PAYLOAD_HEADER_SIZE = 16
export const PUBLISHER_AT = 0
export const SEQ_AT = 4
export const SENT_AT = 8

/** Microseconds on the monotonic clock (fractional; `performance.now()` is in ms). */
export function nowMicros (): number {
  return performance.now() * 1000
}

/** A payload of `size` bytes for `publisher`, with seq and time left at 0 for patching. */
export function payloadTemplate (publisher: number, size: number): Buffer {
  const payload = Buffer.allocUnsafe(size)
  // Random filler, so nothing on the path gets an easy ride from compressible data.
  randomFillSync(payload)
  payload.writeUInt32BE(publisher, PUBLISHER_AT)
  payload.writeUInt32BE(0, SEQ_AT)
  payload.writeDoubleBE(0, SENT_AT)
  return payload
}

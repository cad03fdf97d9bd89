/**
 * The MQTT wire pieces the gateway, its load tool (bench/) and its tests
 * share: the control packet types, and the Variable Byte Integer that
 * carries every packet's Remaining Length (and v5's property lengths).
 *
 * A Variable Byte Integer is 1 to 4 bytes, 7 bits each, least significant
 * first, the high bit set when another byte follows [MQTT 3.1.1 §2.2.3,
 * MQTT 5 §1.5.5].
 */
import { OutOfRangeError } from '../errors.js'

/** Control packet types, the high nibble of the first byte [MQTT-2.2.1]. */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15
} as const

/** Largest remaining length a 4-byte variable byte integer can hold. */
export const MAX_REMAINING_LENGTH = 268_435_455

/** Bytes the variable byte integer encoding of `n` takes. */
export function varintSize (n: number): number {
  if (n < 128) return 1
  if (n < 16_384) return 2
  if (n < 2_097_152) return 3
  if (n <= MAX_REMAINING_LENGTH) return 4
  throw new OutOfRangeError(`remaining length ${n} exceeds the MQTT maximum`)
}

/** Writes `n` as a variable byte integer at `offset`; returns the offset after it. */
export function writeVarint (buf: Buffer, offset: number, n: number): number {
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    buf[offset++] = byte
  } while (n > 0)
  return offset
}

/** decodeVarint: the bytes end before the integer does. */
export const VARINT_INCOMPLETE = -1
/** decodeVarint: a fourth byte still says "more follows", a malformed packet [MQTT-1.5.5]. */
export const VARINT_MALFORMED = -2

/** Where decodeVarint leaves the value: one object the caller keeps, so decoding allocates nothing. */
export interface Varint {
  value: number
}

/**
 * Decodes the variable byte integer at `buf[offset, end)`. Returns how many
 * bytes it takes (1 to 4), its value in `out.value`; or VARINT_INCOMPLETE,
 * or VARINT_MALFORMED. A longer form than needed (0x80 0x00 for 0) is read
 * as what it says, and its size counted as written.
 */
export function decodeVarint (buf: Uint8Array, offset: number, end: number, out: Varint): number {
  let value = 0
  let multiplier = 1
  for (let i = offset; i < end; i++) {
    const byte = buf[i] as number
    value += (byte & 0x7f) * multiplier
    if ((byte & 0x80) === 0) {
      out.value = value
      return i - offset + 1
    }
    if (i - offset === 3) return VARINT_MALFORMED
    multiplier *= 128
  }
  return VARINT_INCOMPLETE
}

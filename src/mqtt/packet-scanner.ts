/**
 * Finds MQTT packet boundaries in a byte stream from the fixed header alone.
 *
 * Every MQTT control packet starts with one type byte and a Remaining Length
 * of 1 to 4 bytes (7 bits each, high bit = "more follows") [MQTT-2.2.3]; the
 * body is then skipped without being parsed. The scanner keeps its state
 * across chunks, so a packet may span any number of them and a chunk may hold
 * any number of packets (MQTT-6.0.0-2: WebSocket frames need not align).
 *
 * This runs on the hot path for every chunk in both directions: no
 * allocation, no closure, a jump per packet.
 */
import { VARINT_MALFORMED, decodeVarint } from '../wire/mqtt.js'
import type { Varint } from '../wire/mqtt.js'

/** The remaining-length field of a packet was longer than 4 bytes. */
export const MALFORMED_LENGTH = VARINT_MALFORMED

export class PacketScanner {
  /**
   * Largest packet (fixed header included) let through. A packet whose
   * header announces more stops the scan before any of its bytes count as
   * scanned, and sets `oversize`: the limit holds per MQTT packet, however
   * the packet is cut into WebSocket messages or TCP reads.
   */
  maxPacketSize = Number.MAX_SAFE_INTEGER
  /** Set once a packet over `maxPacketSize` was announced; the scanner then stops. */
  oversize = false
  /** Complete packets seen so far. */
  packets = 0
  /** Type (high nibble of the first byte) of the latest packet started. */
  lastType = 0
  /** Bytes still to skip in the current packet's body (after its header). */
  private bodyLeft = 0
  /** 0 at a packet start; 1 after the type byte; 2..5 while reading the length. */
  private headerPos = 0
  private length = 0
  private shift = 0
  /** Total size (header + body) of the packet being scanned; 0 between packets. */
  currentPacketSize = 0
  private sizeSoFar = 0

  /**
   * Scans `buf[start, end)`. Returns the index just past the last packet that
   * completed inside this range, -1 if none did, or MALFORMED_LENGTH. When a
   * packet over `maxPacketSize` is announced, stops there and sets `oversize`.
   */
  scan (buf: Uint8Array, start: number, end: number): number {
    let pos = start
    let lastBoundary = -1
    while (pos < end && !this.oversize) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, end - pos)
        this.bodyLeft -= take
        pos += take
        if (this.bodyLeft === 0) {
          this.finishPacket()
          lastBoundary = pos
        }
        continue
      }
      if (this.headerPos === 0) {
        // Type byte of a new packet.
        this.lastType = (buf[pos] as number) >> 4
        this.headerPos = 1
        this.length = 0
        this.shift = 0
        this.sizeSoFar = 1
        pos++
        continue
      }
      // The remaining length byte by byte, not with wire/mqtt.ts's decodeVarint: it may be
      // split across chunks. test/unit/wire/wire.test.ts checks that both read the same.
      const byte = buf[pos++] as number
      this.length += (byte & 0x7f) * 2 ** this.shift
      this.shift += 7
      this.headerPos++
      this.sizeSoFar++
      if ((byte & 0x80) !== 0) {
        if (this.headerPos > 4) return MALFORMED_LENGTH
        continue
      }
      this.currentPacketSize = this.sizeSoFar + this.length
      if (this.currentPacketSize > this.maxPacketSize) {
        this.oversize = true
        break
      }
      if (this.length === 0) {
        this.finishPacket()
        lastBoundary = pos
      } else {
        this.bodyLeft = this.length
      }
    }
    return lastBoundary
  }

  /** Body bytes of the current packet not scanned yet (0 between packets and inside a header). */
  get bodyBytesLeft (): number {
    return this.bodyLeft
  }

  /** True while a packet has started but not completed. */
  get inPacket (): boolean {
    return this.headerPos !== 0
  }

  /**
   * Bytes of a fixed header whose remaining length is not complete yet: a
   * sender that must not forward a byte of an oversized packet holds these
   * back until the header says how large the packet is (at most 4 bytes).
   */
  get headerBytesPending (): number {
    return this.headerPos !== 0 && this.bodyLeft === 0 ? this.sizeSoFar : 0
  }

  /**
   * Size of the packet being scanned once its header is known, else the
   * bytes seen of it so far: what a sender must hold to complete it.
   */
  get pendingPacketSize (): number {
    return this.bodyLeft > 0 ? this.currentPacketSize : this.sizeSoFar
  }

  private finishPacket (): void {
    this.packets++
    this.headerPos = 0
    this.currentPacketSize = 0
    this.sizeSoFar = 0
  }
}

/** firstPacketSize's remaining length: one object, not one per call. */
const firstLength: Varint = { value: 0 }

/**
 * Total size of the packet at the start of `buf` (fixed header included),
 * -1 if its header is not complete yet, or MALFORMED_LENGTH.
 */
export function firstPacketSize (buf: Uint8Array): number {
  const used = decodeVarint(buf, 1, buf.length, firstLength)
  return used < 0 ? used : 1 + used + firstLength.value
}

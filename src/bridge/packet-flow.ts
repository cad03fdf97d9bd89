/**
 * Where each direction cuts the byte stream, from MQTT fixed headers alone.
 *
 * Client → broker (`ClientPackets`): bytes are streamed on as they arrive,
 * but never a byte of a packet larger than the limit: a fixed header not
 * yet complete is held back (at most 4 bytes) until it says how large its
 * packet is, however the packet is cut into WebSocket messages.
 *
 * Broker → client (`BrokerPackets`): each chunk is cut after its last
 * complete packet, and those packets go to the client as one WebSocket
 * message (clients expect whole packets per message); a partial packet is
 * held until the rest arrives, up to the limit.
 */
import { MALFORMED_LENGTH, PacketScanner } from '../mqtt/packet-scanner.js'

/** A remaining length longer than 4 bytes [MQTT-2.2.3]. */
export const MALFORMED = 'malformed'
/** A packet whose header announces more than the limit. */
export const OVERSIZE = 'oversize'
export type Refusal = typeof MALFORMED | typeof OVERSIZE

/** Reused for every call (valid until the next): the data path allocates no array per chunk. */
const admitted: Buffer[] = []

export class ClientPackets {
  readonly scanner = new PacketScanner()
  /** Bytes of a fixed header whose length is not complete yet (a copy). */
  private carry: Buffer | undefined

  constructor (maxPacketSize: number) {
    this.scanner.maxPacketSize = maxPacketSize
  }

  /**
   * The bytes of `buf[start, end)` that may go upstream now, in order (up to
   * two slices: a held-back header, then the range), valid until the next
   * call; or why the connection must end.
   */
  admit (buf: Buffer, start: number, end: number): readonly Buffer[] | Refusal {
    const scanner = this.scanner
    if (scanner.scan(buf, start, end) === MALFORMED_LENGTH) return MALFORMED
    if (scanner.oversize) return OVERSIZE
    admitted.length = 0
    const keepFrom = end - Math.min(scanner.headerBytesPending, end - start)
    if (keepFrom > start) {
      if (this.carry !== undefined) admitted.push(this.carry)
      this.carry = undefined
      admitted.push(buf.subarray(start, keepFrom))
    }
    if (keepFrom < end) {
      // A copy: the frame reader reuses its chunk.
      const tail = buf.subarray(keepFrom, end)
      this.carry = this.carry === undefined ? Buffer.from(tail) : Buffer.concat([this.carry, tail])
    }
    return admitted
  }
}

/** `parts` when nothing is waiting to be sent: shared, never written. */
const NO_PARTS: Buffer[] = []

export class BrokerPackets {
  readonly scanner = new PacketScanner()
  /** Bytes of a packet not yet complete: views of the broker's chunks. */
  held: Buffer[] = []
  heldBytes = 0
  /** What `cut` found: the whole packets, and their size (until `release`). */
  parts: Buffer[] = NO_PARTS
  size = 0

  constructor (maxPacketSize: number) {
    this.scanner.maxPacketSize = maxPacketSize
  }

  /**
   * Takes the broker's next chunk. Afterwards `parts` (`size` bytes) holds
   * the whole packets to send, if any (size 0 when none completed); the rest
   * is held. On a refusal, the packets before the bad one are still in
   * `parts` and nothing is held.
   */
  cut (chunk: Buffer): Refusal | undefined {
    const scanner = this.scanner
    const boundary = scanner.scan(chunk, 0, chunk.length)
    this.size = 0
    if (boundary === MALFORMED_LENGTH) return MALFORMED
    if (boundary >= 0) {
      this.held.push(boundary === chunk.length ? chunk : chunk.subarray(0, boundary))
      this.parts = this.held
      this.size = this.heldBytes + boundary
      this.held = []
      this.heldBytes = 0
    }
    if (scanner.oversize) return OVERSIZE
    if (boundary < chunk.length) {
      this.held.push(boundary < 0 ? chunk : chunk.subarray(boundary))
      this.heldBytes += chunk.length - Math.max(boundary, 0)
    }
    return undefined
  }

  /**
   * The caller is done with `parts`: let go of them, so that an idle
   * connection does not keep its last message (and the read buffer it is a
   * view of) until the broker next writes.
   */
  release (): void {
    this.parts = NO_PARTS
    this.size = 0
  }
}

/**
 * Minimal MQTT packet splitter: finds packet boundaries in a byte stream from
 * the fixed header (first byte + remaining length) and hands each packet on.
 *
 * A packet wholly inside one chunk is passed as a view of that chunk, with no
 * copy. A packet split across chunks is assembled in a reused buffer, but only
 * its first `keep` bytes: the bench reads the topic, packet id and the payload
 * header near the start, so a 64 KiB PUBLISH costs a small copy, not a big one.
 */
import { VARINT_MALFORMED, decodeVarint } from '../../src/wire/index.js'
import type { Varint } from '../../src/wire/index.js'

/**
 * Receives one packet. `body` holds the packet's body from `start`; `available`
 * bytes of it are present, out of `length` (fewer only when the packet was
 * longer than the splitter keeps). The buffer is only valid during the call.
 */
export type PacketHandler = (firstByte: number, body: Buffer, start: number, available: number, length: number) => void

export class MalformedPacketError extends Error {
  readonly code = 'BENCH_MALFORMED_PACKET'
}

/**
 * Reads the fixed header at `start`: returns its size (the body's length in
 * `out.value`), or a negative number when it is not complete yet.
 */
function readFixedHeader (buf: Buffer, start: number, end: number, out: Varint): number {
  const used = decodeVarint(buf, start + 1, end, out)
  // [MQTT-1.5.5] the remaining length takes at most 4 bytes.
  if (used === VARINT_MALFORMED) throw new MalformedPacketError('remaining length longer than 4 bytes')
  return used < 0 ? used : 1 + used
}

export class PacketSplitter {
  private readonly onPacket: PacketHandler
  private readonly keep: number
  /** Assembles packets split across chunks; allocated on first need (idle clients never need it). */
  private keepBuf: Buffer | undefined
  /** Bytes of a fixed header split across chunks (at most 5). */
  private readonly headerBuf = Buffer.allocUnsafe(5)
  private headerFill = 0
  /** State of a body split across chunks; bodyLength < 0 when none is open. */
  private firstByte = 0
  private bodyLength = -1
  private bodySeen = 0
  /** The remaining length of the header just read. */
  private readonly header: Varint = { value: 0 }

  constructor (onPacket: PacketHandler, keep = 4096) {
    this.onPacket = onPacket
    this.keep = keep
  }

  push (chunk: Buffer): void {
    let pos = 0
    if (this.bodyLength >= 0) pos = this.continueBody(chunk, 0)
    else if (this.headerFill > 0) pos = this.continueHeader(chunk)
    while (pos < chunk.length) {
      const headerSize = readFixedHeader(chunk, pos, chunk.length, this.header)
      if (headerSize < 0) {
        this.saveHeader(chunk, pos)
        return
      }
      const length = this.header.value
      const bodyStart = pos + headerSize
      if (bodyStart + length <= chunk.length) {
        // The common case: the whole packet is in this chunk.
        this.onPacket(chunk[pos]!, chunk, bodyStart, length, length)
        pos = bodyStart + length
      } else {
        this.openBody(chunk[pos]!, length)
        pos = this.continueBody(chunk, bodyStart)
      }
    }
  }

  private saveHeader (chunk: Buffer, pos: number): void {
    chunk.copy(this.headerBuf, 0, pos)
    this.headerFill = chunk.length - pos
  }

  /** Completes a fixed header from the new chunk; returns where its body starts in the chunk. */
  private continueHeader (chunk: Buffer): number {
    const taken = Math.min(chunk.length, 5 - this.headerFill)
    chunk.copy(this.headerBuf, this.headerFill, 0, taken)
    const filled = this.headerFill + taken
    const headerSize = readFixedHeader(this.headerBuf, 0, filled, this.header)
    if (headerSize < 0) {
      this.headerFill = filled
      return chunk.length
    }
    const usedFromChunk = headerSize - this.headerFill
    this.headerFill = 0
    this.openBody(this.headerBuf[0]!, this.header.value)
    return this.continueBody(chunk, usedFromChunk)
  }

  private openBody (firstByte: number, length: number): void {
    this.firstByte = firstByte
    this.bodyLength = length
    this.bodySeen = 0
  }

  /** Takes body bytes from `chunk` at `pos`; returns the position after them. */
  private continueBody (chunk: Buffer, pos: number): number {
    const keepBuf = this.keepBuf ??= Buffer.allocUnsafe(this.keep)
    const taken = Math.min(this.bodyLength - this.bodySeen, chunk.length - pos)
    if (this.bodySeen < keepBuf.length) {
      const end = pos + Math.min(taken, keepBuf.length - this.bodySeen)
      chunk.copy(keepBuf, this.bodySeen, pos, end)
    }
    this.bodySeen += taken
    if (this.bodySeen === this.bodyLength) {
      const length = this.bodyLength
      this.bodyLength = -1
      this.onPacket(this.firstByte, keepBuf, 0, Math.min(length, keepBuf.length), length)
    }
    return pos + taken
  }
}

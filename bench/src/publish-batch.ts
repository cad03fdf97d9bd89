/**
 * Pre-encoded PUBLISH packets, written in batches for one socket write.
 *
 * A publisher's packets differ only in packet id, sequence number and send
 * time, so each is a copy of a template with those 14 bytes patched. On a
 * WebSocket wire the templates are whole masked frames; a handful of them,
 * each with its own mask key, are used in turn, and the patched bytes are
 * masked as they are written. No per-message masking pass, no per-message
 * object: this is what keeps the load tool from being the bottleneck.
 *
 * Big payloads are not copied at all: each message is a small patched head
 * followed by the template's tail, a buffer that is never written to, and
 * the batch goes out as one writev.
 */
import { Opcode, applyMask, maskedHeaderSize, writeMaskedHeader } from '../../src/wire/index.js'
import { encodePublish } from './mqtt-encode.js'
import type { ProtocolVersion, PublishLayout, QoS } from './mqtt-encode.js'
import { PAYLOAD_HEADER_SIZE, SEQ_AT, SENT_AT, payloadTemplate } from './payload.js'
import type { Framing } from './wire.js'

export interface BatchSpec {
  topic: string
  qos: QoS
  version: ProtocolVersion
  payloadSize: number
  publisher: number
  framing: Framing
}

/** Masked frame templates kept per publisher on a per-packet WebSocket wire. */
const MASK_KEYS = 8
/** From this payload size on, messages are written as head + shared tail instead of copies. */
const SPLIT_PAYLOAD = 2048

interface FrameTemplate {
  bytes: Buffer
  key: [number, number, number, number]
  /** The part after the patched fields, when messages are split. */
  tail: Buffer | undefined
}

export class PublishBatch {
  /** Bytes one message takes on the wire (frame header included on WebSocket). */
  readonly messageSize: number
  private readonly framing: Framing
  private readonly packet: Buffer
  private readonly layout: PublishLayout
  private readonly frames: FrameTemplate[] = []
  private readonly frameHeader: number
  private readonly scratch = Buffer.alloc(8)
  /** Bytes of each message copied and patched; the rest is the shared tail (all of it when not split). */
  private readonly headSize: number
  private readonly tail: Buffer | undefined

  constructor (spec: BatchSpec) {
    const { packet, layout } = encodePublish({
      topic: spec.topic,
      qos: spec.qos,
      packetId: 1,
      payload: payloadTemplate(spec.publisher, spec.payloadSize),
      version: spec.version
    })
    this.packet = packet
    this.layout = layout
    this.framing = spec.framing
    this.frameHeader = maskedHeaderSize(packet.length)
    this.messageSize = spec.framing === 'ws' ? this.frameHeader + packet.length : packet.length
    const split = spec.payloadSize >= SPLIT_PAYLOAD && spec.framing !== 'ws-batch'
    const patchedEnd = layout.payloadOffset + PAYLOAD_HEADER_SIZE + (spec.framing === 'ws' ? this.frameHeader : 0)
    this.headSize = split ? patchedEnd : this.messageSize
    this.tail = split && spec.framing === 'tcp' ? packet.subarray(patchedEnd) : undefined
    if (spec.framing === 'ws') for (let i = 0; i < MASK_KEYS; i++) this.frames.push(this.maskedTemplate(split))
  }

  private maskedTemplate (split: boolean): FrameTemplate {
    const bytes = Buffer.allocUnsafe(this.frameHeader + this.packet.length)
    const start = writeMaskedHeader(bytes, 0, Opcode.binary, this.packet.length)
    this.packet.copy(bytes, start)
    applyMask(bytes, start, bytes.length, start - 4)
    const key: [number, number, number, number] = [bytes[start - 4]!, bytes[start - 3]!, bytes[start - 2]!, bytes[start - 1]!]
    return { bytes, key, tail: split ? bytes.subarray(this.headSize) : undefined }
  }

  /**
   * Encodes `count` messages with sequence numbers from `firstSeq`, stamped
   * `sentAt` µs, with packet ids from `packetIds` at QoS 1 and 2, as the
   * chunks of one socket write.
   */
  build (count: number, firstSeq: number, packetIds: Uint16Array | undefined, sentAt: number): Buffer[] {
    this.scratch.writeDoubleBE(sentAt, 0)
    if (this.framing === 'ws') return this.buildFrames(count, firstSeq, packetIds)
    const header = this.framing === 'ws-batch' ? maskedHeaderSize(count * this.packet.length) : 0
    const out = Buffer.allocUnsafe(header + count * this.headSize)
    const chunks: Buffer[] = []
    let offset = header
    for (let i = 0; i < count; i++) {
      this.packet.copy(out, offset, 0, this.headSize)
      this.patchPlain(out, offset, firstSeq + i, packetIds?.[i] ?? 0)
      offset += this.headSize
      if (this.tail !== undefined) chunks.push(out.subarray(offset - this.headSize, offset), this.tail)
    }
    if (header > 0) {
      const start = writeMaskedHeader(out, 0, Opcode.binary, count * this.packet.length)
      applyMask(out, start, out.length, start - 4)
    }
    return this.tail === undefined ? [out] : chunks
  }

  private patchPlain (out: Buffer, packetAt: number, seq: number, packetId: number): void {
    const payloadAt = packetAt + this.layout.payloadOffset
    if (this.layout.packetIdOffset >= 0) out.writeUInt16BE(packetId, packetAt + this.layout.packetIdOffset)
    out.writeUInt32BE(seq >>> 0, payloadAt + SEQ_AT)
    this.scratch.copy(out, payloadAt + SENT_AT)
  }

  private buildFrames (count: number, firstSeq: number, packetIds: Uint16Array | undefined): Buffer[] {
    const out = Buffer.allocUnsafe(count * this.headSize)
    const chunks: Buffer[] = []
    for (let i = 0; i < count; i++) {
      const seq = firstSeq + i
      const frame = this.frames[seq % MASK_KEYS]!
      const at = i * this.headSize
      frame.bytes.copy(out, at, 0, this.headSize)
      this.patchMasked(out, at + this.frameHeader, frame.key, seq, packetIds?.[i] ?? 0)
      if (frame.tail !== undefined) chunks.push(out.subarray(at, at + this.headSize), frame.tail)
    }
    return chunks.length === 0 ? [out] : chunks
  }

  /** Writes the mutable fields into a masked packet; byte n of the packet is masked with key[n % 4]. */
  private patchMasked (out: Buffer, packetAt: number, key: readonly number[], seq: number, packetId: number): void {
    const idAt = this.layout.packetIdOffset
    if (idAt >= 0) {
      out[packetAt + idAt] = (packetId >>> 8) ^ key[idAt & 3]!
      out[packetAt + idAt + 1] = (packetId & 0xff) ^ key[(idAt + 1) & 3]!
    }
    const seqAt = this.layout.payloadOffset + SEQ_AT
    for (let j = 0; j < 4; j++) out[packetAt + seqAt + j] = ((seq >>> (24 - 8 * j)) & 0xff) ^ key[(seqAt + j) & 3]!
    const timeAt = this.layout.payloadOffset + SENT_AT
    for (let j = 0; j < 8; j++) out[packetAt + timeAt + j] = this.scratch[j]! ^ key[(timeAt + j) & 3]!
  }
}

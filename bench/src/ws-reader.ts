/**
 * Minimal reader of server→client WebSocket frames (RFC 6455 §5.2).
 *
 * MQTT over WebSocket is a byte stream carried in binary messages: a packet
 * may span frames and a frame may hold several packets [MQTT-6.0.0-2,3]. So
 * data frames are not assembled: their payload bytes are passed on as they
 * arrive, as views of the socket's chunks. Control frames (≤ 125 bytes) are
 * collected whole and handed to `onControl`.
 */
import { Opcode } from '../../src/wire/index.js'

export class WsProtocolError extends Error {
  readonly code = 'BENCH_WS_PROTOCOL'
}

export type PayloadHandler = (bytes: Buffer) => void
export type ControlHandler = (opcode: number, payload: Buffer) => void

interface FrameHeader {
  opcode: number
  length: number
  size: number
}

/** Parses a frame header at `pos`; undefined when more bytes are needed. */
function readHeader (buf: Buffer, pos: number, end: number): FrameHeader | undefined {
  if (end - pos < 2) return undefined
  const b0 = buf[pos]!
  const b1 = buf[pos + 1]!
  // No extension was negotiated, so RSV bits must be 0 [RFC 6455 §5.2].
  if ((b0 & 0x70) !== 0) throw new WsProtocolError('RSV bits set without an extension')
  // A server must not mask frames it sends [RFC 6455 §5.1].
  if ((b1 & 0x80) !== 0) throw new WsProtocolError('masked frame from server')
  const opcode = b0 & 0x0f
  let length = b1 & 0x7f
  let size = 2
  if (length === 126) {
    if (end - pos < 4) return undefined
    length = buf.readUInt16BE(pos + 2)
    size = 4
  } else if (length === 127) {
    if (end - pos < 10) return undefined
    const high = buf.readUInt32BE(pos + 2)
    if (high > 0x1fffff) throw new WsProtocolError('frame length above 2^53')
    length = high * 2 ** 32 + buf.readUInt32BE(pos + 6)
    size = 10
  }
  checkOpcode(opcode, b0, length)
  return { opcode, length, size }
}

function checkOpcode (opcode: number, b0: number, length: number): void {
  if (opcode >= 0x8) {
    // Control frames are short and never fragmented [RFC 6455 §5.5].
    if (length > 125 || (b0 & 0x80) === 0) throw new WsProtocolError('bad control frame')
    if (opcode > Opcode.pong) throw new WsProtocolError(`unknown opcode ${opcode}`)
  } else if (opcode === Opcode.text) {
    // MQTT must travel in binary frames [MQTT-6.0.0-1].
    throw new WsProtocolError('text frame on an MQTT connection')
  } else if (opcode > Opcode.binary) {
    throw new WsProtocolError(`unknown opcode ${opcode}`)
  }
}

export class FrameReader {
  private readonly onPayload: PayloadHandler
  private readonly onControl: ControlHandler
  /** Header bytes split across chunks (at most 10). */
  private readonly headerBuf = Buffer.allocUnsafe(10)
  private headerFill = 0
  /** Payload bytes still due for the open frame; opcode tells data from control. */
  private remaining = 0
  private opcode = -1
  private control: Buffer[] = []

  constructor (onPayload: PayloadHandler, onControl: ControlHandler) {
    this.onPayload = onPayload
    this.onControl = onControl
  }

  push (chunk: Buffer): void {
    let pos = 0
    if (this.headerFill > 0) pos = this.continueHeader(chunk)
    while (pos < chunk.length) {
      if (this.opcode >= 0) {
        pos = this.takePayload(chunk, pos)
        continue
      }
      const header = readHeader(chunk, pos, chunk.length)
      if (header === undefined) {
        chunk.copy(this.headerBuf, 0, pos)
        this.headerFill = chunk.length - pos
        return
      }
      this.openFrame(header)
      pos += header.size
    }
    // A frame with an empty payload that ended exactly at the chunk's end.
    if (this.opcode >= 0 && this.remaining === 0) this.takePayload(chunk, pos)
  }

  private continueHeader (chunk: Buffer): number {
    const taken = Math.min(chunk.length, this.headerBuf.length - this.headerFill)
    chunk.copy(this.headerBuf, this.headerFill, 0, taken)
    const filled = this.headerFill + taken
    const header = readHeader(this.headerBuf, 0, filled)
    if (header === undefined) {
      this.headerFill = filled
      return chunk.length
    }
    const used = header.size - this.headerFill
    this.headerFill = 0
    this.openFrame(header)
    return used
  }

  private openFrame (header: FrameHeader): void {
    this.opcode = header.opcode
    this.remaining = header.length
  }

  private takePayload (chunk: Buffer, pos: number): number {
    const taken = Math.min(this.remaining, chunk.length - pos)
    if (taken > 0) {
      const bytes = chunk.subarray(pos, pos + taken)
      if (this.opcode < 0x8) this.onPayload(bytes)
      else this.control.push(Buffer.from(bytes))
    }
    this.remaining -= taken
    if (this.remaining === 0) this.closeFrame()
    return pos + taken
  }

  private closeFrame (): void {
    const opcode = this.opcode
    this.opcode = -1
    if (opcode < 0x8) return
    const payload = Buffer.concat(this.control)
    this.control = []
    this.onControl(opcode, payload)
  }
}

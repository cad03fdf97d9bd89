/**
 * A lean reader for the frames a WebSocket client sends [RFC 6455 §5].
 *
 * Why not `ws`'s Receiver: it emits one event per message and copies each
 * message into a buffer of its own, which costs several microseconds per
 * MQTT packet. Here a whole TCP chunk is handled in one call: each data
 * payload is unmasked in place and moved down so that the payloads of all
 * frames in the chunk lie side by side, and the sink receives them as one
 * slice — one upstream write per chunk, however many frames it holds.
 * Payloads are streamed as they arrive, so a large message is never held
 * whole in memory.
 */
import { isUtf8 } from 'node:buffer'
import type { CloseReason } from '../errors.js'
import { Opcode } from '../wire/websocket.js'
import { unmaskInPlace, unmaskTo } from './unmask.js'

export interface FrameSink {
  /** Unmasked bytes of binary messages, in order. `buf[start, end)` is the sink's to keep. */
  onPayload (buf: Buffer, start: number, end: number): void
  onPing (payload: Buffer): void
  onPong (): void
  /** A close frame; `code` is 1005 when the frame carried none. */
  onCloseFrame (code: number, reason: string): void
  /** A frame broke a rule; the connection must be closed with the reason's code. */
  onFrameError (reason: CloseReason, detail: string): void
}

const MAX_HEADER = 14
const MAX_CONTROL_PAYLOAD = 125

export class FrameReader {
  private readonly sink: FrameSink
  /** Largest message accepted; raised once the client is authenticated. */
  maxMessageSize: number
  /** Partial frame header carried over from the previous chunk (allocated when first needed). */
  private header: Buffer | undefined
  private headerHave = 0
  /** The frame's masking key as a big-endian 32-bit number (0 when unmasked). */
  private maskKey = 0
  private opcode = 0
  private payloadLeft = 0
  private payloadPos = 0
  /** Bytes of the current (possibly fragmented) data message so far. */
  private messageSize = 0
  private inMessage = false
  /** Payload of a control frame, gathered across chunks (at most 125 bytes). */
  private control: Buffer | undefined
  private stopped = false

  constructor (sink: FrameSink, maxMessageSize: number) {
    this.sink = sink
    this.maxMessageSize = maxMessageSize
  }

  /** Processes one chunk from the socket. The reader may overwrite it. */
  feed (chunk: Buffer): void {
    let pos = 0
    let base = 0 // start of the data not yet handed to the sink
    let out = 0 // where the next data payload is moved to
    const end = chunk.length
    while (pos < end && !this.stopped) {
      if (this.payloadLeft === 0 && this.control === undefined) {
        const next = this.readHeader(chunk, pos, end)
        if (next < 0) break
        pos = next
        if (this.payloadLeft > 0 || this.control !== undefined) continue
        // An empty frame: only control frames need action.
        if (this.opcode >= Opcode.close) {
          if (out > base) { this.sink.onPayload(chunk, base, out); base = out }
          this.finishControl(Buffer.alloc(0))
        }
        continue
      }
      const take = Math.min(this.payloadLeft, end - pos)
      if (this.control !== undefined) {
        chunk.copy(this.control, this.payloadPos, pos, pos + take)
        this.advancePayload(take)
        pos += take
        if (this.payloadLeft === 0) {
          if (out > base) { this.sink.onPayload(chunk, base, out); base = out }
          const payload = this.control
          this.control = undefined
          unmaskInPlace(payload, 0, payload.length, this.maskKey, 0)
          this.finishControl(payload)
        }
        continue
      }
      // With nothing of this chunk pending, the payload stays where it is
      // (no copy, the common case for large messages); otherwise it is
      // moved down next to the payload before it.
      if (out === base) out = base = pos
      unmaskTo(chunk, pos, pos + take, out, this.maskKey, this.payloadPos)
      out += take
      pos += take
      this.advancePayload(take)
    }
    if (out > base && !this.stopped) this.sink.onPayload(chunk, base, out)
  }

  /** Stops reading: later chunks are ignored (after a close frame or an error). */
  stop (): void {
    this.stopped = true
  }

  private advancePayload (n: number): void {
    this.payloadLeft -= n
    this.payloadPos += n
  }

  /**
   * Parses a frame header at `chunk[pos]`, carrying a partial header over to
   * the next chunk. Returns the position after the header, or -1 when the
   * header is incomplete (or was rejected: then the reader is stopped).
   */
  private readHeader (chunk: Buffer, pos: number, end: number): number {
    if (this.headerHave === 0 && end - pos >= 2) {
      const size = headerLength(chunk, pos)
      if (end - pos >= size) return this.acceptHeader(chunk, pos) ? pos + size : -1
    }
    // The header is split across chunks: gather it in this.header.
    const header = this.header ??= Buffer.allocUnsafe(MAX_HEADER)
    while (pos < end) {
      const need = this.headerHave < 2 ? 2 : headerLength(header, 0)
      const copy = Math.min(need - this.headerHave, end - pos)
      chunk.copy(header, this.headerHave, pos, pos + copy)
      this.headerHave += copy
      pos += copy
      if (this.headerHave >= 2 && this.headerHave === headerLength(header, 0)) {
        this.headerHave = 0
        return this.acceptHeader(header, 0) ? pos : -1
      }
    }
    return -1
  }

  /** Applies the rules of §5.2 and §5.4 to a complete header. */
  private acceptHeader (h: Buffer, at: number): boolean {
    const b0 = h[at] as number
    const b1 = h[at + 1] as number
    const fin = (b0 & 0x80) !== 0
    const opcode = b0 & 0x0f
    if ((b0 & 0x70) !== 0) return this.fail('protocol_error', 'reserved bits set without a negotiated extension')
    const masked = (b1 & 0x80) !== 0
    // [RFC 6455 §5.1] a server must close on an unmasked client frame. Paho
    // Python (1.6 and 2.x) and older Paho C send their PONG and CLOSE frames
    // unmasked; masking protects intermediaries from attacker-chosen bytes,
    // and these frames only echo our own ping or end the connection, so
    // those two are let through. Data frames stay strict.
    if (!masked && opcode !== Opcode.pong && opcode !== Opcode.close) {
      return this.fail('protocol_error', 'client frame is not masked')
    }
    let length = b1 & 0x7f
    let maskAt = at + 2
    if (length === 126) {
      length = h.readUInt16BE(at + 2)
      maskAt = at + 4
    } else if (length === 127) {
      const high = h.readUInt32BE(at + 2)
      if (high > 0x1fffff) return this.fail('message_too_big', 'frame length exceeds 2^53')
      length = high * 2 ** 32 + h.readUInt32BE(at + 6)
      maskAt = at + 10
    }
    this.maskKey = masked ? h.readUInt32BE(maskAt) : 0
    this.payloadLeft = length
    this.payloadPos = 0
    this.opcode = opcode
    if (opcode >= Opcode.close) return this.acceptControl(opcode, fin, length)
    return this.acceptData(opcode, fin, length)
  }

  private acceptControl (opcode: number, fin: boolean, length: number): boolean {
    if (opcode > Opcode.pong) return this.fail('protocol_error', `unknown opcode 0x${opcode.toString(16)}`)
    if (!fin) return this.fail('protocol_error', 'fragmented control frame')
    if (length > MAX_CONTROL_PAYLOAD) return this.fail('protocol_error', 'control frame longer than 125 bytes')
    this.control = length > 0 ? Buffer.allocUnsafe(length) : undefined
    return true
  }

  private acceptData (opcode: number, fin: boolean, length: number): boolean {
    // [MQTT-6.0.0-1] MQTT travels in binary frames only.
    if (opcode === Opcode.text) {
      return this.fail('text_frame', 'text frame received; MQTT needs binary frames')
    }
    if (opcode === Opcode.binary) {
      if (this.inMessage) return this.fail('protocol_error', 'new message before the previous one ended')
      this.messageSize = 0
    } else if (opcode === Opcode.continuation) {
      if (!this.inMessage) return this.fail('protocol_error', 'continuation frame without a message')
    } else {
      return this.fail('protocol_error', `unknown opcode 0x${opcode.toString(16)}`)
    }
    this.messageSize += length
    if (this.messageSize > this.maxMessageSize) {
      return this.fail('message_too_big', `message of ${this.messageSize} bytes or more exceeds the ${this.maxMessageSize}-byte limit`)
    }
    this.inMessage = !fin
    return true
  }

  private finishControl (payload: Buffer): void {
    switch (this.opcode) {
      case Opcode.ping:
        this.sink.onPing(payload)
        return
      case Opcode.pong:
        this.sink.onPong()
        return
      default: {
        const code = closeCode(payload)
        if (code === undefined) {
          this.fail('protocol_error', 'close frame with an invalid status code')
          return
        }
        // [RFC 6455 §5.5.1, §8.1] the reason is UTF-8; anything else fails the connection.
        if (!isUtf8(payload.subarray(2))) {
          this.fail('invalid_utf8', 'close frame reason is not valid UTF-8')
          return
        }
        this.stop()
        this.sink.onCloseFrame(code, payload.toString('utf8', 2))
      }
    }
  }

  private fail (reason: CloseReason, detail: string): false {
    this.stop()
    this.sink.onFrameError(reason, detail)
    return false
  }
}

/** Size of the frame header starting at `buf[at]`, from its second byte. */
function headerLength (buf: Buffer, at: number): number {
  const len = (buf[at + 1] as number) & 0x7f
  const extended = len === 126 ? 2 : len === 127 ? 8 : 0
  return 2 + extended + (((buf[at + 1] as number) & 0x80) !== 0 ? 4 : 0)
}

/**
 * The status code of a close frame: 1005 when it has none, undefined when
 * it is one a peer may not send (§7.4.1: 1004-1006 and 1015 are reserved;
 * below 1000 and from 5000 up are unassigned; a 1-byte body is malformed).
 */
function closeCode (payload: Buffer): number | undefined {
  if (payload.length === 0) return 1005
  if (payload.length === 1) return undefined
  const code = payload.readUInt16BE(0)
  const valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
  return valid ? code : undefined
}

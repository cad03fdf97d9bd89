/**
 * Frames the server sends [RFC 6455 §5.2]: unmasked, never fragmented.
 */
import { Opcode } from '../wire/websocket.js'

/** Header of a final, unmasked frame carrying `length` payload bytes. */
export function frameHeader (opcode: number, length: number): Buffer {
  if (length < 126) {
    const h = Buffer.allocUnsafe(2)
    h[0] = 0x80 | opcode
    h[1] = length
    return h
  }
  if (length < 65536) {
    const h = Buffer.allocUnsafe(4)
    h[0] = 0x80 | opcode
    h[1] = 126
    h.writeUInt16BE(length, 2)
    return h
  }
  const h = Buffer.allocUnsafe(10)
  h[0] = 0x80 | opcode
  h[1] = 127
  h.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
  h.writeUInt32BE(length >>> 0, 6)
  return h
}

/**
 * A whole control frame. Close reasons are cut to fit the 125-byte limit
 * of control payloads (§5.5).
 */
export function controlFrame (opcode: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const body = payload.subarray(0, 125)
  return Buffer.concat([frameHeader(opcode, body.length), body])
}

export function closeFrame (code: number, reason: string): Buffer {
  const text = utf8Prefix(reason, 123)
  const payload = Buffer.allocUnsafe(2 + text.length)
  payload.writeUInt16BE(code, 0)
  text.copy(payload, 2)
  return controlFrame(Opcode.close, payload)
}

/**
 * The longest prefix of `text` that fits in `maxBytes` of UTF-8 without
 * cutting a character: clients close with 1007 on invalid UTF-8 (§8.1).
 */
function utf8Prefix (text: string, maxBytes: number): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= maxBytes) return bytes
  let end = maxBytes
  // Step back over continuation bytes (10xxxxxx) to a character's start.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--
  return bytes.subarray(0, end)
}

/**
 * The WebSocket wire pieces the gateway, its load tool (bench/) and its
 * tests share, so that each is written once: the opcodes [RFC 6455 §5.2],
 * and client→server frames, always masked, as a client must send them
 * [RFC 6455 §5.3], each with its own random mask key.
 *
 * The gateway reads client frames (src/ws/frame-reader.ts) and writes
 * unmasked server frames (src/ws/frame-writer.ts); the masked writer here is
 * for what plays the client: the load tool and the tests' raw client.
 */
import { fillRandom } from './random-pool.js'

export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa
} as const

/** Bytes of a masked frame header for a payload of `length` bytes. */
export function maskedHeaderSize (length: number): number {
  if (length < 126) return 6
  if (length < 65_536) return 8
  return 14
}

/**
 * Writes a masked frame header with a fresh key, final unless `fin` is
 * false; returns the offset of the payload, whose key is the 4 bytes just
 * before it.
 */
export function writeMaskedHeader (buf: Buffer, offset: number, opcode: number, length: number, fin = true): number {
  buf[offset] = (fin ? 0x80 : 0) | opcode
  if (length < 126) {
    buf[offset + 1] = 0x80 | length
    offset += 2
  } else if (length < 65_536) {
    buf[offset + 1] = 0x80 | 126
    buf.writeUInt16BE(length, offset + 2)
    offset += 4
  } else {
    buf[offset + 1] = 0x80 | 127
    buf.writeUInt32BE(Math.floor(length / 2 ** 32), offset + 2)
    buf.writeUInt32BE(length >>> 0, offset + 6)
    offset += 10
  }
  // A fresh key per frame [RFC 6455 §5.3].
  fillRandom(buf, offset, 4)
  return offset + 4
}

/**
 * XORs `buf[start, end)` with the 4-byte key at `keyOffset`, the key lined up
 * so that byte `start` is payload byte `phase`. Masking twice unmasks.
 */
export function applyMask (buf: Buffer, start: number, end: number, keyOffset: number, phase = 0): void {
  const k0 = buf[keyOffset]!
  const k1 = buf[keyOffset + 1]!
  const k2 = buf[keyOffset + 2]!
  const k3 = buf[keyOffset + 3]!
  const key = [k0, k1, k2, k3]
  let i = start
  // Align to the key, then four bytes per turn.
  for (; i < end && ((i - start + phase) & 3) !== 0; i++) buf[i] = buf[i]! ^ key[(i - start + phase) & 3]!
  const keyShift = (i - start + phase) & 3
  const a = key[keyShift]!
  const b = key[(keyShift + 1) & 3]!
  const c = key[(keyShift + 2) & 3]!
  const d = key[(keyShift + 3) & 3]!
  for (; i + 3 < end; i += 4) {
    buf[i] = buf[i]! ^ a
    buf[i + 1] = buf[i + 1]! ^ b
    buf[i + 2] = buf[i + 2]! ^ c
    buf[i + 3] = buf[i + 3]! ^ d
  }
  for (let j = 0; i < end; i++, j++) buf[i] = buf[i]! ^ key[(keyShift + j) & 3]!
}

/** One masked frame around `payload` (the payload is copied, not changed). */
export function encodeMaskedFrame (payload: Buffer, opcode: number = Opcode.binary, fin = true): Buffer {
  const out = Buffer.allocUnsafe(maskedHeaderSize(payload.length) + payload.length)
  const start = writeMaskedHeader(out, 0, opcode, payload.length, fin)
  payload.copy(out, start)
  applyMask(out, start, out.length, start - 4)
  return out
}

/** Frames each packet in its own masked binary frame, all in one buffer for one socket write. */
export function encodeFramesEach (packets: readonly Buffer[]): Buffer {
  let size = 0
  for (const p of packets) size += maskedHeaderSize(p.length) + p.length
  const out = Buffer.allocUnsafe(size)
  let offset = 0
  for (const p of packets) {
    const start = writeMaskedHeader(out, offset, Opcode.binary, p.length)
    p.copy(out, start)
    applyMask(out, start, start + p.length, start - 4)
    offset = start + p.length
  }
  return out
}

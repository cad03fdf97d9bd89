/**
 * XORs a client frame's payload with its masking key, in place [RFC 6455 §5.3].
 *
 * Small payloads (most MQTT packets) are cheaper in a JS loop than a call
 * into native code; large ones go to bufferutil's native loop when installed.
 */
import { createRequire } from 'node:module'

interface NativeMask {
  unmask (buffer: Buffer, mask: Buffer): void
}

const NATIVE_THRESHOLD = 256

function loadNative (): NativeMask | undefined {
  try {
    return createRequire(import.meta.url)('bufferutil') as NativeMask
  } catch {
    return undefined // optional dependency: the JS loop below is the fallback
  }
}

const native = loadNative()
const rotated = Buffer.alloc(4)

/** Byte `k` (0-3) of a masking key held as a 32-bit big-endian number. */
function keyByte (key: number, k: number): number {
  return (key >>> ((3 - (k & 3)) * 8)) & 0xff
}

/**
 * Unmasks `buf[start, end)`, whose first byte is byte `offset` of the frame's
 * payload (a frame may arrive split over several TCP chunks). `key` is the
 * 4-byte masking key as a big-endian number: a number costs no allocation
 * per connection, where a Buffer would.
 */
export function unmaskInPlace (buf: Buffer, start: number, end: number, key: number, offset: number): void {
  unmaskTo(buf, start, end, start, key, offset)
}

/**
 * Unmasks `buf[start, end)` and moves it down to `to` (`to <= start`), in
 * one pass for small payloads: the frame reader lays the payloads of a
 * chunk's frames side by side this way.
 */
export function unmaskTo (buf: Buffer, start: number, end: number, to: number, key: number, offset: number): void {
  if (native !== undefined && end - start >= NATIVE_THRESHOLD) {
    for (let i = 0; i < 4; i++) rotated[i] = keyByte(key, offset + i)
    native.unmask(buf.subarray(start, end), rotated)
    if (to !== start) buf.copyWithin(to, start, end)
    return
  }
  // Four bytes per step with the key rotated once: about twice as fast as
  // indexing the key per byte.
  const m0 = keyByte(key, offset)
  const m1 = keyByte(key, offset + 1)
  const m2 = keyByte(key, offset + 2)
  const m3 = keyByte(key, offset + 3)
  let i = start
  let j = to
  for (; i + 3 < end; i += 4, j += 4) {
    buf[j] = (buf[i] as number) ^ m0
    buf[j + 1] = (buf[i + 1] as number) ^ m1
    buf[j + 2] = (buf[i + 2] as number) ^ m2
    buf[j + 3] = (buf[i + 3] as number) ^ m3
  }
  for (let k = offset; i < end; i++, j++, k++) buf[j] = (buf[i] as number) ^ keyByte(key, k)
}

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

/**
 * Unmasks `buf[start, end)`, whose first byte is byte `offset` of the frame's
 * payload (a frame may arrive split over several TCP chunks).
 */
export function unmaskInPlace (buf: Buffer, start: number, end: number, mask: Buffer, offset: number): void {
  if (native !== undefined && end - start >= NATIVE_THRESHOLD) {
    for (let i = 0; i < 4; i++) rotated[i] = mask[(offset + i) & 3] as number
    native.unmask(buf.subarray(start, end), rotated)
    return
  }
  for (let i = start, k = offset; i < end; i++, k++) {
    buf[i] = (buf[i] as number) ^ (mask[k & 3] as number)
  }
}

/**
 * Unmasks `buf[start, end)` and moves it down to `to` (`to <= start`), in
 * one pass for small payloads: the frame reader lays the payloads of a
 * chunk's frames side by side this way.
 */
export function unmaskTo (buf: Buffer, start: number, end: number, to: number, mask: Buffer, offset: number): void {
  if (end - start >= NATIVE_THRESHOLD) {
    unmaskInPlace(buf, start, end, mask, offset)
    if (to !== start) buf.copyWithin(to, start, end)
    return
  }
  // Four bytes per step with the key rotated once: about twice as fast as
  // indexing the key per byte.
  const m0 = mask[offset & 3] as number
  const m1 = mask[(offset + 1) & 3] as number
  const m2 = mask[(offset + 2) & 3] as number
  const m3 = mask[(offset + 3) & 3] as number
  let i = start
  let j = to
  for (; i + 3 < end; i += 4, j += 4) {
    buf[j] = (buf[i] as number) ^ m0
    buf[j + 1] = (buf[i + 1] as number) ^ m1
    buf[j + 2] = (buf[i + 2] as number) ^ m2
    buf[j + 3] = (buf[i + 3] as number) ^ m3
  }
  for (let k = 0; i < end; i++, j++, k++) buf[j] = (buf[i] as number) ^ (mask[(offset + k) & 3] as number)
}

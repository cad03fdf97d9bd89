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

const NATIVE_THRESHOLD = 128

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

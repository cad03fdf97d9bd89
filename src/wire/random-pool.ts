/**
 * Random bytes for WebSocket mask keys and handshake nonces, drawn from a
 * pool refilled 4 KiB at a time: one system call per thousand frames or
 * handshakes instead of one each. Nothing is drawn until the first call.
 */
import { randomFillSync } from 'node:crypto'

const pool = Buffer.allocUnsafe(4096)
let pos = pool.length

/** Copies `n` (≤ 4096) fresh random bytes into `target` at `offset`. */
export function fillRandom (target: Buffer, offset: number, n: number): void {
  if (pos + n > pool.length) {
    randomFillSync(pool)
    pos = 0
  }
  pool.copy(target, offset, pos, pos + n)
  pos += n
}

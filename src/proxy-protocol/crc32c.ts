/**
 * CRC-32C (Castagnoli, RFC 3720 §B.4), for the PROXY protocol v2 TLV
 * PP2_TYPE_CRC32C: a header that carries one is checked before its
 * addresses are believed [PROXY protocol §2.2.5]. Node 20 has no CRC-32C of
 * its own (zlib's crc32 is the other polynomial); a header is at most a few
 * KiB, so a table-driven loop is fast enough.
 */

/** The reflected Castagnoli polynomial. */
const POLYNOMIAL = 0x82f63b78

const TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i
    for (let bit = 0; bit < 8; bit++) crc = (crc & 1) !== 0 ? (crc >>> 1) ^ POLYNOMIAL : crc >>> 1
    table[i] = crc >>> 0
  }
  return table
})()

/** CRC-32C of `bytes`, with the 4 bytes at `zeroFrom` read as zeros (the checksum's own field). */
export function crc32c (bytes: Uint8Array, zeroFrom = -1): number {
  let crc = 0xffffffff
  const zeroTo = zeroFrom < 0 ? -1 : zeroFrom + 4
  for (let i = 0; i < bytes.length; i++) {
    const byte = i >= zeroFrom && i < zeroTo ? 0 : bytes[i] as number
    crc = (TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8)
  }
  return (crc ^ 0xffffffff) >>> 0
}

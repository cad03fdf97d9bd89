/**
 * Fuzzing the MQTT packet scanner, which finds packet boundaries in both
 * directions from the fixed header alone [MQTT-2.2.3]: the gateway decides
 * what to forward, and when a packet is complete, from what it says.
 *
 * Every property compares the scanner, chunk by chunk, with a reference
 * written here in the plainest way (walk the whole buffer once): where each
 * packet starts, where its header ends, where it ends, and where a
 * Remaining Length runs past four bytes.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { MALFORMED_LENGTH, PacketScanner, firstPacketSize } from '../../src/mqtt/packet-scanner.js'
import { chunkRanges, filledBytes, fuzz, splits } from '../support/fuzz.js'
import type { Splits } from '../support/fuzz.js'

// ---------------------------------------------------------------- reference

interface RefPacket {
  start: number
  type: number
  /** Index just past the Remaining Length; undefined while it is incomplete. */
  headerEnd: number | undefined
  /** Index just past the packet (may lie beyond the buffer). */
  end: number | undefined
}

interface Reference {
  packets: RefPacket[]
  /** Index just past the 4th Remaining Length byte when that byte still says "more follows". */
  malformedAt: number | undefined
}

function reference (buf: Uint8Array): Reference {
  const packets: RefPacket[] = []
  let pos = 0
  while (pos < buf.length) {
    const start = pos
    const type = (buf[pos++] as number) >> 4
    let length = 0
    let done = false
    let i = 0
    while (i < 4 && pos < buf.length) {
      const byte = buf[pos++] as number
      length += (byte & 0x7f) * 128 ** i++
      if ((byte & 0x80) === 0) { done = true; break }
    }
    if (!done) {
      packets.push({ start, type, headerEnd: undefined, end: undefined })
      return { packets, malformedAt: i === 4 ? pos : undefined }
    }
    packets.push({ start, type, headerEnd: pos, end: pos + length })
    pos += length
  }
  return { packets, malformedAt: undefined }
}

/** What the scanner must report after it has been fed `buf[0, upTo)`. */
function expectedAt (ref: Reference, upTo: number): { packets: number, lastType: number | undefined, pending: number, inPacket: boolean } {
  const done = ref.packets.filter((p) => p.end !== undefined && p.end <= upTo)
  const started = ref.packets.filter((p) => p.start < upTo)
  const open = started.find((p) => p.end === undefined || p.end > upTo)
  const pending = open === undefined
    ? 0
    : open.headerEnd !== undefined && open.headerEnd <= upTo ? (open.end as number) - open.start : upTo - open.start
  return { packets: done.length, lastType: started.at(-1)?.type, pending, inPacket: open !== undefined }
}

/**
 * Scans `buf` cut as `how` says and checks every chunk's result against the
 * reference: the boundary it returns, the packet count, the type of the
 * latest packet, the pending size. Stops at MALFORMED_LENGTH (the caller
 * closes the connection). `views`: each chunk as a view of its own,
 * otherwise as a range of the whole buffer.
 */
function scanAndCheck (buf: Uint8Array, how: Splits, views: boolean): { scanner: PacketScanner, malformed: boolean } {
  const ref = reference(buf)
  const scanner = new PacketScanner()
  for (const [start, end] of chunkRanges(buf.length, how)) {
    const result = views ? scanner.scan(buf.subarray(start, end), 0, end - start) : scanner.scan(buf, start, end)
    const offset = views ? start : 0
    if (ref.malformedAt !== undefined && ref.malformedAt > start && ref.malformedAt <= end) {
      assert.equal(result, MALFORMED_LENGTH, `chunk [${start}, ${end}) holds a 5-byte Remaining Length`)
      return { scanner, malformed: true }
    }
    const boundary = ref.packets.map((p) => p.end).filter((e) => e !== undefined && e > start && e <= end).at(-1)
    assert.equal(result, boundary === undefined ? -1 : boundary - offset, `boundary returned for chunk [${start}, ${end})`)
    const want = expectedAt(ref, end)
    assert.equal(scanner.packets, want.packets, `packets after ${end} bytes`)
    if (want.lastType !== undefined) assert.equal(scanner.lastType, want.lastType, `lastType after ${end} bytes`)
    assert.equal(scanner.pendingPacketSize, want.pending, `pendingPacketSize after ${end} bytes`)
    assert.equal(scanner.inPacket, want.inPacket, `inPacket after ${end} bytes`)
  }
  return { scanner, malformed: false }
}

// ---------------------------------------------------------------- generators

/** The shortest Remaining Length encoding of `n` [MQTT-1.5.5]. */
function varint (n: number): number[] {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return out
}

/**
 * Remaining lengths on both sides of each varint width: 127/128 (1 → 2
 * bytes), 16383/16384 (2 → 3), and now and then 2097151/2097152 (3 → 4,
 * a 2 MiB body).
 */
const remainingLength = fc.oneof(
  { weight: 40, arbitrary: fc.integer({ min: 0, max: 10 }) },
  { weight: 40, arbitrary: fc.integer({ min: 0, max: 300 }) },
  { weight: 12, arbitrary: fc.integer({ min: 16380, max: 16390 }) },
  { weight: 1, arbitrary: fc.constantFrom(2097151, 2097152) }
)

/** A packet: any type byte (the scanner does not judge types), a length, a body. */
const packet = fc.record({ type: fc.integer({ min: 0, max: 255 }), length: remainingLength, fill: fc.integer() })
  .map(({ type, length, fill }) => Buffer.concat([Buffer.from([type, ...varint(length)]), filledBytes(length, fill)]))

const packets = fc.array(packet, { maxLength: 8 })

/** Four Remaining Length bytes that all say "more follows": the 5-byte length MQTT forbids. */
const overlongHeader = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.array(fc.integer({ min: 0x80, max: 0xff }), { minLength: 4, maxLength: 4 }), fc.uint8Array({ maxLength: 8 }))
  .map(([type, length, rest]) => Buffer.concat([Buffer.from([type, ...length]), rest]))

// ---------------------------------------------------------------- properties

describe('PacketScanner fuzz', () => {
  // The gateway forwards whole packets and counts them: if the boundaries
  // depended on how TCP cut the stream, a client could smuggle bytes past
  // the first-packet gate or desynchronise the two directions.
  test('valid packets: any split gives the boundaries and count of the whole', () => fuzz(
    fc.property(packets, splits, fc.boolean(), (list, how, views) => {
      const buf = Buffer.concat(list)
      const whole = scanAndCheck(buf, { points: [] }, false).scanner
      assert.equal(whole.packets, list.length)
      const split = scanAndCheck(buf, how, views).scanner
      assert.equal(split.packets, whole.packets)
      assert.equal(split.inPacket, false)
    }), 120))

  // MQTT caps Remaining Length at 4 bytes (268,435,455): a fifth byte is a
  // protocol violation, and a scanner that went on would read a length of
  // its own invention and forward whatever followed as one packet.
  test('a Remaining Length of 5+ bytes gives MALFORMED_LENGTH, however it is split', () => fuzz(
    fc.property(packets, overlongHeader, splits, fc.boolean(), (list, bad, how, views) => {
      const buf = Buffer.concat([...list, bad])
      assert.equal(scanAndCheck(buf, how, views).malformed, true)
      assert.equal(firstPacketSize(bad), MALFORMED_LENGTH)
    }), 120))

  // Hostile bytes on the data path: a throw here is an exception in a
  // socket's 'data' handler; a wrong count makes the gateway wait forever
  // for a packet that never completes, or forward one that never ended.
  test('random bytes never throw and agree with the reference for any split', () => fuzz(
    fc.property(fc.uint8Array({ maxLength: 200 }), splits, fc.boolean(), (bytes, how, views) => {
      scanAndCheck(bytes, how, views)
    }), 2000))

  // The gateway sizes the first packet (CONNECT, CONNACK) with
  // firstPacketSize and everything after with the scanner: if they
  // disagreed, the first packet's end would be judged twice, differently.
  test('firstPacketSize agrees with the scanner', () => fuzz(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 40 }), packets.map((l) => Buffer.concat(l)), overlongHeader), fc.uint8Array({ maxLength: 8 }), (head, tail) => {
      const buf = Buffer.concat([head, tail])
      const size = firstPacketSize(buf)
      const scanner = new PacketScanner()
      if (size === MALFORMED_LENGTH) {
        assert.equal(scanner.scan(buf, 0, buf.length), MALFORMED_LENGTH)
      } else if (size === -1) {
        assert.equal(scanner.scan(buf, 0, buf.length), -1)
        assert.equal(scanner.packets, 0)
        assert.equal(scanner.pendingPacketSize, buf.length, 'an incomplete header: the bytes seen so far')
      } else if (size <= buf.length) {
        assert.equal(scanner.scan(buf, 0, size), size)
        assert.equal(scanner.packets, 1)
      } else {
        assert.equal(scanner.scan(buf, 0, buf.length), -1)
        assert.equal(scanner.pendingPacketSize, size, 'the header is known: the whole packet size')
      }
    }), 300))
})

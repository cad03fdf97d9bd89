/**
 * PacketScanner and firstPacketSize against real packets from mqtt-packet,
 * fed whole, split at every byte position and split at seeded random points.
 * The remaining-length field takes 1 to 4 bytes [MQTT-2.2.3]; packets are
 * chosen to sit on both sides of each boundary (127/128, 16383/16384,
 * 2097151/2097152).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import mqttPacket from 'mqtt-packet'
import type { Packet } from 'mqtt-packet'
import { MALFORMED_LENGTH, PacketScanner, firstPacketSize } from '../../../src/mqtt/packet-scanner.js'
import { prng } from '../../support/prng.js'

const TOPIC = 'gw/test'
/** Fixed-header bytes of a QoS 0 PUBLISH before its payload: topic length (2) + topic. */
const PUBLISH_OVERHEAD = 2 + TOPIC.length


function publish (payloadSize: number): Packet {
  return { cmd: 'publish', topic: TOPIC, payload: Buffer.alloc(payloadSize, 0x5a), qos: 0, retain: false, dup: false }
}

/** A PUBLISH whose remaining length is exactly `remaining`. */
function publishWithRemainingLength (remaining: number): Packet {
  return publish(remaining - PUBLISH_OVERHEAD)
}

const smallPackets: Packet[] = [
  { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'scanner-test', clean: true, keepalive: 30 },
  { cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'a/#', qos: 1 }, { topic: 'b/+', qos: 0 }] },
  { cmd: 'pingreq' },
  publish(0),
  publish(1),
  publish(127),
  publish(128),
  publishWithRemainingLength(127),
  publishWithRemainingLength(128),
  { cmd: 'pingreq' },
  { cmd: 'disconnect' }
]

const largePackets: Packet[] = [
  ...smallPackets.slice(0, 3),
  publish(16383),
  publish(16384),
  publishWithRemainingLength(16383),
  publishWithRemainingLength(16384),
  publishWithRemainingLength(2_097_151),
  publishWithRemainingLength(2_097_152),
  publish(2_097_152),
  { cmd: 'pingreq' },
  { cmd: 'disconnect' }
]

interface Stream {
  bytes: Buffer
  /** Index just past each packet, in order. */
  ends: number[]
  /** Type nibble of each packet. */
  types: number[]
}

function encode (packets: Packet[]): Stream {
  const buffers = packets.map((p) => mqttPacket.generate(p))
  const ends: number[] = []
  let at = 0
  for (const b of buffers) {
    at += b.length
    ends.push(at)
  }
  return { bytes: Buffer.concat(buffers), ends, types: buffers.map((b) => (b[0] as number) >> 4) }
}

/** What scan() must return for the range (from, to]: the last packet end inside it, or -1. */
function expectedBoundary (ends: number[], from: number, to: number): number {
  let last = -1
  for (const e of ends) if (e > from && e <= to) last = e
  return last
}

/**
 * Feeds `stream` in chunks ending at `cuts` (sorted, last = length), once as
 * ranges of the whole buffer and once as separate chunk views (indexes from
 * 0), and checks every returned boundary and the running packet count.
 */
function feedAndCheck (stream: Stream, cuts: number[], label: string): void {
  for (const mode of ['ranges', 'chunks'] as const) {
    const scanner = new PacketScanner()
    let from = 0
    for (const to of cuts) {
      const got = mode === 'ranges'
        ? scanner.scan(stream.bytes, from, to)
        : absolute(scanner.scan(stream.bytes.subarray(from, to), 0, to - from), from)
      const want = expectedBoundary(stream.ends, from, to)
      assert.equal(got, want, `${label} (${mode}): chunk [${from}, ${to})`)
      assert.equal(scanner.packets, stream.ends.filter((e) => e <= to).length, `${label} (${mode}): packets after ${to}`)
      assert.equal(scanner.inPacket, !stream.ends.includes(to), `${label} (${mode}): inPacket after ${to}`)
      from = to
    }
    assert.equal(scanner.packets, stream.ends.length, `${label} (${mode}): total packets`)
    assert.equal(scanner.lastType, stream.types.at(-1), `${label} (${mode}): lastType`)
    assert.equal(scanner.pendingPacketSize, 0, `${label} (${mode}): nothing pending at the end`)
  }
}

function absolute (index: number, offset: number): number {
  return index < 0 ? index : index + offset
}

function randomCuts (length: number, random: () => number, maxChunk: number): number[] {
  const cuts: number[] = []
  let at = 0
  while (at < length) {
    // Mostly tiny chunks (headers split) with some large ones (bodies skipped whole).
    const size = random() < 0.5 ? 1 + Math.floor(random() * 8) : 1 + Math.floor(random() * maxChunk)
    at = Math.min(length, at + size)
    cuts.push(at)
  }
  return cuts
}

describe('PacketScanner', () => {
  const small = encode(smallPackets)
  const large = encode(largePackets)

  test('each generated packet has the remaining-length width it was built for', () => {
    const widths = new Map([[127, 1], [128, 2], [16383, 2], [16384, 3], [2_097_151, 3], [2_097_152, 4]])
    for (const [remaining, width] of widths) {
      const bytes = mqttPacket.generate(publishWithRemainingLength(remaining))
      assert.equal(bytes.length, 1 + width + remaining, `remaining length ${remaining}`)
    }
  })

  test('a whole stream in one chunk: boundary at the last packet end', () => {
    for (const stream of [small, large]) {
      feedAndCheck(stream, [stream.bytes.length], 'whole')
    }
  })

  test('each packet alone returns its own size', () => {
    for (const packet of [...smallPackets, ...largePackets]) {
      const bytes = mqttPacket.generate(packet)
      const scanner = new PacketScanner()
      assert.equal(scanner.scan(bytes, 0, bytes.length), bytes.length, packet.cmd)
      assert.equal(scanner.packets, 1)
      assert.equal(scanner.lastType, (bytes[0] as number) >> 4)
      assert.equal(scanner.inPacket, false)
    }
  })

  test('small stream split in two at every byte position', () => {
    const n = small.bytes.length
    for (let cut = 1; cut < n; cut++) feedAndCheck(small, [cut, n], `cut at ${cut}`)
  })

  test('small stream fed one byte at a time', () => {
    const cuts = Array.from({ length: small.bytes.length }, (_, i) => i + 1)
    feedAndCheck(small, cuts, 'bytewise')
  })

  test('small stream split in three at every pair of positions in the first packets', () => {
    // Every pair over the CONNECT, SUBSCRIBE and PINGREQ: header/body splits of each kind.
    const limit = small.ends[3] as number
    const n = small.bytes.length
    for (let a = 1; a < limit; a++) {
      for (let b = a + 1; b <= limit; b++) feedAndCheck(small, [a, b, n], `cuts at ${a}, ${b}`)
    }
  })

  test('large stream split at seeded random points', () => {
    const random = prng(0x5ca1ab1e)
    for (let round = 0; round < 40; round++) {
      const maxChunk = round % 2 === 0 ? 70_000 : 600
      feedAndCheck(large, randomCuts(large.bytes.length, random, maxChunk), `round ${round}`)
    }
  })

  test('large stream split at every position around each packet header', () => {
    const n = large.bytes.length
    const starts = [0, ...large.ends.slice(0, -1)]
    for (const start of starts) {
      for (let d = -2; d <= 6; d++) {
        const cut = start + d
        if (cut > 0 && cut < n) feedAndCheck(large, [cut, n], `cut at ${cut}`)
      }
    }
  })

  test('pendingPacketSize: bytes seen while in the header, whole size once it is known', () => {
    const bytes = mqttPacket.generate(publishWithRemainingLength(16384)) // 3-byte remaining length
    const size = bytes.length
    const scanner = new PacketScanner()
    assert.equal(scanner.pendingPacketSize, 0)
    assert.equal(scanner.scan(bytes, 0, 1), -1)
    assert.equal(scanner.inPacket, true)
    assert.equal(scanner.pendingPacketSize, 1)
    assert.equal(scanner.scan(bytes, 1, 3), -1)
    assert.equal(scanner.pendingPacketSize, 3)
    assert.equal(scanner.scan(bytes, 3, 4), -1)
    assert.equal(scanner.pendingPacketSize, size)
    assert.equal(scanner.scan(bytes, 4, size - 1), -1)
    assert.equal(scanner.pendingPacketSize, size)
    assert.equal(scanner.scan(bytes, size - 1, size), size)
    assert.equal(scanner.inPacket, false)
    assert.equal(scanner.pendingPacketSize, 0)
  })

  // The size limit holds per MQTT packet: the scan stops at the header that
  // announces too much, before any byte of that packet counts as scanned.
  test('maxPacketSize: a packet announcing more stops the scan and sets oversize, in one chunk or split', () => {
    const ok = mqttPacket.generate(publishWithRemainingLength(100))
    const big = mqttPacket.generate(publishWithRemainingLength(16384)) // 3-byte remaining length
    const bytes = Buffer.concat([ok, big])
    for (let cut = 1; cut < ok.length + 4; cut++) {
      const scanner = new PacketScanner()
      scanner.maxPacketSize = ok.length
      const first = scanner.scan(bytes, 0, cut)
      const second = scanner.oversize ? first : scanner.scan(bytes, cut, bytes.length)
      assert.equal(scanner.oversize, true, `cut at ${cut}`)
      assert.equal(scanner.packets, 1, `cut at ${cut}`)
      assert.equal(scanner.currentPacketSize, big.length, `cut at ${cut}`)
      assert.ok(second === -1 || second === ok.length, `cut at ${cut}: boundary ${second}`)
      assert.equal(scanner.scan(bytes, 0, bytes.length), -1, 'a stopped scanner scans nothing more')
    }
  })

  test('maxPacketSize: a packet of exactly the limit passes', () => {
    const bytes = mqttPacket.generate(publishWithRemainingLength(300))
    const scanner = new PacketScanner()
    scanner.maxPacketSize = bytes.length
    assert.equal(scanner.scan(bytes, 0, bytes.length), bytes.length)
    assert.equal(scanner.oversize, false)
  })

  test('headerBytesPending: the bytes of a fixed header whose length is not complete yet', () => {
    const bytes = mqttPacket.generate(publishWithRemainingLength(2_097_152)) // 4-byte remaining length
    const scanner = new PacketScanner()
    assert.equal(scanner.headerBytesPending, 0)
    for (let n = 1; n <= 4; n++) {
      scanner.scan(bytes, n - 1, n)
      assert.equal(scanner.headerBytesPending, n, `after ${n} bytes`)
    }
    scanner.scan(bytes, 4, 6)
    assert.equal(scanner.headerBytesPending, 0, 'header complete')
  })

  test('lastType is the type of the latest packet started, even before it completes', () => {
    const stream = encode([{ cmd: 'pingreq' }, publish(10)])
    const scanner = new PacketScanner()
    assert.equal(scanner.scan(stream.bytes, 0, 3), 2)
    assert.equal(scanner.lastType, 3) // PUBLISH started at index 2
    assert.equal(scanner.packets, 1)
  })

  test('the largest legal remaining length (0xff 0xff 0xff 0x7f) is accepted', () => {
    const scanner = new PacketScanner()
    const header = Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])
    assert.equal(scanner.scan(header, 0, header.length), -1)
    assert.equal(scanner.pendingPacketSize, 5 + 268_435_455)
  })

  test('a fifth remaining-length byte is MALFORMED_LENGTH, in one chunk or split', () => {
    const bad = Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00])
    assert.equal(new PacketScanner().scan(bad, 0, bad.length), MALFORMED_LENGTH)
    for (let cut = 1; cut < bad.length; cut++) {
      const scanner = new PacketScanner()
      const first = scanner.scan(bad, 0, cut)
      const result = first === MALFORMED_LENGTH ? first : scanner.scan(bad, cut, bad.length)
      assert.equal(result, MALFORMED_LENGTH, `cut at ${cut}`)
    }
  })

  test('MALFORMED_LENGTH after complete packets in the same chunk', () => {
    const good = mqttPacket.generate({ cmd: 'pingreq' })
    const bytes = Buffer.concat([good, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])])
    const scanner = new PacketScanner()
    assert.equal(scanner.scan(bytes, 0, bytes.length), MALFORMED_LENGTH)
    assert.equal(scanner.packets, 1)
  })

  test('an empty range returns -1 and changes nothing', () => {
    const scanner = new PacketScanner()
    assert.equal(scanner.scan(small.bytes, 5, 5), -1)
    assert.equal(scanner.packets, 0)
    assert.equal(scanner.inPacket, false)
  })
})

describe('firstPacketSize', () => {
  test('is the whole size of every generated packet', () => {
    for (const packet of [...smallPackets, ...largePackets]) {
      const bytes = mqttPacket.generate(packet)
      assert.equal(firstPacketSize(bytes), bytes.length, packet.cmd)
    }
  })

  test('needs only the fixed header, not the body', () => {
    const bytes = mqttPacket.generate(publishWithRemainingLength(2_097_152))
    assert.equal(firstPacketSize(bytes.subarray(0, 5)), bytes.length)
    assert.equal(firstPacketSize(bytes.subarray(0, 6)), bytes.length)
  })

  test('is -1 while the header is incomplete', () => {
    const bytes = mqttPacket.generate(publishWithRemainingLength(2_097_152)) // 4-byte remaining length
    for (let n = 0; n < 5; n++) assert.equal(firstPacketSize(bytes.subarray(0, n)), -1, `${n} bytes`)
  })

  test('is MALFORMED_LENGTH for a fifth remaining-length byte', () => {
    assert.equal(firstPacketSize(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff])), MALFORMED_LENGTH)
    assert.equal(firstPacketSize(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x00])), MALFORMED_LENGTH)
  })

  test('the largest legal remaining length', () => {
    assert.equal(firstPacketSize(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])), 5 + 268_435_455)
  })
})

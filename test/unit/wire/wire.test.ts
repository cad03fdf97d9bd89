/**
 * src/wire/: the wire pieces the gateway, the load tool and the tests share.
 * Masked client frames are read back by the gateway's own frame reader, so
 * what the load tool and the raw test client send is what the gateway takes;
 * the MQTT variable byte integer round-trips, table-driven, at its bounds.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { CloseReason } from '../../../src/errors.js'
import { MALFORMED_LENGTH, PacketScanner, firstPacketSize } from '../../../src/mqtt/packet-scanner.js'
import {
  MAX_REMAINING_LENGTH, PacketType, VARINT_INCOMPLETE, VARINT_MALFORMED, decodeVarint, varintSize, writeVarint
} from '../../../src/wire/mqtt.js'
import { Opcode, applyMask, encodeFramesEach, encodeMaskedFrame } from '../../../src/wire/websocket.js'
import { FrameReader } from '../../../src/ws/frame-reader.js'
import type { FrameSink } from '../../../src/ws/frame-reader.js'

function pattern (size: number, seed: number): Buffer {
  const buf = Buffer.alloc(size)
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + seed) & 0xff
  return buf
}

/** What the gateway's frame reader makes of `bytes`, fed in pieces of `piece` bytes. */
function gatewayReads (bytes: Buffer, piece = bytes.length): { data: Buffer, events: string[] } {
  const data: Buffer[] = []
  const events: string[] = []
  const sink: FrameSink = {
    onPayload: (buf, start, end) => { data.push(Buffer.from(buf.subarray(start, end))) },
    onPing: (payload) => { events.push(`ping ${payload.toString('hex')}`) },
    onPong: () => { events.push('pong') },
    onCloseFrame: (code, reason) => { events.push(`close ${code} ${reason}`) },
    onFrameError: (reason: CloseReason, detail) => { events.push(`error ${reason} ${detail}`) }
  }
  const reader = new FrameReader(sink, 1 << 20)
  // The reader unmasks in place: give it a copy.
  const copy = Buffer.from(bytes)
  for (let pos = 0; pos < copy.length; pos += Math.max(1, piece)) reader.feed(copy.subarray(pos, pos + piece))
  return { data: Buffer.concat(data), events }
}

describe('opcodes', () => {
  test('are RFC 6455 §5.2\'s numbers', () => {
    assert.deepEqual(Opcode, { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa })
  })
})

describe('masked client frames', () => {
  for (const size of [0, 1, 125, 126, 65_535, 65_536, 100_000]) {
    test(`a ${size} B payload: a final masked binary frame the gateway reads back`, () => {
      const payload = pattern(size, size)
      const frame = encodeMaskedFrame(payload)
      assert.equal(frame[0], 0x80 | Opcode.binary)
      assert.equal(frame[1]! & 0x80, 0x80, 'mask bit')
      for (const piece of [frame.length, 7, 1]) {
        const read = gatewayReads(frame, piece)
        assert.deepEqual(read.events, [], `in pieces of ${piece}`)
        assert.ok(read.data.equals(payload), `in pieces of ${piece}`)
      }
    })
  }

  test('a message in two frames: the first not final, then a continuation', () => {
    const message = pattern(300, 4)
    const first = encodeMaskedFrame(message.subarray(0, 100), Opcode.binary, false)
    assert.equal(first[0], Opcode.binary, 'FIN clear')
    const read = gatewayReads(Buffer.concat([first, encodeMaskedFrame(message.subarray(100), Opcode.continuation)]))
    assert.deepEqual(read.events, [])
    assert.ok(read.data.equals(message))
  })

  test('control frames: ping and close', () => {
    const close = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye')])
    const read = gatewayReads(Buffer.concat([encodeMaskedFrame(Buffer.from('hi'), Opcode.ping), encodeMaskedFrame(close, Opcode.close)]))
    assert.deepEqual(read.events, [`ping ${Buffer.from('hi').toString('hex')}`, 'close 1000 bye'])
  })

  test('every frame has a fresh masking key [RFC 6455 §5.3]', () => {
    const keys = new Set<string>()
    for (let i = 0; i < 64; i++) keys.add(encodeMaskedFrame(Buffer.alloc(4)).subarray(2, 6).toString('hex'))
    assert.equal(keys.size, 64)
  })

  test('several packets, one frame each, in one buffer', () => {
    const packets = [pattern(3, 1), pattern(300, 2), pattern(70_000, 3)]
    const bytes = encodeFramesEach(packets)
    assert.equal(bytes.length, (6 + 3) + (8 + 300) + (14 + 70_000))
    const read = gatewayReads(bytes, 1000)
    assert.deepEqual(read.events, [])
    assert.ok(read.data.equals(Buffer.concat(packets)))
  })

  test('masking in pieces with the right phase equals masking at once', () => {
    const key = Buffer.from([0x12, 0x34, 0x56, 0x78])
    const data = pattern(103, 9)
    const whole = Buffer.concat([key, data])
    applyMask(whole, 4, whole.length, 0)
    const pieces = Buffer.concat([key, data])
    for (const [start, end] of [[4, 9], [9, 10], [10, 50], [50, 107]] as const) applyMask(pieces, start, end, 0, start - 4)
    assert.deepEqual(pieces, whole)
  })
})

describe('MQTT packet types', () => {
  test('are the high nibble\'s numbers of MQTT 5 table 2-1', () => {
    const names = ['CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP', 'SUBSCRIBE', 'SUBACK',
      'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH']
    assert.deepEqual(Object.entries(PacketType), names.map((name, i) => [name, i + 1]))
  })
})

describe('variable byte integer', () => {
  const table: [number, number][] = [
    [0, 1], [1, 1], [127, 1], [128, 2], [16_383, 2], [16_384, 3], [2_097_151, 3], [2_097_152, 4], [MAX_REMAINING_LENGTH, 4]
  ]
  for (const [value, size] of table) {
    test(`${value} takes ${size} bytes and decodes back, and not from fewer`, () => {
      assert.equal(varintSize(value), size)
      const buf = Buffer.alloc(3 + size + 2, 0xaa)
      assert.equal(writeVarint(buf, 3, value), 3 + size)
      const out = { value: -1 }
      assert.equal(decodeVarint(buf, 3, buf.length, out), size)
      assert.equal(out.value, value)
      for (let end = 3; end < 3 + size; end++) assert.equal(decodeVarint(buf, 3, end, { value: 0 }), VARINT_INCOMPLETE, `${end - 3} bytes`)
    })
  }

  test('above the maximum is refused', () => {
    assert.throws(() => varintSize(MAX_REMAINING_LENGTH + 1), RangeError)
  })

  test('a fourth byte that says "more follows" is malformed, whatever comes next', () => {
    for (const bytes of [[0xff, 0xff, 0xff, 0xff], [0x80, 0x80, 0x80, 0x80, 0x00], [0xff, 0xff, 0xff, 0xff, 0x7f]]) {
      assert.equal(decodeVarint(Uint8Array.from(bytes), 0, bytes.length, { value: 0 }), VARINT_MALFORMED, JSON.stringify(bytes))
    }
  })

  test('a longer form than needed reads as what it says, its size as written', () => {
    const out = { value: -1 }
    assert.equal(decodeVarint(Uint8Array.from([0x80, 0x00]), 0, 2, out), 2)
    assert.equal(out.value, 0)
    assert.equal(decodeVarint(Uint8Array.from([0x81, 0x80, 0x00]), 0, 3, out), 3)
    assert.equal(out.value, 1)
  })
})

/**
 * What the gateway's packet scanner makes of a fixed header fed in pieces
 * cut at `cuts`: the packet's total size once its length is known, 'short'
 * while it is not, or MALFORMED_LENGTH.
 */
function scannerReads (header: Uint8Array, cuts: readonly number[]): number | 'short' {
  const scanner = new PacketScanner()
  const bounds = [0, ...cuts, header.length]
  let boundary = -1
  for (let i = 1; i < bounds.length; i++) {
    const result = scanner.scan(header, bounds[i - 1]!, bounds[i]!)
    if (result === MALFORMED_LENGTH) return MALFORMED_LENGTH
    if (result >= 0) boundary = result
  }
  // A zero length completes the packet at its header's end; any other leaves its body to come.
  if (scanner.packets === 1) return boundary
  return scanner.pendingPacketSize > scanner.currentPacketSize || scanner.currentPacketSize === 0 ? 'short' : scanner.currentPacketSize
}

/** The packet size decodeVarint gives for a fixed header: what the scanner and firstPacketSize must agree with. */
function sharedReads (header: Uint8Array): number | 'short' {
  const out = { value: 0 }
  const used = decodeVarint(header, 1, header.length, out)
  if (used === VARINT_MALFORMED) return MALFORMED_LENGTH
  if (used === VARINT_INCOMPLETE) return 'short'
  return 1 + used + out.value
}

describe('the gateway reads the remaining length as decodeVarint does', () => {
  // Every header of up to 5 length bytes drawn from these: ends of each byte's range, with and
  // without "more follows"; so every size, every cut short, non-minimal and malformed form.
  const bytes = [0x00, 0x01, 0x7f, 0x80, 0x81, 0xff]
  const headers: Uint8Array[] = []
  const grow = (prefix: number[]): void => {
    if (prefix.length > 1) headers.push(Uint8Array.from(prefix))
    if (prefix.length < 6) for (const b of bytes) grow([...prefix, b])
  }
  grow([0x30])

  test(`firstPacketSize, on ${headers.length} headers`, () => {
    for (const header of headers) {
      const expected = sharedReads(header)
      assert.equal(firstPacketSize(header), expected === 'short' ? -1 : expected, Buffer.from(header).toString('hex'))
    }
  })

  test('the packet scanner, each header whole and cut at every byte', () => {
    for (const header of headers) {
      const expected = sharedReads(header)
      // Bytes past the packet's end would start another one: compare on this packet alone.
      const field = expected === 'short' || expected === MALFORMED_LENGTH ? header : header.subarray(0, Math.min(header.length, expected))
      const label = Buffer.from(header).toString('hex')
      assert.equal(scannerReads(field, []), expected, `${label} whole`)
      assert.equal(scannerReads(field, Array.from({ length: field.length - 1 }, (_, i) => i + 1)), expected, `${label} byte by byte`)
      for (let cut = 1; cut < field.length; cut++) assert.equal(scannerReads(field, [cut]), expected, `${label} cut at ${cut}`)
    }
  })
})

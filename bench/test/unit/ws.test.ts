/**
 * The load tool's WebSocket framing: the frame reader takes server frames
 * apart however they are chunked, and pre-encoded PUBLISH batches decode to
 * the right packets. (The masked client frames it writes come from the
 * gateway's src/wire/, tested in test/unit/wire/wire.test.ts.)
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parser } from 'mqtt-packet'
import type { IPublishPacket, Packet } from 'mqtt-packet'
import { Opcode } from '../../../src/wire/index.js'
import type { ProtocolVersion, QoS } from '../../src/mqtt-encode.js'
import { PUBLISHER_AT, SENT_AT, SEQ_AT } from '../../src/payload.js'
import { PublishBatch } from '../../src/publish-batch.js'
import type { Framing } from '../../src/wire.js'
import { FrameReader, WsProtocolError } from '../../src/ws-reader.js'

interface ClientFrame {
  fin: boolean
  opcode: number
  payload: Buffer
}

/** Decodes masked client frames, as a server would (RFC 6455 §5.2). */
function decodeClientFrames (bytes: Buffer): ClientFrame[] {
  const frames: ClientFrame[] = []
  let pos = 0
  while (pos < bytes.length) {
    const b0 = bytes[pos]!
    const b1 = bytes[pos + 1]!
    assert.equal(b1 & 0x80, 0x80, 'client frames are masked')
    let length = b1 & 0x7f
    let at = pos + 2
    if (length === 126) {
      length = bytes.readUInt16BE(at)
      at += 2
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at))
      at += 8
    }
    const key = bytes.subarray(at, at + 4)
    const payload = Buffer.from(bytes.subarray(at + 4, at + 4 + length))
    for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!
    frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload })
    pos = at + 4 + length
  }
  return frames
}

/** An unmasked server frame. */
function serverFrame (opcode: number, payload: Buffer, fin = true): Buffer {
  const size = payload.length < 126 ? 2 : payload.length < 65_536 ? 4 : 10
  const header = Buffer.alloc(size)
  header[0] = (fin ? 0x80 : 0) | opcode
  if (size === 2) {
    header[1] = payload.length
  } else if (size === 4) {
    header[1] = 126
    header.writeUInt16BE(payload.length, 2)
  } else {
    header[1] = 127
    header.writeBigUInt64BE(BigInt(payload.length), 2)
  }
  return Buffer.concat([header, payload])
}

function pattern (size: number, seed: number): Buffer {
  const buf = Buffer.alloc(size)
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + seed) & 0xff
  return buf
}

/** Reads `bytes` in pieces of `size`; returns the data bytes and the control frames. */
function read (bytes: Buffer, size: number): { data: Buffer, control: [number, Buffer][] } {
  const data: Buffer[] = []
  const control: [number, Buffer][] = []
  const reader = new FrameReader(b => data.push(Buffer.from(b)), (opcode, payload) => control.push([opcode, payload]))
  for (let pos = 0; pos < bytes.length; pos += size) reader.push(bytes.subarray(pos, pos + size))
  return { data: Buffer.concat(data), control }
}

describe('frame reader', () => {
  const message = pattern(70_000, 5)
  const stream = Buffer.concat([
    serverFrame(Opcode.binary, pattern(10, 1)),
    serverFrame(Opcode.binary, Buffer.alloc(0)),
    serverFrame(Opcode.binary, message.subarray(0, 30_000), false),
    serverFrame(Opcode.ping, Buffer.from('hi')),
    serverFrame(Opcode.continuation, message.subarray(30_000), true),
    serverFrame(Opcode.binary, pattern(126, 2)),
    serverFrame(Opcode.close, Buffer.from([0x03, 0xe8]))
  ])
  const expected = Buffer.concat([pattern(10, 1), message, pattern(126, 2)])

  for (const size of [1, 2, 3, 9, 11, 1000, 65_536, stream.length]) {
    test(`data and control frames, read ${size} B at a time`, () => {
      const { data, control } = read(stream, size)
      assert.deepEqual(data, expected)
      assert.deepEqual(control, [[Opcode.ping, Buffer.from('hi')], [Opcode.close, Buffer.from([0x03, 0xe8])]])
    })
  }

  const bad: [string, Buffer][] = [
    ['a masked frame', Buffer.from([0x82, 0x81, 1, 2, 3, 4, 5])],
    ['a text frame', serverFrame(Opcode.text, Buffer.from('x'))],
    ['RSV bits without an extension', Buffer.from([0xc2, 0x00])],
    ['a fragmented ping', serverFrame(Opcode.ping, Buffer.alloc(0), false)],
    ['a 126-byte control frame', serverFrame(Opcode.ping, Buffer.alloc(126))],
    ['an unknown opcode', serverFrame(0x3, Buffer.alloc(0))]
  ]
  for (const [name, bytes] of bad) {
    test(`refuses ${name}`, () => {
      assert.throws(() => read(bytes, bytes.length), WsProtocolError)
    })
  }
})

describe('publish batches', () => {
  /** The MQTT packets inside a batch's chunks, whatever the framing. */
  function packetsOf (chunks: Buffer[], framing: Framing, version: ProtocolVersion): Packet[] {
    const bytes = Buffer.concat(chunks)
    const mqtt = framing === 'tcp' ? bytes : Buffer.concat(decodeClientFrames(bytes).map(f => f.payload))
    const packets: Packet[] = []
    const p = parser({ protocolVersion: version })
    p.on('packet', packet => packets.push(packet))
    p.on('error', err => { throw err })
    p.parse(mqtt)
    return packets
  }

  const cases: [Framing, QoS, ProtocolVersion, number][] = [
    ['tcp', 0, 4, 64], ['tcp', 1, 5, 64], ['tcp', 2, 4, 65_536],
    ['ws', 0, 4, 64], ['ws', 1, 4, 256], ['ws', 2, 5, 65_536], ['ws', 0, 5, 3000],
    ['ws-batch', 0, 4, 64], ['ws-batch', 1, 5, 65_536]
  ]
  for (const [framing, qos, version, size] of cases) {
    test(`${framing}, QoS ${qos}, MQTT ${version === 5 ? '5' : '3.1.1'}, ${size} B`, () => {
      const batch = new PublishBatch({ topic: 'bench/t', qos, version, payloadSize: size, publisher: 3, framing })
      const count = 11
      const ids = qos > 0 ? Uint16Array.from({ length: count }, (_, i) => 100 + i) : undefined
      const chunks = batch.build(count, 40, ids, 123_456.75)
      const packets = packetsOf(chunks, framing, version) as IPublishPacket[]
      assert.equal(packets.length, count)
      if (framing === 'ws') assert.equal(Buffer.concat(chunks).length, count * batch.messageSize)
      packets.forEach((p, i) => {
        const payload = Buffer.from(p.payload)
        assert.equal(p.topic, 'bench/t')
        assert.equal(p.qos, qos)
        if (qos > 0) assert.equal(p.messageId, 100 + i)
        assert.equal(payload.length, size)
        assert.equal(payload.readUInt32BE(PUBLISHER_AT), 3)
        assert.equal(payload.readUInt32BE(SEQ_AT), 40 + i)
        assert.equal(payload.readDoubleBE(SENT_AT), 123_456.75)
      })
    })
  }

  test('two batches share no bytes that the second could change under the first', () => {
    const batch = new PublishBatch({ topic: 'bench/t', qos: 0, version: 4, payloadSize: 65_536, publisher: 0, framing: 'ws' })
    // The chunks of a write may sit in the socket's queue while the next batch is built.
    const first = batch.build(2, 0, undefined, 1)
    const snapshot = Buffer.concat(first)
    batch.build(2, 2, undefined, 2)
    assert.deepEqual(Buffer.concat(first), snapshot)
  })
})

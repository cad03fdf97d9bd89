/**
 * The load tool's MQTT codec: its encoders round-trip through mqtt-packet's
 * parser, and its splitter and readers take apart what mqtt-packet generates,
 * however the bytes are chunked.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { generate, parser } from 'mqtt-packet'
import type { Packet } from 'mqtt-packet'
import { MAX_REMAINING_LENGTH, varintSize, writeVarint } from '../../../src/wire/index.js'
import { AckByte, DISCONNECT, PINGREQ, encodeAck, encodeConnect, encodePublish, encodeSubscribe } from '../../src/mqtt-encode.js'
import type { ProtocolVersion, QoS } from '../../src/mqtt-encode.js'
import { readAck, readConnack, readPublishStart, readSuback, readVarint } from '../../src/mqtt-read.js'
import { MalformedPacketError, PacketSplitter } from '../../src/mqtt-split.js'

/** Parses `bytes` with mqtt-packet; expects exactly one packet. */
function parseOne (bytes: Buffer, version: ProtocolVersion): Packet {
  const packets: Packet[] = []
  const p = parser({ protocolVersion: version })
  p.on('packet', packet => packets.push(packet))
  p.on('error', err => { throw err })
  p.parse(bytes)
  assert.equal(packets.length, 1, 'one packet')
  return packets[0]!
}

interface Split {
  firstByte: number
  body: Buffer
  length: number
}

/** Feeds `bytes` to a splitter in pieces of `sizes` (cycled); returns the packets, bodies copied. */
function split (bytes: Buffer, sizes: readonly number[], keep = 4096): Split[] {
  const out: Split[] = []
  const splitter = new PacketSplitter((firstByte, body, start, available, length) => {
    out.push({ firstByte, body: Buffer.from(body.subarray(start, start + available)), length })
  }, keep)
  let pos = 0
  for (let i = 0; pos < bytes.length; i++) {
    const size = sizes[i % sizes.length]!
    splitter.push(bytes.subarray(pos, pos + size))
    pos += size
  }
  return out
}

const VERSIONS: ProtocolVersion[] = [4, 5]

describe('variable byte integer', () => {
  const table: [number, number][] = [[0, 1], [127, 1], [128, 2], [16_383, 2], [16_384, 3], [2_097_151, 3], [2_097_152, 4], [MAX_REMAINING_LENGTH, 4]]
  for (const [value, size] of table) {
    test(`${value} takes ${size} bytes and reads back`, () => {
      assert.equal(varintSize(value), size)
      const buf = Buffer.alloc(4)
      assert.equal(writeVarint(buf, 0, value), size)
      assert.deepEqual(readVarint(buf, 0, size), { value, size })
    })
  }
  test('above the maximum is refused', () => {
    assert.throws(() => varintSize(MAX_REMAINING_LENGTH + 1), RangeError)
  })
  test('cut short or longer than 4 bytes reads as undefined', () => {
    assert.equal(readVarint(Buffer.from([0x80, 0x80]), 0, 2), undefined)
    assert.equal(readVarint(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x01]), 0, 5), undefined)
  })
})

describe('encoders round-trip through mqtt-packet', () => {
  for (const version of VERSIONS) {
    const connects = [
      { clientId: 'bench-1', version, keepalive: 60, clean: true },
      { clientId: '', version, keepalive: 0, clean: true },
      { clientId: 'bench-ü', version, keepalive: 65_535, clean: false, username: 'user', password: 'secret' }
    ]
    for (const fields of connects) {
      test(`CONNECT v${version} ${JSON.stringify(fields.clientId)}${fields.username === undefined ? '' : ' with credentials'}`, () => {
        const packet = parseOne(encodeConnect(fields), version)
        assert.equal(packet.cmd, 'connect')
        if (packet.cmd !== 'connect') return
        assert.equal(packet.protocolVersion, version)
        assert.equal(packet.clientId, fields.clientId)
        assert.equal(packet.keepalive, fields.keepalive)
        assert.equal(packet.clean, fields.clean)
        assert.equal(packet.username, fields.username)
        assert.equal(packet.password?.toString(), fields.password)
      })
    }

    test(`SUBSCRIBE v${version} with several filters`, () => {
      const subs = [{ topic: 'bench/a', qos: 0 as QoS }, { topic: 'bench/+/b', qos: 1 as QoS }, { topic: 'bench/#', qos: 2 as QoS }]
      const packet = parseOne(encodeSubscribe(7, subs, version), version)
      assert.equal(packet.cmd, 'subscribe')
      if (packet.cmd !== 'subscribe') return
      assert.equal(packet.messageId, 7)
      assert.deepEqual(packet.subscriptions.map(s => ({ topic: s.topic, qos: s.qos })), subs)
    })

    for (const qos of [0, 1, 2] as QoS[]) {
      for (const size of [0, 16, 200, 70_000]) {
        test(`PUBLISH v${version} QoS ${qos}, ${size} B payload`, () => {
          const payload = Buffer.alloc(size, 0xab)
          const { packet: bytes, layout } = encodePublish({ topic: 'bench/x/p/3', qos, packetId: 0x1234, payload, version })
          const packet = parseOne(bytes, version)
          assert.equal(packet.cmd, 'publish')
          if (packet.cmd !== 'publish') return
          assert.equal(packet.topic, 'bench/x/p/3')
          assert.equal(packet.qos, qos)
          if (qos > 0) assert.equal(packet.messageId, 0x1234)
          assert.deepEqual(Buffer.from(packet.payload), payload)
          assert.equal(layout.packetIdOffset >= 0, qos > 0)
          assert.deepEqual(bytes.subarray(layout.payloadOffset), payload)
        })
      }
    }

    const acks: [number, string][] = [[AckByte.PUBACK, 'puback'], [AckByte.PUBREC, 'pubrec'], [AckByte.PUBREL, 'pubrel'], [AckByte.PUBCOMP, 'pubcomp']]
    for (const [byte, cmd] of acks) {
      test(`${cmd} v${version}`, () => {
        const packet = parseOne(encodeAck(byte, 65_535), version)
        assert.equal(packet.cmd, cmd)
        assert.equal(packet.messageId, 65_535)
      })
    }

    test(`PINGREQ and DISCONNECT v${version}`, () => {
      assert.equal(parseOne(PINGREQ, version).cmd, 'pingreq')
      assert.equal(parseOne(DISCONNECT, version).cmd, 'disconnect')
    })
  }
})

describe('splitter', () => {
  const packets: Packet[] = [
    { cmd: 'connack', returnCode: 0, sessionPresent: false },
    { cmd: 'publish', topic: 'a/b', qos: 0, dup: false, retain: false, payload: Buffer.alloc(100, 1) },
    { cmd: 'publish', topic: 'a/b', qos: 1, messageId: 9, dup: false, retain: false, payload: Buffer.alloc(130, 2) },
    { cmd: 'puback', messageId: 9 },
    { cmd: 'pingresp' },
    { cmd: 'suback', messageId: 1, granted: [0, 1, 128] },
    { cmd: 'publish', topic: 'big', qos: 2, messageId: 10, dup: false, retain: false, payload: Buffer.alloc(20_000, 3) },
    { cmd: 'pubrel', messageId: 10 }
  ]
  const encoded = packets.map(p => generate(p, { protocolVersion: 4 }))
  const stream = Buffer.concat(encoded)
  const chunkings = [[stream.length], [1], [2], [3], [5], [7, 1, 13], [4096], [100, 1, 1, 1]]

  for (const sizes of chunkings) {
    test(`finds every packet when fed in chunks of ${sizes.join(', ')}`, () => {
      const found = split(stream, sizes, 64 * 1024)
      assert.equal(found.length, encoded.length)
      found.forEach((p, i) => {
        const bytes = encoded[i]!
        assert.equal(p.firstByte, bytes[0])
        assert.equal(p.length, p.body.length)
        assert.deepEqual(p.body, bytes.subarray(bytes.length - p.length))
      })
    })
  }

  test('keeps only the first `keep` bytes of a packet split across chunks', () => {
    const found = split(stream, [1000], 64)
    const big = found[6]!
    assert.equal(big.length, 20_000 + 2 + 3 + 2)
    assert.equal(big.body.length, 64)
    assert.deepEqual(big.body, encoded[6]!.subarray(encoded[6]!.length - big.length, encoded[6]!.length - big.length + 64))
    assert.equal(found.length, encoded.length)
  })

  test('refuses a remaining length longer than 4 bytes, in one chunk or split', () => {
    for (const sizes of [[6], [1], [2], [3], [4, 2]]) {
      assert.throws(() => split(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), sizes), MalformedPacketError, `chunks of ${sizes.join(', ')}`)
    }
  })
})

describe('readers', () => {
  /** The one packet in `bytes`, as the splitter hands it over. */
  function body (bytes: Buffer): Split {
    const [packet] = split(bytes, [bytes.length])
    assert.ok(packet !== undefined)
    return packet
  }

  test('CONNACK v3.1.1', () => {
    const p = body(generate({ cmd: 'connack', returnCode: 5, sessionPresent: true }, { protocolVersion: 4 }))
    assert.deepEqual(readConnack(p.body, 0, p.body.length, 4), { sessionPresent: true, code: 5, receiveMaximum: 65_535 })
  })

  test('CONNACK v5 finds Receive Maximum among other properties', () => {
    const packet: Packet = {
      cmd: 'connack',
      reasonCode: 0,
      sessionPresent: false,
      properties: { assignedClientIdentifier: 'abc', topicAliasMaximum: 10, receiveMaximum: 20, maximumPacketSize: 1000, userProperties: { a: 'b' } }
    }
    const p = body(generate(packet, { protocolVersion: 5 }))
    assert.deepEqual(readConnack(p.body, 0, p.body.length, 5), { sessionPresent: false, code: 0, receiveMaximum: 20 })
  })

  for (const version of VERSIONS) {
    test(`SUBACK v${version}`, () => {
      const p = body(generate({ cmd: 'suback', messageId: 3, granted: [0, 2, 128] }, { protocolVersion: version }))
      assert.deepEqual(readSuback(p.body, 0, p.body.length, version), { packetId: 3, codes: [0, 2, 128] })
    })

    test(`PUBLISH v${version} start, with properties in v5`, () => {
      const payload = Buffer.from('0123456789abcdef-payload')
      const properties = version === 5 ? { userProperties: { k: 'v' }, messageExpiryInterval: 60, topicAlias: 2 } : undefined
      const bytes = generate({ cmd: 'publish', topic: 't/1', qos: 1, messageId: 77, dup: false, retain: false, payload, properties }, { protocolVersion: version })
      const p = body(bytes)
      const out = { packetId: 0, payloadOffset: 0 }
      readPublishStart(p.firstByte, p.body, 0, p.body.length, version, out)
      assert.equal(out.packetId, 77)
      assert.deepEqual(p.body.subarray(out.payloadOffset), payload)
    })
  }

  test('acks: packet id, and a v5 reason code when present', () => {
    const plain = body(generate({ cmd: 'puback', messageId: 12 }, { protocolVersion: 4 }))
    assert.deepEqual(readAck(plain.body, 0, plain.body.length), { packetId: 12, reason: 0 })
    const failed = body(generate({ cmd: 'puback', messageId: 13, reasonCode: 0x87 }, { protocolVersion: 5 }))
    assert.deepEqual(readAck(failed.body, 0, failed.body.length), { packetId: 13, reason: 0x87 })
  })
})

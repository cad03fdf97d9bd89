/**
 * What a trace shows of each packet, MQTT 3.1.1 and 5, from packets made by
 * mqtt-packet: types, ids, topics, flags, CONNECT's fields with the
 * password and authentication data redacted, result codes by name, MQTT 5
 * properties, payload prefixes (UTF-8, hex, cut), a large PUBLISH decoded
 * from its head, and the topic reader of the topic watch.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import mqttPacket from 'mqtt-packet'
import type { Packet } from 'mqtt-packet'
import { PacketAssembler } from '../../../src/trace/assembler.js'
import type { PacketHead } from '../../../src/trace/assembler.js'
import { describePacket, payloadPrefix, topicsOf } from '../../../src/trace/decoder.js'
import type { PacketFacts } from '../../../src/trace/decoder.js'

const SECRET = 'hunter2-never-shown'

/** The facts of `packet` as the trace makes them: through the assembler, head limit `limit`. */
function facts (packet: Packet, version = 4, payloadBytes = 0, limit = 16 * 1024): PacketFacts {
  const heads: PacketHead[] = []
  new PacketAssembler(() => limit, (p) => heads.push({ ...p, head: Buffer.from(p.head) }), (d) => { throw new Error(d) })
    .feed(mqttPacket.generate(packet, { protocolVersion: version }))
  assert.equal(heads.length, 1)
  return describePacket(heads[0] as PacketHead, version, payloadBytes)
}

describe('packet facts', () => {
  test('CONNECT 3.1.1: client id, keep-alive, clean, username, will; the password redacted', () => {
    const f = facts({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'sensor-1', clean: false, keepalive: 45,
      username: 'alice', password: Buffer.from(SECRET), will: { topic: 'status/sensor-1', payload: Buffer.from('offline'), qos: 1, retain: true }
    })
    assert.deepEqual(f, {
      packet: 'CONNECT', size: f.size, protocol: 'MQTT', version: 4, clientId: 'sensor-1', keepalive: 45, clean: false,
      username: 'alice', password: '(redacted)', will: { topic: 'status/sensor-1', qos: 1, retain: true, payloadSize: 7 }
    })
    assert.doesNotMatch(JSON.stringify(f), new RegExp(SECRET))
  })

  test('CONNECT 5: properties shown, authentication data redacted whatever the payload setting', () => {
    const f = facts({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'v5', clean: true, keepalive: 10, username: 'bob', password: Buffer.from(SECRET),
      properties: { sessionExpiryInterval: 300, authenticationMethod: 'SCRAM-SHA-1', authenticationData: Buffer.from(SECRET) }
    }, 5, 1024)
    assert.equal(f.version, 5)
    assert.deepEqual(f.properties, { sessionExpiryInterval: 300, authenticationMethod: 'SCRAM-SHA-1', authenticationData: '(redacted)' })
    assert.doesNotMatch(JSON.stringify(f), new RegExp(SECRET))
    assert.doesNotMatch(JSON.stringify(f), new RegExp(Buffer.from(SECRET).toString('hex')))
  })

  test('AUTH 5: authentication data redacted', () => {
    const f = facts({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-1', authenticationData: Buffer.from(SECRET) } } as Packet, 5)
    assert.equal(f.codeName, 'continue authentication')
    assert.doesNotMatch(JSON.stringify(f), new RegExp(Buffer.from(SECRET).toString('hex')))
  })

  test('CONNACK: 3.1.1 return codes and 5 reason codes by name', () => {
    assert.deepEqual(facts({ cmd: 'connack', returnCode: 5, sessionPresent: false }), { packet: 'CONNACK', size: 4, sessionPresent: false, code: 5, codeName: 'not authorized' })
    const v5 = facts({ cmd: 'connack', reasonCode: 0x87, sessionPresent: false, properties: { reasonString: 'no' } }, 5)
    assert.equal(v5.codeName, 'not authorized')
    assert.deepEqual(v5.properties, { reasonString: 'no' })
  })

  test('PUBLISH: topic, QoS, id, retain, dup; payload size only by default', () => {
    const f = facts({ cmd: 'publish', topic: 'plant/a', payload: Buffer.from('hello'), qos: 2, messageId: 9, retain: true, dup: true })
    assert.deepEqual(f, { packet: 'PUBLISH', size: f.size, qos: 2, retain: true, dup: true, topic: 'plant/a', id: 9, payloadSize: 5 })
  })

  test('PUBLISH with --payload: a prefix, UTF-8 when printable, hex otherwise, cut at the limit', () => {
    const text = facts({ cmd: 'publish', topic: 't', payload: Buffer.from('{"temp":21.5}'), qos: 0, retain: false, dup: false }, 4, 8)
    assert.deepEqual([text.payload, text.payloadEncoding, text.payloadTruncated, text.payloadSize], ['{"temp":', 'utf8', true, 13])
    const binary = facts({ cmd: 'publish', topic: 't', payload: Buffer.from([0, 1, 2, 0xff]), qos: 0, retain: false, dup: false }, 4, 64)
    assert.deepEqual([binary.payload, binary.payloadEncoding, binary.payloadTruncated], ['000102ff', 'hex', false])
  })

  test('a 1 MiB PUBLISH is decoded from its head, with its true sizes', () => {
    const f = facts({ cmd: 'publish', topic: 'firmware/v2', payload: Buffer.alloc(1024 * 1024, 0x41), qos: 1, messageId: 4, retain: false, dup: false }, 4, 4, 16 * 1024)
    assert.equal(f.topic, 'firmware/v2')
    assert.equal(f.id, 4)
    assert.equal(f.payloadSize, 1024 * 1024)
    assert.equal(f.payload, 'AAAA')
    assert.equal(f.size, 1 + 3 + 2 + 11 + 2 + 1024 * 1024)
  })

  test('a head too short for the topic: fixed-header facts and why', () => {
    const f = facts({ cmd: 'publish', topic: 'x'.repeat(100), payload: Buffer.alloc(10), qos: 1, messageId: 1, retain: false, dup: false }, 4, 0, 20)
    assert.equal(f.qos, 1)
    assert.match(f.undecoded ?? '', /do not hold the topic/)
  })

  test('SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK, with options and codes', () => {
    const sub = facts({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'a/#', qos: 1, nl: true, rap: false, rh: 2 }, { topic: 'b', qos: 0 }] } as Packet, 5)
    assert.deepEqual(sub.subscriptions, [{ topic: 'a/#', qos: 1, nl: true, rap: false, rh: 2 }, { topic: 'b', qos: 0, nl: false, rap: false, rh: 0 }])
    assert.deepEqual(facts({ cmd: 'suback', messageId: 3, granted: [1, 128] }).granted, [{ code: 1, name: 'granted QoS 1' }, { code: 128, name: 'failure' }])
    assert.deepEqual(facts({ cmd: 'suback', messageId: 3, granted: [0, 0x87] }, 5).granted, [{ code: 0, name: 'granted QoS 0' }, { code: 0x87, name: 'not authorized' }])
    assert.deepEqual(facts({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['a/#'] }).unsubscriptions, ['a/#'])
    assert.equal(facts({ cmd: 'unsuback', messageId: 4 } as Packet).id, 4)
  })

  test('PUBACK 5 with a reason, DISCONNECT 5, PINGREQ', () => {
    const puback = facts({ cmd: 'puback', messageId: 8, reasonCode: 0x10 }, 5)
    assert.deepEqual([puback.id, puback.code, puback.codeName], [8, 0x10, 'no matching subscribers'])
    const disconnect = facts({ cmd: 'disconnect', reasonCode: 0x8e }, 5)
    assert.equal(disconnect.codeName, 'session taken over')
    assert.deepEqual(facts({ cmd: 'pingreq' }), { packet: 'PINGREQ', size: 2 })
  })
})

describe('payload prefix', () => {
  test('a cut inside a UTF-8 character stays text', () => {
    const p = payloadPrefix(Buffer.from('ab€cd'), 4)
    assert.deepEqual(p, { text: 'ab', encoding: 'utf8', truncated: true })
  })

  test('control characters make it hex', () => {
    assert.equal(payloadPrefix(Buffer.from('a\u001b[31mb'), 64).encoding, 'hex')
    assert.equal(payloadPrefix(Buffer.from('line 1\nline 2\t.'), 64).encoding, 'utf8')
  })
})

describe('topics for the topic watch', () => {
  /** The body of a small packet (remaining length under 128: one length byte). */
  const body = (p: Packet, version = 4): Buffer => {
    const bytes = mqttPacket.generate(p, { protocolVersion: version })
    assert.ok((bytes[1] as number) < 128)
    return bytes.subarray(2)
  }
  test('a PUBLISH topic, SUBSCRIBE filters (MQTT 5 properties skipped)', () => {
    assert.deepEqual(topicsOf(3, body({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }), 4), ['a/b'])
    assert.deepEqual(topicsOf(8, body({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 0 }, { topic: 'c', qos: 1 }] }), 4), ['a/#', 'c'])
    assert.deepEqual(topicsOf(8, body({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v5/+', qos: 0 }], properties: { subscriptionIdentifier: 5 } } as Packet, 5), 5), ['v5/+'])
    assert.deepEqual(topicsOf(12, Buffer.alloc(0), 4), [])
  })
})

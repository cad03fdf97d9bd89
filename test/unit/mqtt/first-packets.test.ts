/**
 * The two packets the gateway reads: CONNECT (through one parser shared by
 * every connection, so one packet must never leak into the next) and CONNACK.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import mqttPacket from 'mqtt-packet'
import { MalformedPacketError } from '../../../src/errors.js'
import { connackCode, connackServerUnavailable, lastDisconnectReason, parseConnect } from '../../../src/mqtt/first-packets.js'

function connect (protocolVersion: 3 | 4 | 5, clientId: string, extra: Record<string, unknown> = {}): Buffer {
  const protocolId = protocolVersion === 3 ? 'MQIsdp' : 'MQTT'
  return mqttPacket.generate({ cmd: 'connect', protocolId, protocolVersion, clientId, clean: true, keepalive: 30, ...extra } as mqttPacket.IConnectPacket)
}

describe('parseConnect', () => {
  test('reads client id, version, keep-alive and username of MQTT 3.1, 3.1.1 and 5', () => {
    for (const version of [3, 4, 5] as const) {
      const info = parseConnect(connect(version, `c${version}`, { username: 'u', password: Buffer.from('p') }))
      assert.deepEqual(info, { clientId: `c${version}`, protocolVersion: version, keepalive: 30, clean: true, username: 'u' })
    }
  })

  test('each packet is parsed on its own: a v5 CONNECT, a malformed one or a non-CONNECT does not affect the next', () => {
    const v4 = connect(4, 'after')
    const expected = { clientId: 'after', protocolVersion: 4, keepalive: 30, clean: true, username: undefined }
    parseConnect(connect(5, 'v5', { properties: { sessionExpiryInterval: 10 } }))
    assert.deepEqual(parseConnect(v4), expected)
    const broken = Buffer.from(v4)
    broken[2] = 0xff // protocol name length far past the packet
    assert.throws(() => parseConnect(broken), MalformedPacketError)
    assert.deepEqual(parseConnect(v4), expected)
    assert.throws(() => parseConnect(mqttPacket.generate({ cmd: 'pingreq' })), { code: 'MWG_ERR_MALFORMED_PACKET', message: /first packet must be CONNECT/ })
    assert.deepEqual(parseConnect(v4), expected)
    assert.throws(() => parseConnect(v4.subarray(0, v4.length - 3)), MalformedPacketError)
    assert.deepEqual(parseConnect(v4), expected)
  })
})

describe('CONNACK', () => {
  test('"server unavailable" as a broker would send it, per version', () => {
    assert.equal(connackCode(connackServerUnavailable(4)), 3)
    assert.equal(connackCode(connackServerUnavailable(3)), 3)
    assert.equal(connackCode(connackServerUnavailable(5)), 0x88)
    const parsed = (version: 4 | 5): mqttPacket.Packet[] => {
      const out: mqttPacket.Packet[] = []
      const p = mqttPacket.parser({ protocolVersion: version })
      p.on('packet', (packet: mqttPacket.Packet) => out.push(packet))
      p.parse(connackServerUnavailable(version))
      return out
    }
    assert.equal((parsed(4)[0] as mqttPacket.IConnackPacket).returnCode, 3)
    assert.equal((parsed(5)[0] as mqttPacket.IConnackPacket).reasonCode, 0x88)
  })

  test('connackCode is undefined for anything but a CONNACK', () => {
    assert.equal(connackCode(mqttPacket.generate({ cmd: 'pingresp' })), undefined)
  })
})

// issue 14: a broker's DISCONNECT 0x8E "Session taken over" (MQTT 5) is how a
// gateway learns that the same client id connected through another one.
describe('lastDisconnectReason', () => {
  const publish = mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.from('p'), qos: 0, dup: false, retain: false })
  const disconnect = (reasonCode: number, properties?: Record<string, unknown>): Buffer =>
    mqttPacket.generate({ cmd: 'disconnect', reasonCode, properties } as mqttPacket.IDisconnectPacket, { protocolVersion: 5 })
  const cases: Array<[string, Buffer, number | undefined]> = [
    ['DISCONNECT 0x8E alone', Buffer.from([0xe0, 0x01, 0x8e]), 0x8e],
    ['after other packets in the same message', Buffer.concat([publish, publish, disconnect(0x8e)]), 0x8e],
    ['with properties (a reason string)', disconnect(0x8e, { reasonString: 'x'.repeat(200) }), 0x8e],
    ['without a reason byte: 0x00, normal disconnection', Buffer.from([0xe0, 0x00]), 0],
    ['another reason (0x8B server shutting down)', disconnect(0x8b), 0x8b],
    ['the last packet is not a DISCONNECT', Buffer.concat([disconnect(0x8e), publish]), undefined],
    ['a cut packet', Buffer.from([0xe0, 0x05, 0x8e]), undefined],
    ['nothing', Buffer.alloc(0), undefined]
  ]
  for (const [what, bytes, reason] of cases) {
    test(what, () => assert.equal(lastDisconnectReason(bytes), reason))
  }
})

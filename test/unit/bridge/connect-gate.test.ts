/**
 * The CONNECT gate without sockets: bytes held until the CONNECT is whole,
 * then one verdict; every refusal with its reason.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import mqttPacket from 'mqtt-packet'
import type { Packet } from 'mqtt-packet'
import { ConnectGate } from '../../../src/bridge/connect-gate.js'
import type { ClaimRules } from '../../../src/bridge/connect-gate.js'
import type { TokenGrant } from '../../../src/server/jwt.js'

function grant (claims: Partial<TokenGrant>): TokenGrant {
  return { expiresAt: undefined, clientId: undefined, username: undefined, ...claims }
}

const NO_CLAIMS: ClaimRules = { jwtClientIdClaim: undefined, jwtUsernameClaim: undefined }

function connect (clientId: string, username?: string): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 30, username } as Packet)
}

describe('connect gate', () => {
  test('waits for the whole CONNECT, byte by byte, then passes it with what followed', () => {
    const packet = connect('gated')
    const after = mqttPacket.generate({ cmd: 'pingreq' })
    const stream = Buffer.concat([packet, after])
    const gate = new ConnectGate(1024, NO_CLAIMS, undefined)
    for (let i = 0; i < packet.length - 1; i++) assert.equal(gate.offer(stream.subarray(i, i + 1)).kind, 'wait', `byte ${i}`)
    const verdict = gate.offer(stream.subarray(packet.length - 1))
    assert.equal(verdict.kind, 'pass')
    if (verdict.kind !== 'pass') return
    assert.equal(verdict.connect.clientId, 'gated')
    assert.equal(verdict.connect.keepalive, 30)
    assert.deepEqual(verdict.bytes, stream)
    assert.equal(gate.passed, true)
  })

  test('the bytes it passes are its own copies (the frame reader reuses its chunk)', () => {
    const chunk = Buffer.from(connect('copied'))
    const verdict = new ConnectGate(1024, NO_CLAIMS, undefined).offer(chunk)
    chunk.fill(0)
    assert.equal(verdict.kind === 'pass' && verdict.bytes[0], 0x10)
  })

  const refusals: { name: string, bytes: Buffer, max?: number, rules?: ClaimRules, auth?: TokenGrant, reason: string }[] = [
    { name: 'a first packet that is not a CONNECT', bytes: mqttPacket.generate({ cmd: 'pingreq' }), reason: 'malformed_packet' },
    { name: 'a malformed remaining length', bytes: Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]), reason: 'malformed_packet' },
    { name: 'a CONNECT over the size limit', bytes: connect('x'.repeat(200)), max: 64, reason: 'message_too_big' },
    { name: 'another client id than the token\'s', bytes: connect('mallory'), rules: { jwtClientIdClaim: 'sub', jwtUsernameClaim: undefined }, auth: grant({ clientId: 'alice' }), reason: 'client_id_mismatch' },
    { name: 'a username when the token has none', bytes: connect('alice', 'alice'), rules: { jwtClientIdClaim: undefined, jwtUsernameClaim: 'user' }, auth: grant({}), reason: 'username_mismatch' }
  ]
  for (const c of refusals) {
    test(`refuses ${c.name}: ${c.reason}`, () => {
      const verdict = new ConnectGate(c.max ?? 1024, c.rules ?? NO_CLAIMS, c.auth).offer(c.bytes)
      assert.equal(verdict.kind, 'refuse')
      assert.equal(verdict.kind === 'refuse' && verdict.reason, c.reason)
    })
  }

  test('a claim refusal still says who the client claimed to be (for the close log line)', () => {
    const verdict = new ConnectGate(1024, { jwtClientIdClaim: 'sub', jwtUsernameClaim: undefined }, grant({ clientId: 'alice' })).offer(connect('mallory'))
    assert.equal(verdict.kind === 'refuse' && verdict.connect?.clientId, 'mallory')
  })
})

/**
 * Fuzzing what the gateway reads of MQTT itself: the client's CONNECT
 * (parseConnect, before any authentication) and the broker's CONNACK
 * (connackCode).
 *
 * Valid packets are built with mqtt-packet's generate(), the same library
 * the gateway parses with, but from the other side (the writer): MQTT 3.1,
 * 3.1.1 and 5, with and without will, username, password and properties.
 * Hostile ones are random bytes and valid CONNECTs mutated byte by byte,
 * with the fixed header either left as it was or recomputed so that the
 * parser reaches the mutated fields.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import mqttPacket from 'mqtt-packet'
import type { IConnackPacket, IConnectPacket, UserProperties } from 'mqtt-packet'
import { MalformedPacketError } from '../../src/errors.js'
import { connackCode, parseConnect } from '../../src/mqtt/first-packets.js'
import type { ConnectInfo } from '../../src/mqtt/first-packets.js'
import { firstPacketSize } from '../../src/mqtt/packet-scanner.js'
import { fuzz } from '../support/fuzz.js'

// ---------------------------------------------------------------- generators

const text = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: 'binary', maxLength })
const bytes = (maxLength: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b))
const u16 = fc.integer({ min: 0, max: 0xffff })
const u32 = fc.integer({ min: 0, max: 0xffffffff })

/**
 * User properties, with names that are also Object.prototype's (a parser
 * that builds a plain object meets them). At least one: mqtt-packet's
 * generate() writes nothing at all for an empty set.
 */
const userProperties: fc.Arbitrary<UserProperties> = fc.dictionary(
  fc.oneof(text(12), fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty')),
  fc.oneof(text(20), fc.array(text(10), { minLength: 1, maxLength: 3 })),
  { minKeys: 1, maxKeys: 3 }
)

const connectProperties = fc.record({
  sessionExpiryInterval: u32,
  receiveMaximum: fc.integer({ min: 1, max: 0xffff }),
  maximumPacketSize: fc.integer({ min: 1, max: 0xffffffff }),
  topicAliasMaximum: u16,
  requestResponseInformation: fc.boolean(),
  requestProblemInformation: fc.boolean(),
  userProperties,
  authenticationMethod: text(20),
  authenticationData: bytes(40)
}, { requiredKeys: [] })

const willProperties = fc.record({
  willDelayInterval: u32,
  payloadFormatIndicator: fc.boolean(),
  messageExpiryInterval: u32,
  contentType: text(20),
  responseTopic: text(20).filter((s) => s !== ''),
  correlationData: bytes(20),
  userProperties
}, { requiredKeys: [] })

/**
 * A CONNECT generate() accepts: MQTT 3.1 needs a client id; an empty id
 * needs a clean session; a password needs a username.
 */
const connect: fc.Arbitrary<IConnectPacket> = fc.record({
  protocolVersion: fc.constantFrom(3 as const, 4 as const, 5 as const),
  clientId: fc.oneof(text(23), text(300)),
  clean: fc.boolean(),
  keepalive: u16,
  username: fc.option(text(40), { nil: undefined }),
  password: fc.option(bytes(300), { nil: undefined }),
  will: fc.option(fc.record({
    topic: text(40).filter((s) => s !== ''),
    payload: bytes(600),
    qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
    retain: fc.boolean(),
    properties: willProperties
  }), { nil: undefined }),
  properties: connectProperties
}).map((c) => {
  const clientId = c.clientId === '' && (c.protocolVersion === 3 || !c.clean) ? 'id' : c.clientId
  const username = c.password !== undefined ? c.username ?? 'user' : c.username
  const will = c.will === undefined ? undefined : { ...c.will, properties: c.protocolVersion === 5 ? c.will.properties : undefined }
  return {
    cmd: 'connect' as const,
    protocolId: c.protocolVersion === 3 ? 'MQIsdp' as const : 'MQTT' as const,
    protocolVersion: c.protocolVersion,
    clientId,
    clean: c.clean,
    keepalive: c.keepalive,
    ...(username === undefined ? {} : { username }),
    ...(c.password === undefined ? {} : { password: c.password }),
    ...(will === undefined ? {} : { will }),
    ...(c.protocolVersion === 5 ? { properties: c.properties } : {})
  }
})

/** The bytes after the fixed header, and the header recomputed for a new body. */
function splitFixedHeader (packet: Buffer): { type: number, body: Buffer } {
  let pos = 1
  while (((packet[pos] as number) & 0x80) !== 0) pos++
  return { type: packet[0] as number, body: packet.subarray(pos + 1) }
}

function withFixedHeader (type: number, body: Uint8Array): Buffer {
  const length: number[] = []
  let n = body.length
  do {
    length.push((n % 128) | (n >= 128 ? 0x80 : 0))
    n = Math.floor(n / 128)
  } while (n > 0)
  return Buffer.concat([Buffer.from([type, ...length]), body])
}

/** Byte-level mutations: overwrite, insert, delete, truncate. */
type Mutation = { at: number, op: 'set', value: number } | { at: number, op: 'insert', value: Uint8Array } | { at: number, op: 'delete', count: number } | { at: number, op: 'truncate' }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ at: fc.nat(), op: fc.constant('set' as const), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ at: fc.nat(), op: fc.constant('insert' as const), value: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ at: fc.nat(), op: fc.constant('delete' as const), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ at: fc.nat(), op: fc.constant('truncate' as const) })
)

function mutate (input: Uint8Array, m: Mutation): Buffer {
  const b = Buffer.from(input)
  const at = m.at % (b.length + 1)
  switch (m.op) {
    case 'set': if (at < b.length) b[at] = m.value; return b
    case 'insert': return Buffer.concat([b.subarray(0, at), m.value, b.subarray(at)])
    case 'delete': return Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)])
    case 'truncate': return b.subarray(0, at)
  }
}

/** A valid CONNECT broken by 1-4 mutations, of the whole packet or of its body under a recomputed header. */
const mutatedConnect: fc.Arbitrary<Buffer> = fc.tuple(connect, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([c, mutations, fixHeader]) => {
    const packet = mqttPacket.generate(c)
    if (!fixHeader) return mutations.reduce(mutate, packet)
    const { type, body } = splitFixedHeader(packet)
    return withFixedHeader(type, mutations.reduce(mutate, body))
  })

/** Random bytes that start like an MQTT packet often enough to get past the first check. */
const randomPacket: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 80 })).map(([type, body]) => withFixedHeader(type, body))
)

const hostile = fc.oneof(randomPacket, mutatedConnect)

/** What the bridge hands parseConnect: the first packet, as long as its fixed header says; nothing while that is incomplete. */
function asTheBridgeCutsIt (bytes: Buffer): Buffer | undefined {
  const size = firstPacketSize(bytes)
  return size > 0 && size <= bytes.length ? bytes.subarray(0, size) : undefined
}

// ---------------------------------------------------------------- checks

/** parseConnect either returns a well-typed result or throws MalformedPacketError; nothing else. */
function parseOrMalformed (packet: Buffer): ConnectInfo | MalformedPacketError {
  try {
    const info = parseConnect(packet)
    assert.ok([3, 4, 5].includes(info.protocolVersion), `protocolVersion ${info.protocolVersion}`)
    assert.equal(typeof info.clientId, 'string')
    assert.ok(Number.isInteger(info.keepalive) && info.keepalive >= 0 && info.keepalive <= 0xffff, `keepalive ${info.keepalive}`)
    assert.equal(typeof info.clean, 'boolean')
    assert.ok(info.username === undefined || typeof info.username === 'string')
    return info
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err
    assert.ok(err instanceof MalformedPacketError, `threw ${String(err)}, not a MalformedPacketError`)
    assert.equal(err.code, 'MWG_ERR_MALFORMED_PACKET')
    return err
  }
}

function assertParsedAs (info: ConnectInfo, c: IConnectPacket): void {
  assert.deepEqual(info, {
    clientId: c.clientId,
    protocolVersion: c.protocolVersion,
    keepalive: c.keepalive,
    clean: c.clean,
    username: c.username
  })
}

// ---------------------------------------------------------------- properties

describe('parseConnect fuzz', () => {
  // The client id decides which session a connection takes over and the
  // username what it is logged as: a CONNECT read wrongly hands one client
  // another's identity.
  test('valid CONNECTs (3.1, 3.1.1, 5, will, credentials, properties) parse to what was sent', () => fuzz(
    fc.property(connect, (c) => assertParsedAs(parseConnect(mqttPacket.generate(c)), c)), 200))

  // parseConnect runs on the first packet of every connection before any
  // authentication: any other exception escapes the gateway's handling of
  // a malformed CONNECT (close with a reason, count it) and may take the
  // connection, or the process, down with it.
  test('random bytes and mutated CONNECTs throw MalformedPacketError only', () => fuzz(
    fc.property(hostile, (packet) => { parseOrMalformed(packet) }), 600))

  // The module keeps one mqtt-packet parser for the whole process: if a
  // hostile packet left state behind in it, the next client's valid
  // CONNECT would be refused or misread. The bad packets are cut the way
  // the bridge cuts a first packet: exactly the size its fixed header says.
  test('after any sequence of bad packets, a valid CONNECT still parses right', () => fuzz(
    fc.property(fc.array(fc.tuple(fc.array(hostile.map(asTheBridgeCutsIt), { maxLength: 3 }), connect), { minLength: 1, maxLength: 4 }), (steps) => {
      for (const [bad, good] of steps) {
        for (const packet of bad) if (packet !== undefined) parseOrMalformed(packet)
        assertParsedAs(parseConnect(mqttPacket.generate(good)), good)
      }
    }), 100))

  // The same with bytes past the packet's end. The bridge never passes
  // them today, but nothing in parseConnect refuses them: a caller that
  // did would let one client's extra bytes break the next client's CONNECT.
  test('bytes after the packet never spoil the next client\'s CONNECT', () => fuzz(
    fc.property(connect, fc.uint8Array({ minLength: 1, maxLength: 4 }), connect, (first, extra, next) => {
      parseOrMalformed(Buffer.concat([mqttPacket.generate(first), extra]))
      assertParsedAs(parseConnect(mqttPacket.generate(next)), next)
    }), 200))
})

// ---------------------------------------------------------------- CONNACK

const connackProperties = fc.record({
  sessionExpiryInterval: u32,
  receiveMaximum: fc.integer({ min: 1, max: 0xffff }),
  maximumQoS: fc.constantFrom(0, 1),
  retainAvailable: fc.boolean(),
  assignedClientIdentifier: text(30),
  reasonString: text(200),
  userProperties,
  serverKeepAlive: u16
}, { requiredKeys: [] })

/** CONNACKs as brokers send them: 3.1.1 return codes; MQTT 5 reason codes with properties (a 2-byte Remaining Length past 127 bytes). */
const connack: fc.Arbitrary<{ packet: Buffer, code: number }> = fc.oneof(
  fc.record({ code: fc.integer({ min: 0, max: 5 }), sessionPresent: fc.boolean() })
    .map(({ code, sessionPresent }) => ({ code, packet: mqttPacket.generate({ cmd: 'connack', returnCode: code, sessionPresent }) })),
  fc.record({
    code: fc.constantFrom(0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f),
    sessionPresent: fc.boolean(),
    properties: connackProperties
  }).map(({ code, sessionPresent, properties }) => {
    const packet: IConnackPacket = { cmd: 'connack', reasonCode: code, sessionPresent, properties }
    return { code, packet: mqttPacket.generate(packet, { protocolVersion: 5 }) }
  })
)

describe('connackCode fuzz', () => {
  // The code is what the gateway logs and counts for a refused login: a
  // wrong one hides an attack on credentials; a throw on the broker's
  // first bytes breaks the upstream's data path.
  test('valid CONNACKs (3.1.1 and 5) give their code', () => fuzz(
    fc.property(connack, ({ packet, code }) => assert.equal(connackCode(packet), code)), 500))

  test('never throws on random bytes; undefined unless it starts as a CONNACK', () => fuzz(
    fc.property(fc.oneof(randomPacket, connack.map((c) => c.packet).chain((p) => fc.nat().map((n) => p.subarray(0, n % (p.length + 1))))), (packet) => {
      const code = connackCode(packet)
      if (packet[0] !== 0x20) assert.equal(code, undefined)
      assert.ok(code === undefined || (Number.isInteger(code) && code >= 0 && code <= 255), `code ${code}`)
    }), 600))
})

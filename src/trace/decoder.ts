/**
 * What a trace shows of one MQTT packet: its type, size, packet id, topic,
 * QoS and flags, CONNECT's client id, keep-alive, clean flag, will topic and
 * username, CONNACK / SUBACK / MQTT 5 reason codes and properties, and the
 * payload's size (its first bytes only when asked).
 *
 * Decoding is mqtt-packet's (the parser the gateway already trusts for
 * CONNECT), run on the packet's head (assembler.ts): a large PUBLISH is
 * decoded from its first bytes, its true sizes taken from the fixed header.
 *
 * Secrets never leave this file: CONNECT's password and MQTT 5
 * authentication data (CONNECT, CONNACK, AUTH) become "(redacted)", whatever
 * the caller asks for; no raw bytes of a packet are ever handed on except a
 * PUBLISH payload prefix the viewer asked for.
 */
import type { Packet } from 'mqtt-packet'
import { parsePacket } from '../mqtt/parse-packet.js'
import { PacketType, varintSize, writeVarint } from '../wire/mqtt.js'
import type { PacketHead } from './assembler.js'
import { reasonName } from '../mqtt/reason-codes.js'

export const REDACTED = '(redacted)'

/** The fields of a packet event; which ones are set depends on the type. */
export interface PacketFacts {
  packet: string
  size: number
  id?: number
  topic?: string
  qos?: number
  retain?: boolean
  dup?: boolean
  payloadSize?: number
  /** The payload's first bytes, with a viewer that asked (`--payload`). */
  payload?: string
  payloadEncoding?: 'utf8' | 'hex'
  payloadTruncated?: boolean
  protocol?: string
  version?: number
  clientId?: string
  keepalive?: number
  clean?: boolean
  username?: string
  password?: string
  will?: { topic: string, qos: number, retain: boolean, payloadSize: number }
  sessionPresent?: boolean
  /** CONNACK return code (3.1.1) or reason code (5); PUBACK, DISCONNECT, AUTH... reason code (5). */
  code?: number
  codeName?: string
  subscriptions?: { topic: string, qos: number, nl?: boolean, rap?: boolean, rh?: number }[]
  granted?: { code: number, name: string }[]
  unsubscriptions?: string[]
  properties?: Record<string, unknown>
  /** Why the packet could not be decoded further than its fixed header. */
  undecoded?: string
}

export const PACKET_NAMES = ['RESERVED', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP',
  'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH'] as const

/** Largest payload prefix a viewer may ask for. */
export const MAX_PAYLOAD_PREFIX = 1024
/** Body bytes kept of each packet of a traced connection: room for a topic, properties and the prefix. */
export const TRACE_HEAD_LIMIT = 16 * 1024

export function packetType (first: number): number {
  return first >> 4
}

/** Facts of a packet whose head is `p`; `version` is the connection's MQTT version (4 until CONNECT says). */
export function describePacket (p: PacketHead, version: number, payloadBytes: number): PacketFacts {
  const type = packetType(p.first)
  const facts: PacketFacts = { packet: PACKET_NAMES[type] ?? 'RESERVED', size: p.size }
  if (type === PacketType.PUBLISH) publishFlags(facts, p.first)
  const truncated = p.head.length < p.bodySize
  if (truncated && type !== PacketType.PUBLISH) {
    facts.undecoded = `only the first ${p.head.length} of ${p.bodySize} bytes kept`
    return facts
  }
  const parsed = parseHead(p, version)
  if (parsed instanceof Error) {
    facts.undecoded = truncated ? `first ${p.head.length} bytes do not hold the topic and properties` : parsed.message
    return facts
  }
  addFields(facts, parsed as unknown as Loose, version, payloadBytes)
  if (type === PacketType.PUBLISH) facts.payloadSize = p.bodySize - (p.head.length - payloadLength(parsed))
  return facts
}

type Loose = Record<string, unknown>

function publishFlags (facts: PacketFacts, first: number): void {
  facts.qos = (first >> 1) & 0x03
  facts.retain = (first & 0x01) !== 0
  facts.dup = (first & 0x08) !== 0
}

function payloadLength (packet: Packet): number {
  const payload = (packet as unknown as Loose).payload
  return Buffer.isBuffer(payload) ? payload.length : typeof payload === 'string' ? Buffer.byteLength(payload) : 0
}

function addFields (facts: PacketFacts, packet: Loose, version: number, payloadBytes: number): void {
  switch (packet.cmd) {
    case 'connect': connectFields(facts, packet); break
    case 'connack':
      facts.sessionPresent = packet.sessionPresent === true
      setCode(facts, (packet.reasonCode ?? packet.returnCode) as number | undefined, version, 'connack')
      break
    case 'publish': publishFields(facts, packet, payloadBytes); break
    case 'subscribe':
      facts.id = packet.messageId as number
      facts.subscriptions = (packet.subscriptions as Loose[]).map(subscription)
      break
    case 'suback':
      facts.id = packet.messageId as number
      facts.granted = (packet.granted as unknown[]).map((g) => {
        const code = typeof g === 'number' ? g : (g as Loose).qos as number
        return { code, name: reasonName(code, version, 'suback') }
      })
      break
    case 'unsubscribe':
      facts.id = packet.messageId as number
      facts.unsubscriptions = packet.unsubscriptions as string[]
      break
    default:
      if (typeof packet.messageId === 'number') facts.id = packet.messageId
      setCode(facts, packet.reasonCode as number | undefined, version, String(packet.cmd))
  }
  const properties = cleanProperties(packet.properties)
  if (properties !== undefined) facts.properties = properties
}

function connectFields (facts: PacketFacts, packet: Loose): void {
  facts.protocol = packet.protocolId as string
  facts.version = packet.protocolVersion as number
  facts.clientId = packet.clientId as string
  facts.keepalive = packet.keepalive as number
  facts.clean = packet.clean as boolean
  if (typeof packet.username === 'string') facts.username = packet.username
  // [MQTT-3.1.3.5] the password: shown as present, never its bytes.
  if (packet.password !== undefined) facts.password = REDACTED
  const will = packet.will as Loose | undefined
  if (will !== undefined && will !== null) {
    facts.will = {
      topic: will.topic as string,
      qos: (will.qos as number | undefined) ?? 0,
      retain: will.retain === true,
      payloadSize: Buffer.isBuffer(will.payload) ? will.payload.length : Buffer.byteLength(String(will.payload ?? ''))
    }
  }
}

function publishFields (facts: PacketFacts, packet: Loose, payloadBytes: number): void {
  facts.topic = packet.topic as string
  if (typeof packet.messageId === 'number') facts.id = packet.messageId
  const payload = packet.payload
  if (payloadBytes <= 0 || !Buffer.isBuffer(payload) || payload.length === 0) return
  const shown = payloadPrefix(payload, Math.min(payloadBytes, MAX_PAYLOAD_PREFIX))
  facts.payload = shown.text
  facts.payloadEncoding = shown.encoding
  facts.payloadTruncated = shown.truncated
}

function subscription (s: Loose): { topic: string, qos: number, nl?: boolean, rap?: boolean, rh?: number } {
  const out: { topic: string, qos: number, nl?: boolean, rap?: boolean, rh?: number } = { topic: s.topic as string, qos: s.qos as number }
  if (s.nl !== undefined) out.nl = s.nl === true
  if (s.rap !== undefined) out.rap = s.rap === true
  if (s.rh !== undefined) out.rh = s.rh as number
  return out
}

function setCode (facts: PacketFacts, code: number | undefined, version: number, cmd: string): void {
  if (typeof code !== 'number') return
  facts.code = code
  facts.codeName = reasonName(code, version, cmd)
}

/** MQTT 5 properties as JSON: binary as hex, authentication data never. */
function cleanProperties (value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null || typeof value !== 'object') return undefined
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value as Loose)) {
    if (key === 'authenticationData') out[key] = REDACTED
    else out[key] = Buffer.isBuffer(v) ? v.toString('hex') : v
  }
  return Object.keys(out).length === 0 ? undefined : out
}

/** The first `max` bytes as UTF-8 when they are printable text, else hex. */
export function payloadPrefix (payload: Buffer, max: number): { text: string, encoding: 'utf8' | 'hex', truncated: boolean } {
  const truncated = payload.length > max
  let bytes = payload.subarray(0, max)
  // A cut inside a UTF-8 sequence is not a reason to show hex.
  if (truncated) bytes = bytes.subarray(0, utf8Boundary(bytes))
  const text = printableUtf8(bytes)
  if (text !== undefined) return { text, encoding: 'utf8', truncated }
  return { text: payload.subarray(0, max).toString('hex'), encoding: 'hex', truncated }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

function printableUtf8 (bytes: Buffer): string | undefined {
  let text: string
  try {
    text = strictUtf8.decode(bytes)
  } catch {
    return undefined
  }
  // Control characters other than tab and line breaks would garble a terminal.
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? undefined : text
}

/** Length of `bytes` without a trailing incomplete UTF-8 sequence. */
function utf8Boundary (bytes: Buffer): number {
  for (let back = 1; back <= 3 && back <= bytes.length; back++) {
    const byte = bytes[bytes.length - back] as number
    if ((byte & 0xc0) === 0x80) continue
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1
    return need > back ? bytes.length - back : bytes.length
  }
  return bytes.length
}

/** The packet rebuilt from its head (a PUBLISH cut short gets the head's length) and parsed. */
function parseHead (p: PacketHead, version: number): Packet | Error {
  const bytes = Buffer.allocUnsafe(1 + varintSize(p.head.length) + p.head.length)
  bytes[0] = p.first
  p.head.copy(bytes, writeVarint(bytes, 1, p.head.length))
  return parsePacket(bytes, version)
}

/**
 * The topics a packet names, read by hand for the topic watch of untraced
 * connections (no parser, no allocation but the strings): a PUBLISH's topic,
 * a SUBSCRIBE's filters.
 */
export function topicsOf (type: number, head: Buffer, version: number): string[] {
  if (type === PacketType.PUBLISH) {
    if (head.length < 2) return []
    const length = head.readUInt16BE(0)
    return head.length >= 2 + length && length > 0 ? [head.toString('utf8', 2, 2 + length)] : []
  }
  if (type !== PacketType.SUBSCRIBE) return []
  let pos = 2
  if (version === 5) pos = skipProperties(head, pos)
  const filters: string[] = []
  while (pos >= 0 && pos + 2 <= head.length) {
    const length = head.readUInt16BE(pos)
    if (pos + 2 + length > head.length) break
    filters.push(head.toString('utf8', pos + 2, pos + 2 + length))
    pos += 3 + length
  }
  return filters
}

function skipProperties (head: Buffer, pos: number): number {
  let length = 0
  let multiplier = 1
  for (let i = 0; i < 4 && pos < head.length; i++) {
    const byte = head[pos++] as number
    length += (byte & 0x7f) * multiplier
    multiplier *= 128
    if ((byte & 0x80) === 0) return pos + length
  }
  return -1
}

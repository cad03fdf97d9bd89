/**
 * Tiny MQTT 3.1.1 / 5 encoders for the load tool.
 *
 * Only what the bench sends: CONNECT, SUBSCRIBE, PUBLISH, the four QoS
 * acknowledgements, PINGREQ and DISCONNECT, and the reflector's replies
 * (CONNACK, SUBACK, PINGRESP), with no v5 properties. Hand-made
 * rather than mqtt-packet's `generate` so the hot packets (PUBLISH, acks) can
 * be written straight into a caller's buffer without an object per message.
 * Packet types and the remaining length's encoding are the gateway's shared
 * wire code (src/wire/mqtt.ts).
 */
import { PacketType, varintSize, writeVarint } from '../../src/wire/index.js'

/** MQTT protocol level: 4 is 3.1.1, 5 is 5.0. */
export type ProtocolVersion = 4 | 5
export type QoS = 0 | 1 | 2

/** First bytes of the acknowledgements; PUBREL has flags 0b0010 [MQTT-3.6.1-1]. */
export const AckByte = {
  PUBACK: 0x40,
  PUBREC: 0x50,
  PUBREL: 0x62,
  PUBCOMP: 0x70
} as const

export const PINGREQ: Buffer = Buffer.from([PacketType.PINGREQ << 4, 0x00])
// A v5 DISCONNECT with remaining length 0 means reason 0x00, normal disconnection [MQTT-3.14.2.1].
export const DISCONNECT: Buffer = Buffer.from([PacketType.DISCONNECT << 4, 0x00])
export const PINGRESP: Buffer = Buffer.from([PacketType.PINGRESP << 4, 0x00])

/** Writes a UTF-8 string with its 2-byte length prefix; returns the offset after it. */
function writeString (buf: Buffer, offset: number, value: Buffer): number {
  buf.writeUInt16BE(value.length, offset)
  value.copy(buf, offset + 2)
  return offset + 2 + value.length
}

function utf8 (value: string, what: string): Buffer {
  const bytes = Buffer.from(value, 'utf8')
  if (bytes.length > 0xffff) throw new RangeError(`${what} is longer than 65,535 bytes`)
  return bytes
}

/** A packet buffer with its fixed header written; `offset` is where the body starts. */
function startPacket (firstByte: number, bodyLength: number): { buf: Buffer, offset: number } {
  const size = 1 + varintSize(bodyLength) + bodyLength
  const buf = Buffer.allocUnsafe(size)
  buf[0] = firstByte
  return { buf, offset: writeVarint(buf, 1, bodyLength) }
}

export interface ConnectFields {
  clientId: string
  version: ProtocolVersion
  keepalive: number
  clean: boolean
  username?: string
  password?: string
}

export function encodeConnect (fields: ConnectFields): Buffer {
  const clientId = utf8(fields.clientId, 'client id')
  const username = fields.username === undefined ? undefined : utf8(fields.username, 'username')
  const password = fields.password === undefined ? undefined : utf8(fields.password, 'password')
  const v5 = fields.version === 5
  // "MQTT" + level + flags + keep-alive (+ empty v5 property length).
  let bodyLength = 6 + 1 + 1 + 2 + (v5 ? 1 : 0) + 2 + clientId.length
  if (username !== undefined) bodyLength += 2 + username.length
  if (password !== undefined) bodyLength += 2 + password.length
  const { buf, offset: start } = startPacket(0x10, bodyLength)
  let offset = writeString(buf, start, Buffer.from('MQTT'))
  buf[offset++] = fields.version
  buf[offset++] = connectFlags(fields.clean, username !== undefined, password !== undefined)
  buf.writeUInt16BE(fields.keepalive, offset)
  offset += 2
  if (v5) buf[offset++] = 0
  offset = writeString(buf, offset, clientId)
  if (username !== undefined) offset = writeString(buf, offset, username)
  if (password !== undefined) writeString(buf, offset, password)
  return buf
}

function connectFlags (clean: boolean, hasUsername: boolean, hasPassword: boolean): number {
  return (hasUsername ? 0x80 : 0) | (hasPassword ? 0x40 : 0) | (clean ? 0x02 : 0)
}

export interface Subscription {
  topic: string
  qos: QoS
}

export function encodeSubscribe (packetId: number, subscriptions: readonly Subscription[], version: ProtocolVersion): Buffer {
  const topics = subscriptions.map(s => utf8(s.topic, 'topic filter'))
  let bodyLength = 2 + (version === 5 ? 1 : 0)
  for (const topic of topics) bodyLength += 2 + topic.length + 1
  // SUBSCRIBE has the reserved flags 0b0010 [MQTT-3.8.1-1].
  const { buf, offset: start } = startPacket(0x82, bodyLength)
  buf.writeUInt16BE(packetId, start)
  let offset = start + 2
  if (version === 5) buf[offset++] = 0
  topics.forEach((topic, i) => {
    offset = writeString(buf, offset, topic)
    // v5 options: No Local, Retain As Published and Retain Handling all 0, so an
    // echo client receives its own messages as a 3.1.1 client does.
    buf[offset++] = subscriptions[i]?.qos ?? 0
  })
  return buf
}

export interface PublishFields {
  topic: string
  qos: QoS
  packetId: number
  payload: Buffer
  version: ProtocolVersion
  dup?: boolean
  retain?: boolean
}

/** Where the mutable parts of an encoded PUBLISH sit, for patching a template. */
export interface PublishLayout {
  /** Offset of the 2-byte packet identifier, or -1 at QoS 0. */
  packetIdOffset: number
  /** Offset of the first payload byte. */
  payloadOffset: number
}

export function encodePublish (fields: PublishFields): { packet: Buffer, layout: PublishLayout } {
  const topic = utf8(fields.topic, 'topic')
  const idLength = fields.qos > 0 ? 2 : 0
  const bodyLength = 2 + topic.length + idLength + (fields.version === 5 ? 1 : 0) + fields.payload.length
  const firstByte = 0x30 | (fields.dup === true ? 0x08 : 0) | (fields.qos << 1) | (fields.retain === true ? 1 : 0)
  const { buf, offset: start } = startPacket(firstByte, bodyLength)
  let offset = writeString(buf, start, topic)
  const packetIdOffset = idLength > 0 ? offset : -1
  if (idLength > 0) {
    buf.writeUInt16BE(fields.packetId, offset)
    offset += 2
  }
  if (fields.version === 5) buf[offset++] = 0
  fields.payload.copy(buf, offset)
  return { packet: buf, layout: { packetIdOffset, payloadOffset: offset } }
}

/**
 * Writes a 4-byte acknowledgement (PUBACK, PUBREC, PUBREL or PUBCOMP) at
 * `offset`. In v5 a remaining length of 2 means reason code 0x00, Success,
 * and no properties [MQTT-3.4.2.1], so one form serves both versions.
 */
export function writeAck (buf: Buffer, offset: number, firstByte: number, packetId: number): number {
  buf[offset] = firstByte
  buf[offset + 1] = 2
  buf.writeUInt16BE(packetId, offset + 2)
  return offset + 4
}

export function encodeAck (firstByte: number, packetId: number): Buffer {
  const buf = Buffer.allocUnsafe(4)
  writeAck(buf, 0, firstByte, packetId)
  return buf
}

/**
 * CONNACK accepting a clean session: 3.1.1 `20 02 00 00`; v5 adds an empty
 * property length, `20 03 00 00 00` [MQTT-3.2.2.3].
 */
export function encodeConnack (version: ProtocolVersion): Buffer {
  return Buffer.from(version === 5 ? [0x20, 0x03, 0x00, 0x00, 0x00] : [0x20, 0x02, 0x00, 0x00])
}

/**
 * SUBACK granting QoS 0 to each of `filters` topic filters, one code per
 * filter in order [MQTT-3.9.3-1]; v5 has an empty property length before them.
 */
export function encodeSuback (packetId: number, filters: number, version: ProtocolVersion): Buffer {
  const propertyLength = version === 5 ? 1 : 0
  const { buf, offset } = startPacket(0x90, 2 + propertyLength + filters)
  buf.writeUInt16BE(packetId, offset)
  // The property length (v5) and every granted QoS are 0.
  buf.fill(0, offset + 2)
  return buf
}

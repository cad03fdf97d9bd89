/**
 * Readers for the few packet bodies the load tool looks into: CONNACK, SUBACK,
 * the acknowledgements and the start of PUBLISH, and for the reflector the
 * protocol level of CONNECT and the filters of SUBSCRIBE. Each takes a body
 * as the splitter hands it over (buffer, start, available bytes).
 */
import { decodeVarint } from '../../src/wire/index.js'
import type { ProtocolVersion } from './mqtt-encode.js'

export interface Connack {
  sessionPresent: boolean
  /** 3.1.1 return code or v5 reason code; 0 is success. */
  code: number
  /** v5 Receive Maximum: most unacknowledged QoS 1/2 PUBLISHes the server takes (65,535 when absent). */
  receiveMaximum: number
}

/** Reads a variable byte integer; returns value and bytes used, or undefined when cut short or malformed. */
export function readVarint (buf: Buffer, offset: number, end: number): { value: number, size: number } | undefined {
  const read = { value: 0, size: 0 }
  read.size = decodeVarint(buf, offset, end, read)
  return read.size > 0 ? read : undefined
}

const RECEIVE_MAXIMUM = 0x21

export function readConnack (buf: Buffer, start: number, available: number, version: ProtocolVersion): Connack {
  if (available < 2) throw new RangeError('CONNACK shorter than 2 bytes')
  const connack = { sessionPresent: (buf[start]! & 1) === 1, code: buf[start + 1]!, receiveMaximum: 65_535 }
  if (version === 5 && available > 2) connack.receiveMaximum = findReceiveMaximum(buf, start + 2, start + available)
  return connack
}

/**
 * Scans CONNACK properties for Receive Maximum. Property ids are followed by
 * values of fixed or prefixed length; only the kinds CONNACK may carry appear.
 */
function findReceiveMaximum (buf: Buffer, offset: number, end: number): number {
  const header = readVarint(buf, offset, end)
  if (header === undefined) return 65_535
  let pos = offset + header.size
  const stop = Math.min(end, pos + header.value)
  while (pos < stop) {
    const id = buf[pos++]!
    if (id === RECEIVE_MAXIMUM) return buf.readUInt16BE(pos)
    const size = propertyValueSize(id, buf, pos, stop)
    if (size < 0) break
    pos += size
  }
  return 65_535
}

/** Bytes of a property value by its id (MQTT 5 table 2-4), or -1 for an unknown id. */
function propertyValueSize (id: number, buf: Buffer, pos: number, stop: number): number {
  switch (id) {
    case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2a:
      return 1
    case 0x13: case 0x21: case 0x22: case 0x23:
      return 2
    case 0x02: case 0x11: case 0x18: case 0x27:
      return 4
    case 0x0b:
      return readVarint(buf, pos, stop)?.size ?? -1
    case 0x03: case 0x08: case 0x09: case 0x12: case 0x15: case 0x16: case 0x1a: case 0x1c: case 0x1f:
      return 2 + buf.readUInt16BE(pos)
    case 0x26:
      return 4 + buf.readUInt16BE(pos) + buf.readUInt16BE(pos + 2 + buf.readUInt16BE(pos))
    default:
      return -1
  }
}

export interface Suback {
  packetId: number
  /** One return / reason code per filter; 0x80 and above are failures. */
  codes: number[]
}

export function readSuback (buf: Buffer, start: number, available: number, version: ProtocolVersion): Suback {
  const packetId = buf.readUInt16BE(start)
  let pos = start + 2
  const end = start + available
  if (version === 5) {
    const props = readVarint(buf, pos, end)
    if (props === undefined) throw new RangeError('SUBACK property length cut short')
    pos += props.size + props.value
  }
  const codes: number[] = []
  for (; pos < end; pos++) codes.push(buf[pos]!)
  return { packetId, codes }
}

/**
 * Packet id of an acknowledgement and its v5 reason code (0 when the packet
 * stops after the id, which means Success [MQTT-3.4.2.1]).
 */
export function readAck (buf: Buffer, start: number, available: number): { packetId: number, reason: number } {
  return { packetId: buf.readUInt16BE(start), reason: available > 2 ? buf[start + 2]! : 0 }
}

/** Offset of a PUBLISH payload inside its body, and its packet id (0 at QoS 0); -1 when cut short. */
export interface PublishStart {
  packetId: number
  payloadOffset: number
}

export function readPublishStart (firstByte: number, buf: Buffer, start: number, available: number, version: ProtocolVersion, out: PublishStart): void {
  const end = start + available
  let pos = start + 2 + buf.readUInt16BE(start)
  out.packetId = 0
  if ((firstByte & 0x06) !== 0) {
    out.packetId = buf.readUInt16BE(pos)
    pos += 2
  }
  if (version === 5) {
    const props = readVarint(buf, pos, end)
    if (props === undefined) {
      out.payloadOffset = -1
      return
    }
    pos += props.size + props.value
  }
  out.payloadOffset = pos
}

/**
 * Protocol level of a CONNECT: the byte after the protocol name, 4 for
 * 3.1.1 ("MQTT"), 5 for v5, 3 for 3.1 ("MQIsdp") [MQTT-3.1.2-1, 3.1.2.2].
 */
export function readConnectLevel (buf: Buffer, start: number, available: number): number {
  if (available < 2) throw new RangeError('CONNECT shorter than its protocol name')
  const at = start + 2 + buf.readUInt16BE(start)
  if (at >= start + available) throw new RangeError('CONNECT cut short before its protocol level')
  return buf[at]!
}

/** Packet id of a SUBSCRIBE and how many topic filters it carries (each: 2-byte length, filter, options byte). */
export function readSubscribe (buf: Buffer, start: number, available: number, version: ProtocolVersion): { packetId: number, filters: number } {
  if (available < 2) throw new RangeError('SUBSCRIBE shorter than its packet id')
  const end = start + available
  const packetId = buf.readUInt16BE(start)
  let pos = start + 2
  if (version === 5) {
    const props = readVarint(buf, pos, end)
    if (props === undefined) throw new RangeError('SUBSCRIBE property length cut short')
    pos += props.size + props.value
  }
  let filters = 0
  for (; pos + 2 <= end; filters++) pos += 2 + buf.readUInt16BE(pos) + 1
  // [MQTT-3.8.3-3] a SUBSCRIBE carries at least one filter.
  if (filters === 0 || pos > end) throw new RangeError('SUBSCRIBE with no whole topic filter')
  return { packetId, filters }
}

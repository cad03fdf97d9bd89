/**
 * What the gateway reads of MQTT: the first packet from each side.
 *
 * The client's CONNECT gives the client id (for takeover and logs) and the
 * protocol version; the broker's CONNACK gives the result code (for logs).
 * After these two packets the gateway is a plain byte pipe.
 */
import type { IConnectPacket, Packet } from 'mqtt-packet'
import { MalformedPacketError } from '../errors.js'
import { firstPacketSize } from './packet-scanner.js'
import { parsePacket } from './parse-packet.js'

export interface ConnectInfo {
  clientId: string
  /** 3 = MQTT 3.1, 4 = MQTT 3.1.1, 5 = MQTT 5. */
  protocolVersion: 3 | 4 | 5
  keepalive: number
  clean: boolean
  username: string | undefined
}

/**
 * Parses one complete packet that must be a CONNECT. Uses mqtt-packet's
 * parser, which validates every field; this runs once per connection.
 */
export function parseConnect (packet: Buffer): ConnectInfo {
  const parsed = parseOne(packet)
  if (parsed.cmd !== 'connect') {
    throw new MalformedPacketError(`first packet must be CONNECT [MQTT-3.1.0-1], got ${parsed.cmd.toUpperCase()}`)
  }
  const connect = parsed as IConnectPacket
  return {
    clientId: connect.clientId,
    protocolVersion: connect.protocolVersion ?? 4,
    keepalive: connect.keepalive ?? 0,
    clean: connect.clean ?? true,
    username: connect.username
  }
}

function parseOne (bytes: Buffer): Packet {
  // Exactly one packet, as the shared parser needs.
  const size = firstPacketSize(bytes)
  if (size !== bytes.length) {
    throw new MalformedPacketError(size < 0 ? 'incomplete or malformed packet' : `${bytes.length - size} bytes after the packet`)
  }
  const packet = parsePacket(bytes)
  if (packet instanceof MalformedPacketError) throw packet
  if (packet instanceof Error) throw new MalformedPacketError(packet.message)
  return packet
}

/** CONNACK's return code (3.1.1) or reason code (5), or undefined if `packet` is not a CONNACK. */
export function connackCode (packet: Uint8Array): number | undefined {
  if (packet[0] !== 0x20) return undefined
  // Skip the remaining-length varint, then the acknowledge-flags byte.
  let pos = 1
  while (pos < packet.length && ((packet[pos] as number) & 0x80) !== 0) pos++
  return packet[pos + 2]
}

/**
 * What a broker sends an MQTT 5 client whose session another connection took
 * over: DISCONNECT with reason 0x8E "Session taken over" [MQTT-3.1.4-3].
 * MQTT 3.1.1 has no such packet; those clients just see the close.
 */
export const DISCONNECT_SESSION_TAKEN_OVER = Buffer.from([0xe0, 0x01, 0x8e])

/** MQTT 5 reason 0x8E "Session taken over" [MQTT 5 §3.14.2.1]. */
export const REASON_SESSION_TAKEN_OVER = 0x8e

/**
 * MQTT 5: the reason code of the DISCONNECT that ends `packets` (whole
 * packets, as the bridge sends them to the client in one message), or
 * undefined when the last packet is not a DISCONNECT. A DISCONNECT without
 * a reason byte means 0x00, normal disconnection [MQTT 5 §3.14.2.1]. The
 * bridge asks only when the broker's last packet was a DISCONNECT: once per
 * connection at most.
 */
export function lastDisconnectReason (packets: Buffer): number | undefined {
  let start = -1
  for (let pos = 0; pos < packets.length;) {
    const size = firstPacketSize(packets.subarray(pos))
    if (size <= 0 || pos + size > packets.length) return undefined
    start = pos
    pos += size
  }
  if (start < 0 || (packets[start] as number) >> 4 !== 14) return undefined
  const size = firstPacketSize(packets.subarray(start))
  let header = 2
  while (header < 5 && ((packets[start + header - 1] as number) & 0x80) !== 0) header++
  return size > header ? packets[start + header] : 0
}

/**
 * The CONNACK a broker that is down would send, when the gateway finds no
 * broker for a client that has already CONNECTed: return code 3 "Server
 * unavailable" (3.1 and 3.1.1) or reason 0x88 "Server unavailable" (5).
 * Clients report it as such and back off, instead of treating a bare close
 * as a network fault and reconnecting at once.
 */
export function connackServerUnavailable (protocolVersion: number): Buffer {
  return protocolVersion === 5
    ? Buffer.from([0x20, 0x03, 0x00, 0x88, 0x00])
    : Buffer.from([0x20, 0x02, 0x00, 0x03])
}

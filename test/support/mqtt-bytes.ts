/**
 * MQTT packets as bytes, for raw-client tests.
 */
import mqttPacket from 'mqtt-packet'
import type { Packet } from 'mqtt-packet'

export function encode (packet: Record<string, unknown>, protocolVersion = 4): Buffer {
  return mqttPacket.generate(packet as unknown as Packet, { protocolVersion })
}

export function connectPacket (clientId: string, protocolVersion: 4 | 5 = 4, keepalive = 60): Buffer {
  return encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clientId, clean: true, keepalive }, protocolVersion)
}

export function publishPacket (topic: string, payload: Buffer | string, protocolVersion = 4): Buffer {
  return encode({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }, protocolVersion)
}

export function subscribePacket (topic: string, messageId = 1, protocolVersion = 4): Buffer {
  return encode({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos: 0 }] }, protocolVersion)
}

/** Parses a byte stream into packets; throws if it does not end on a packet boundary. */
export function parseAll (bytes: Buffer, protocolVersion = 4): Packet[] {
  const parser = mqttPacket.parser({ protocolVersion })
  const packets: Packet[] = []
  parser.on('packet', (p: Packet) => packets.push(p))
  parser.on('error', (err: Error) => { throw err })
  const left = parser.parse(bytes)
  if (left !== 0) throw new Error(`${left} bytes left: not aligned on a packet boundary`)
  return packets
}

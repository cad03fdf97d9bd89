/**
 * A raw MQTT client over TCP for tests that must control every byte: which
 * packets go out together in one write, and whether each message is
 * acknowledged at once.
 */
import net from 'node:net'
import { once } from 'node:events'
import mqttPacket from 'mqtt-packet'
import type { Packet } from 'mqtt-packet'
import { waitUntil } from './wait.js'

export interface RawMqtt {
  /** Every packet received, in order. */
  readonly packets: Packet[]
  readonly closed: boolean
  /** Writes these packets in one write() call: they reach the broker in one read. */
  send: (...packets: Record<string, unknown>[]) => void
  /** Waits until `check()` holds. */
  until: (check: () => boolean, ms: number, what: string) => Promise<void>
  /** Packets of one kind received so far. */
  received: (cmd: string) => Packet[]
  destroy: () => void
}

export interface RawMqttOptions {
  clientId: string
  clean: boolean
  /** Acknowledge each PUBLISH (PUBACK or PUBREC) and PUBREL (PUBCOMP) as it arrives. */
  autoAck?: boolean
}

function encode (packet: Record<string, unknown>): Buffer {
  return mqttPacket.generate(packet as unknown as Packet, { protocolVersion: 4 })
}

function answer (packet: Packet): Record<string, unknown> | undefined {
  if (packet.cmd === 'publish' && packet.qos === 1) return { cmd: 'puback', messageId: packet.messageId }
  if (packet.cmd === 'publish' && packet.qos === 2) return { cmd: 'pubrec', messageId: packet.messageId }
  if (packet.cmd === 'pubrel') return { cmd: 'pubcomp', messageId: packet.messageId }
  return undefined
}

/** Connects over TCP, sends CONNECT, resolves once the CONNACK has arrived. */
export async function connectRawMqtt (port: number, options: RawMqttOptions): Promise<RawMqtt> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true })
  socket.on('error', () => {})
  const packets: Packet[] = []
  let closed = false
  socket.once('close', () => { closed = true })
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  parser.on('packet', (packet: Packet) => {
    packets.push(packet)
    const reply = options.autoAck === true ? answer(packet) : undefined
    if (reply !== undefined && !socket.destroyed) socket.write(encode(reply))
  })
  socket.on('data', (chunk: Buffer) => parser.parse(chunk))
  await once(socket, 'connect')
  const client: RawMqtt = {
    packets,
    get closed () { return closed },
    send: (...out) => { socket.write(Buffer.concat(out.map(encode))) },
    until: async (check, ms, what) => { await waitUntil(check, ms, what, 5) },
    received: (cmd) => packets.filter((p) => p.cmd === cmd),
    destroy: () => { socket.destroy() }
  }
  client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: options.clientId, clean: options.clean, keepalive: 60 })
  await client.until(() => packets.some((p) => p.cmd === 'connack') || closed, 3000, `CONNACK for ${options.clientId}`)
  return client
}

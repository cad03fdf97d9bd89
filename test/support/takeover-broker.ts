/**
 * A stand-in MQTT 5 broker that does exactly what [MQTT-3.1.4-3] asks of a
 * real one when a client id connects again: DISCONNECT 0x8E "Session taken
 * over" to the existing connection, then close it. EMQX, HiveMQ, VerneMQ and
 * Mosquitto from 2.0.15 do so; Debian 12's Mosquitto 2.0.11 closes without
 * a word (eclipse-mosquitto/mosquitto#2607) and Aedes speaks MQTT 3.1.1 only,
 * so the tests of the gateway's side use this. Real TCP on loopback; it
 * answers CONNECT, SUBSCRIBE and PINGREQ, and ignores everything else; a
 * test may also make it end a connection with another DISCONNECT reason.
 */
import { once } from 'node:events'
import net from 'node:net'
import mqttPacket from 'mqtt-packet'
import type { IConnectPacket, ISubscribePacket, Packet } from 'mqtt-packet'

export interface TakeoverBroker {
  url: string
  /** Connections open now, by client id. */
  readonly connected: ReadonlyMap<string, net.Socket>
  /** Ends a client's connection as a broker going away does: DISCONNECT with `reasonCode`, then close. */
  disconnect: (clientId: string, reasonCode: number) => void
  close: () => Promise<void>
}

const V5 = { protocolVersion: 5 } as const

export async function startTakeoverBroker (): Promise<TakeoverBroker> {
  const connected = new Map<string, net.Socket>()
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => {
      sockets.delete(socket)
      for (const [id, s] of connected) if (s === socket) connected.delete(id)
    })
    const parser = mqttPacket.parser(V5)
    parser.on('packet', (packet: Packet) => answer(socket, packet))
    parser.on('error', () => socket.destroy())
    socket.on('data', (chunk: Buffer) => parser.parse(chunk))
  })

  function answer (socket: net.Socket, packet: Packet): void {
    switch (packet.cmd) {
      case 'connect': {
        const { clientId } = packet as IConnectPacket
        const previous = connected.get(clientId)
        if (previous !== undefined) {
          previous.end(mqttPacket.generate({ cmd: 'disconnect', reasonCode: 0x8e }, V5))
        }
        connected.set(clientId, socket)
        socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false }, V5))
        return
      }
      case 'subscribe': {
        const { messageId, subscriptions } = packet as ISubscribePacket
        socket.write(mqttPacket.generate({ cmd: 'suback', messageId, granted: subscriptions.map((s) => s.qos) }, V5))
        return
      }
      case 'pingreq':
        socket.write(mqttPacket.generate({ cmd: 'pingresp' }, V5))
        return
      case 'disconnect':
        socket.end()
    }
  }

  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connected,
    disconnect: (clientId, reasonCode) => connected.get(clientId)?.end(mqttPacket.generate({ cmd: 'disconnect', reasonCode }, V5)),
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

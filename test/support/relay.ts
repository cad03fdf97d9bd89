/**
 * A TCP relay between a test client and its server that can kill the
 * connection the ways a network does: a clean close (FIN both ways), a reset
 * (RST both ways), or a vanish (the client's side goes, the server is told
 * nothing and its socket simply stops being read, as when a phone's NAT
 * mapping or Wi-Fi disappears). It relays bytes only, so it serves mqtt://
 * and ws:// alike.
 */
import net from 'node:net'
import { once } from 'node:events'

export type KillMode = 'vanish' | 'rst' | 'close'
export const KILL_MODES: readonly KillMode[] = ['vanish', 'rst', 'close']

export interface RelayedConnection {
  readonly client: net.Socket
  readonly server: net.Socket
}

export interface Relay {
  readonly port: number
  /** Rewrites `url`'s port to the relay's: `ws://127.0.0.1:PORT/mqtt`, `mqtt://127.0.0.1:PORT`. */
  via: (url: string) => string
  /** Kills every live relayed connection in `mode`. */
  killAll: (mode: KillMode) => void
  /** Live relayed connections (vanished ones excluded). */
  readonly connections: number
  /** Closes the listener and destroys every socket it still holds, vanished ones included. */
  close: () => Promise<void>
}

function pipeBoth (pair: RelayedConnection): void {
  const { client, server } = pair
  client.on('data', (chunk: Buffer) => { if (!server.write(chunk)) client.pause() })
  server.on('drain', () => client.resume())
  server.on('data', (chunk: Buffer) => { if (!client.write(chunk)) server.pause() })
  client.on('drain', () => server.resume())
  client.on('end', () => server.end())
  server.on('end', () => client.end())
  // An RST on one side is passed on as an RST, a close as a close.
  client.on('error', () => { if (!server.destroyed) server.resetAndDestroy() })
  server.on('error', () => { if (!client.destroyed) client.resetAndDestroy() })
  client.on('close', () => server.destroy())
  server.on('close', () => client.destroy())
}

function kill (pair: RelayedConnection, mode: KillMode): void {
  const { client, server } = pair
  if (mode === 'rst') {
    client.resetAndDestroy()
    server.resetAndDestroy()
  } else if (mode === 'close') {
    client.removeAllListeners('data')
    server.removeAllListeners('data')
    client.end()
    server.end()
    client.destroySoon()
    server.destroySoon()
  } else {
    // The server must see nothing: no FIN, no RST, no more reads.
    client.removeAllListeners('close')
    client.removeAllListeners('error')
    client.on('error', () => {})
    server.removeAllListeners('data')
    server.removeAllListeners('end')
    server.removeAllListeners('close')
    server.pause()
    client.resetAndDestroy()
  }
}

export async function startRelay (targetPort: number, targetHost = '127.0.0.1'): Promise<Relay> {
  const live = new Set<RelayedConnection>()
  const held = new Set<net.Socket>()
  const server = net.createServer({ noDelay: true }, (client) => {
    client.pause()
    const upstream = net.connect({ port: targetPort, host: targetHost, noDelay: true }, () => client.resume())
    const pair = { client, server: upstream }
    live.add(pair)
    held.add(upstream)
    client.on('close', () => live.delete(pair))
    upstream.on('close', () => { live.delete(pair); held.delete(upstream) })
    pipeBoth(pair)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    via: (url) => {
      const u = new URL(url)
      u.port = String(port)
      return u.toString()
    },
    killAll: (mode) => {
      for (const pair of live) kill(pair, mode)
      live.clear()
    },
    get connections () { return live.size },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const pair of live) { pair.client.destroy(); pair.server.destroy() }
      for (const socket of held) socket.destroy()
      await closed
    }
  }
}

/**
 * An Aedes broker on a real TCP port, for upstream tests that need to stop
 * or inspect the broker (the gateway's embedded broker is in-process).
 */
import net from 'node:net'
import { once } from 'node:events'
import { Aedes } from 'aedes'
import { duplexPair } from '../../src/upstream/duplex-pair.js'

export interface TcpBroker {
  broker: Aedes
  url: string
  port: number
  /** Closes the listener and every client socket (a broker crash, as seen from the network). */
  kill: () => Promise<void>
  /** Resets every client connection (TCP RST): a broker that crashed. */
  resetAll: () => void
  /** Stops reading from every client for `ms`: a broker that falls behind. */
  pauseReads: (ms: number) => void
}

/**
 * Aedes reads with 'readable' events, which pause() does not stop; an
 * in-process relay reading with 'data' events lets a test stall the broker.
 */
function relay (socket: net.Socket): import('node:stream').Duplex {
  const [ours, theirs] = duplexPair()
  socket.on('data', (chunk: Buffer) => ours.write(chunk))
  ours.on('data', (chunk: Buffer) => socket.write(chunk))
  let ended = false
  socket.on('end', () => { ended = true; ours.end() })
  ours.on('end', () => socket.end())
  // After a clean close ('end' first) the relay hands over what it holds;
  // a socket destroyed without one must not leave Aedes a client whose
  // 30-second CONNECT timer keeps the test process alive.
  socket.on('close', () => { if (!ended) ours.destroy() })
  ours.on('close', () => socket.destroy())
  ours.on('error', () => {})
  return theirs
}

export async function startTcpBroker (port = 0): Promise<TcpBroker> {
  const broker = await Aedes.createBroker()
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    broker.handle(relay(socket))
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const bound = (server.address() as net.AddressInfo).port
  let killed = false
  const kill = async (): Promise<void> => {
    if (killed) return
    killed = true
    server.close()
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => broker.close(() => resolve()))
  }
  const pauseReads = (ms: number): void => {
    for (const s of sockets) {
      s.pause()
      setTimeout(() => s.resume(), ms)
    }
  }
  const resetAll = (): void => {
    for (const s of sockets) s.resetAndDestroy()
  }
  return { broker, url: `mqtt://127.0.0.1:${bound}`, port: bound, kill, pauseReads, resetAll }
}

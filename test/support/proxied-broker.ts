/**
 * A broker that insists on a PROXY protocol header, as Mosquitto 2.1 or EMQX
 * do with theirs turned on: it records each connection's header (whole, as
 * received), then speaks MQTT (Aedes) on the bytes after it.
 */
import { once } from 'node:events'
import net from 'node:net'
import { Aedes } from 'aedes'
import { duplexPair } from '../../src/upstream/duplex-pair.js'

export interface ProxiedBroker {
  /** mqtt://127.0.0.1:PORT */
  url: string
  /** Each connection's header, in the order they came. */
  headers: Buffer[]
  close: () => Promise<void>
}

/** Length of the header at the start of `buf` (v1 line or v2 block), once it is all there. */
function headerSize (buf: Buffer): number | undefined {
  if (buf.subarray(0, 6).toString('latin1') === 'PROXY ') {
    const end = buf.indexOf('\r\n')
    return end === -1 ? undefined : end + 2
  }
  if (buf.length < 16) return undefined
  const size = 16 + buf.readUInt16BE(14)
  return buf.length >= size ? size : undefined
}

export async function proxiedBroker (): Promise<ProxiedBroker> {
  const aedes = await Aedes.createBroker()
  const headers: Buffer[] = []
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    let buffered = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk])
      const size = headerSize(buffered)
      if (size === undefined) return
      socket.removeListener('data', onData)
      headers.push(buffered.subarray(0, size))
      const [ours, theirs] = duplexPair()
      aedes.handle(theirs)
      ours.on('data', (d: Buffer) => socket.write(d))
      socket.on('data', (d: Buffer) => ours.write(d))
      socket.on('close', () => ours.destroy())
      if (buffered.length > size) ours.write(buffered.subarray(size))
    }
    socket.on('data', onData)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    headers,
    close: async () => {
      server.close()
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
    }
  }
}

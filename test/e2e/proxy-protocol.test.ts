/**
 * PROXY protocol towards the broker: each upstream connection starts with a
 * header carrying the real client address, checked here by an independent
 * parser (proxy-protocol-js) on a test TCP endpoint in front of Aedes.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import mqtt from 'mqtt'
import { Aedes } from 'aedes'
import { V1ProxyProtocol, V2ProxyProtocol } from 'proxy-protocol-js'
import type { IPv4ProxyAddress } from 'proxy-protocol-js'
import { createGateway } from '../../src/index.js'
import { duplexPair } from '../../src/upstream/duplex-pair.js'
import { createPki } from './support/certs.js'
import type { TestPki } from './support/certs.js'

interface Seen { raw: Buffer }

/** A broker that insists on a PROXY header: it records it, then speaks MQTT. */
async function proxiedBroker (): Promise<{ url: string, headers: Seen[], close: () => Promise<void> }> {
  const aedes = await Aedes.createBroker()
  const headers: Seen[] = []
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    let buffered = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk])
      const size = headerSize(buffered)
      if (size === undefined) return
      socket.removeListener('data', onData)
      headers.push({ raw: buffered.subarray(0, size) })
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

function headerSize (buf: Buffer): number | undefined {
  if (buf.subarray(0, 6).toString('latin1') === 'PROXY ') {
    const end = buf.indexOf('\r\n')
    return end === -1 ? undefined : end + 2
  }
  if (buf.length < 16) return undefined
  const size = 16 + buf.readUInt16BE(14)
  return buf.length >= size ? size : undefined
}

async function roundTrip (url: string, options: mqtt.IClientOptions = {}): Promise<void> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...options })
  await client.subscribeAsync('pp')
  const got = new Promise<void>((resolve) => client.once('message', () => resolve()))
  await client.publishAsync('pp', 'x')
  await got
  await client.endAsync()
}

let pki: TestPki
before(() => { pki = createPki() })
after(() => pki.remove())

describe('PROXY protocol to the broker', () => {
  it('v1: the trusted-proxy-resolved client address, in a header a real parser reads', async (t) => {
    const broker = await proxiedBroker()
    t.after(() => broker.close())
    const gateway = createGateway({ host: '127.0.0.1', port: 0, upstream: broker.url, upstreamProxyProtocol: 'v1', trustedProxies: ['127.0.0.1'], adminPort: 0, logLevel: 'silent' })
    const { url, port } = await gateway.listen()
    t.after(() => gateway.close())
    await roundTrip(url, { wsOptions: { headers: { 'X-Forwarded-For': '203.0.113.9' } } })
    const parsed = V1ProxyProtocol.parse((broker.headers[0] as Seen).raw.toString('latin1'))
    assert.equal(parsed.inetProtocol, 'TCP4')
    assert.equal(parsed.source.ipAddress, '203.0.113.9')
    assert.equal(parsed.destination.ipAddress, '127.0.0.1')
    assert.equal(parsed.destination.port, port)
  })

  it('v2 over wss:// with a client certificate: addresses, TLS version and CN', async (t) => {
    const broker = await proxiedBroker()
    t.after(() => broker.close())
    const [cert, key] = pki.issue('gateway', 'pp-server')
    const [clientCert, clientKey] = pki.issue('device-42', 'pp-client')
    const gateway = createGateway({
      host: '127.0.0.1', port: 0, upstream: broker.url, upstreamProxyProtocol: 'v2', adminPort: 0, logLevel: 'silent',
      tlsCert: cert, tlsKey: key, tlsCa: pki.ca
    })
    const { url, port } = await gateway.listen()
    t.after(() => gateway.close())
    await roundTrip(url, { ca: readFileSync(pki.ca), cert: readFileSync(clientCert), key: readFileSync(clientKey), servername: 'localhost' })
    const raw = (broker.headers[0] as Seen).raw
    const parsed = V2ProxyProtocol.parse(raw)
    const address = parsed.proxyAddress as IPv4ProxyAddress
    assert.deepEqual(address.sourceAddress.address, [127, 0, 0, 1])
    assert.equal(address.destinationPort, port)
    // TLVs follow the 12 address bytes: PP2_TYPE_SSL with version and CN sub-TLVs.
    const tlvs = raw.subarray(16 + 12)
    assert.equal(tlvs[0], 0x20)
    const text = tlvs.toString('latin1')
    assert.match(text, /TLSv1\.[23]/)
    assert.match(text, /device-42/)
  })
})

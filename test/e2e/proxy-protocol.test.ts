/**
 * PROXY protocol towards the broker: each upstream connection starts with a
 * header carrying the real client address, checked here by an independent
 * parser (proxy-protocol-js) on a test TCP endpoint in front of Aedes.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import mqtt from 'mqtt'
import { V1ProxyProtocol, V2ProxyProtocol } from 'proxy-protocol-js'
import type { IPv4ProxyAddress } from 'proxy-protocol-js'
import { createGateway } from '../../src/index.js'
import { createPki } from '../support/certs.js'
import type { TestPki } from '../support/certs.js'
import { proxiedBroker } from '../support/proxied-broker.js'

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
    const parsed = V1ProxyProtocol.parse((broker.headers[0] as Buffer).toString('latin1'))
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
    const raw = broker.headers[0] as Buffer
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

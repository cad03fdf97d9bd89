/**
 * TLS on both legs: wss:// for clients (with optional client certificates
 * and reload without dropping connections) and mqtts:// to the broker.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, readFileSync } from 'node:fs'
import { once } from 'node:events'
import tls from 'node:tls'
import net from 'node:net'
import mqtt from 'mqtt'
import { Aedes } from 'aedes'
import { WebSocket } from 'ws'
import type { ClientOptions } from 'ws'
import { createGateway } from '../../src/index.js'
import { startTcpBroker } from '../support/brokers.js'
import { createPki } from '../support/certs.js'
import type { TestPki } from '../support/certs.js'
import { captureLogs } from '../support/logs.js'

let pki: TestPki
before(() => { pki = createPki() })
after(() => pki.remove())

/** The CN of the certificate a TLS server presents now. */
async function presentedCn (port: number): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(pki.ca), servername: 'localhost' })
  await once(socket, 'secureConnect')
  const cn = socket.getPeerCertificate().subject.CN
  socket.destroy()
  return String(cn)
}

describe('wss:// for clients', () => {
  it('serves MQTT over wss:// and reloads certificates without dropping live connections', async (t) => {
    const broker = await startTcpBroker()
    t.after(() => broker.kill())
    const [cert1, key1] = pki.issue('first', 'server1')
    const [cert2, key2] = pki.issue('second', 'server2')
    const [liveCert, liveKey] = pki.issue('first', 'live')
    copyFileSync(cert1, liveCert)
    copyFileSync(key1, liveKey)
    const gateway = createGateway({ host: '127.0.0.1', port: 0, upstream: broker.url, logLevel: 'silent', adminPort: 0, tlsCert: liveCert, tlsKey: liveKey })
    const { url, port } = await gateway.listen()
    t.after(() => gateway.close())
    assert.match(url, /^wss:\/\//)

    const client = await mqtt.connectAsync(url, { ca: readFileSync(pki.ca), servername: 'localhost', reconnectPeriod: 0 })
    t.after(() => client.endAsync(true))
    await client.subscribeAsync('tls')
    assert.equal(await presentedCn(port), 'first')

    copyFileSync(cert2, liveCert)
    copyFileSync(key2, liveKey)
    gateway.reloadTls()
    assert.equal(await presentedCn(port), 'second', 'new handshakes see the new certificate')

    const got = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())))
    await client.publishAsync('tls', 'still here')
    assert.equal(await got, 'still here', 'the connection made before the reload still works')
  })

  it('asks for client certificates and refuses clients without one when required', async (t) => {
    const broker = await startTcpBroker()
    t.after(() => broker.kill())
    const [cert, key] = pki.issue('gateway', 'server3')
    const [clientCert, clientKey] = pki.issue('device-1', 'client1')
    const gateway = createGateway({
      host: '127.0.0.1', port: 0, upstream: broker.url, logLevel: 'silent', adminPort: 0,
      tlsCert: cert, tlsKey: key, tlsCa: pki.ca, tlsRequireClientCert: true
    })
    const { url } = await gateway.listen()
    t.after(() => gateway.close())
    const ca = readFileSync(pki.ca)
    // ws passes TLS options such as servername through to tls.connect.
    const refused = new WebSocket(url, 'mqtt', { ca, servername: 'localhost' } as ClientOptions)
    const [err] = await once(refused, 'error') as [Error]
    assert.ok(err instanceof Error)
    const accepted = new WebSocket(url, 'mqtt', { ca, servername: 'localhost', cert: readFileSync(clientCert), key: readFileSync(clientKey) } as ClientOptions)
    await once(accepted, 'open')
    accepted.terminate()
  })
})

describe('wss:// handshake timeout', () => {
  const TIMEOUT = 500

  async function wssGateway (t: { after: (fn: () => Promise<void>) => void }): Promise<{ port: number, logs: ReturnType<typeof captureLogs> }> {
    const [cert, key] = pki.issue('slow', 'slow')
    const logs = captureLogs()
    const gateway = createGateway({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: 0, logger: logs.logger, tlsCert: cert, tlsKey: key, handshakeTimeout: TIMEOUT })
    const { port } = await gateway.listen()
    t.after(() => gateway.close())
    return { port, logs }
  }

  /**
   * Connects over raw TCP, sends `bytes` (maybe none), then one more byte
   * every 100 ms when `trickle`; resolves with the ms until the gateway closes (at most 5 s).
   */
  async function closedAfter (port: number, bytes: Buffer, trickle = false): Promise<number> {
    const socket = net.connect(port, '127.0.0.1')
    socket.on('error', () => {})
    socket.resume()
    await once(socket, 'connect')
    const started = Date.now()
    if (bytes.length > 0) socket.write(bytes)
    const timer = trickle ? setInterval(() => { if (socket.writable) socket.write(Buffer.alloc(1, 7)) }, 100) : undefined
    // Not once(socket, 'close'): that rejects on 'error', and a trickling socket closed
    // with bytes still unread is ended by a reset (ECONNRESET), which is a close too.
    const closed = new Promise((resolve) => socket.once('close', resolve))
    try {
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5000))])
    } finally {
      clearInterval(timer)
      socket.destroy()
    }
    return Date.now() - started
  }

  function timeouts (logs: ReturnType<typeof captureLogs>): number {
    return logs.lines.filter((l) => l.event === 'reject').length
  }

  it('closes a TCP connection that sends no ClientHello, half of one, or one byte at a time, after --handshake-timeout; logged once each', async (t) => {
    const { port, logs } = await wssGateway(t)
    // A TLS record header announcing 512 bytes of handshake, then only 20 of them.
    const halfHello = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), Buffer.alloc(20, 7)])
    const closes = await Promise.all([closedAfter(port, Buffer.alloc(0)), closedAfter(port, halfHello), closedAfter(port, halfHello, true)])
    for (const ms of closes) assert.ok(ms >= TIMEOUT - 100 && ms < TIMEOUT + 1000, `closed after ${ms} ms (Node's default: 120 s)`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(timeouts(logs), 3)
    const line = logs.find({ event: 'reject', reason: 'handshake_timeout' })
    assert.equal(line?.remote, '127.0.0.1')
    assert.match(String(line?.detail), /TLS/)
  })

  it('after the TLS handshake, the request must still come within --handshake-timeout (408, logged once)', async (t) => {
    const { port, logs } = await wssGateway(t)
    const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(pki.ca), servername: 'localhost' })
    socket.on('error', () => {})
    let answer = ''
    socket.on('data', (chunk: Buffer) => { answer += chunk.toString('latin1') })
    await once(socket, 'secureConnect')
    const started = Date.now()
    socket.write('GET /mqtt HTTP/1.1\r\nHost: x\r\n') // and never the blank line
    await Promise.race([once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, 5000))])
    const ms = Date.now() - started
    socket.destroy()
    assert.ok(ms < TIMEOUT + 1500, `closed after ${ms} ms`)
    assert.match(answer, /^HTTP\/1\.1 408 /)
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(timeouts(logs), 1)
  })
})

describe('mqtts:// to the broker', () => {
  it('verifies the broker against --upstream-ca, and answers 502 when it cannot', async (t) => {
    const [cert, key] = pki.issue('broker', 'broker')
    const aedes = await Aedes.createBroker()
    const server = tls.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (socket) => {
      socket.on('error', () => {})
      aedes.handle(socket)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as net.AddressInfo).port
    t.after(async () => {
      server.close()
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
    })

    const trusting = createGateway({ host: '127.0.0.1', port: 0, upstream: `mqtts://localhost:${port}`, upstreamCa: pki.ca, logLevel: 'silent', adminPort: 0 })
    const { url } = await trusting.listen()
    t.after(() => trusting.close())
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
    await client.subscribeAsync('secure')
    const got = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())))
    await client.publishAsync('secure', 'over tls')
    assert.equal(await got, 'over tls')
    await client.endAsync()

    const logs = captureLogs()
    const wary = createGateway({ host: '127.0.0.1', port: 0, upstream: `mqtts://localhost:${port}`, logger: logs.logger, adminPort: 0 })
    const wary$ = await wary.listen()
    t.after(() => wary.close())
    const ws = new WebSocket(wary$.url, 'mqtt')
    ws.on('error', () => {})
    const [, res] = await once(ws, 'unexpected-response') as [unknown, { statusCode: number }]
    assert.equal(res.statusCode, 502)
    ws.terminate()
    assert.match(String(logs.find({ event: 'reject', reason: 'upstream_unreachable' })?.detail), /CERT|certificate|SELF_SIGNED|UNABLE/i)
  })
})

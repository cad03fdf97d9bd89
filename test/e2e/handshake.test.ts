/**
 * The upgrade: paths, subprotocols, plain HTTP, and the upstream connect
 * that happens before the 101 (so a dead broker is an HTTP 502).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { createGateway } from '../../src/index.js'
import type { Gateway } from '../../src/index.js'
import { captureLogs } from '../support/logs.js'
import { upgrade } from '../support/raw-client.js'
import { blackhole } from '../support/blackhole.js'

async function listening (options: Parameters<typeof createGateway>[0]): Promise<{ gateway: Gateway, url: string, logs: ReturnType<typeof captureLogs> }> {
  const logs = captureLogs()
  const gateway = createGateway({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: 0, logger: logs.logger, ...options })
  const { url } = await gateway.listen()
  return { gateway, url, logs }
}

/** Every refusal the gateway logged, as "status reason". */
function refusals (gw: Awaited<ReturnType<typeof listening>>): string[] {
  return gw.logs.lines.filter((l) => l.event === 'reject').map((l) => `${String(l.status)} ${String(l.reason)}`)
}

/** Writes `request` on a raw socket; resolves with everything read until the gateway closes (or 3 s). */
async function rawExchange (url: string, request: string): Promise<string> {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1')
  socket.on('error', () => {})
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString('latin1') })
  await once(socket, 'connect')
  socket.write(request)
  await Promise.race([once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, 3000))])
  socket.destroy()
  return answer
}

describe('handshake with the embedded broker', () => {
  let gw: Awaited<ReturnType<typeof listening>>
  before(async () => { gw = await listening({ paths: ['/mqtt', '/ws'] }) })
  after(() => gw.gateway.close())

  it('answers 101 with the subprotocol the client offered', async () => {
    for (const [offered, expected] of [['mqtt', 'mqtt'], ['foo, mqtt', 'mqtt'], ['mqttv3.1', 'mqttv3.1'], ['MQTT', 'MQTT']] as const) {
      const result = await upgrade(gw.url, { protocol: offered })
      assert.ok(result.ok, `upgrade with ${offered}`)
      assert.equal(result.client.headers['sec-websocket-protocol'], expected)
      result.client.destroy()
    }
  })

  it('accepts a client that offers no subprotocol, and answers none', async () => {
    const result = await upgrade(gw.url, {})
    assert.ok(result.ok)
    assert.equal(result.client.headers['sec-websocket-protocol'], undefined)
    result.client.destroy()
  })

  it('logs one start line with the address, the upstream and the options that differ from the defaults', () => {
    const start = gw.logs.find({ event: 'start' })
    assert.ok(start)
    assert.equal(start.listen, gw.url)
    assert.equal(start.upstream, 'embedded')
    assert.deepEqual((start.options as Record<string, unknown>).paths, ['/mqtt', '/ws'])
    assert.equal((start.options as Record<string, unknown>).logLevel, undefined, 'defaults are left out')
  })

  it('serves every configured path', async () => {
    const result = await upgrade(gw.url.replace('/mqtt', '/ws'), { protocol: 'mqtt' })
    assert.ok(result.ok)
    result.client.destroy()
  })

  it('refuses another path with 404 and logs why', async () => {
    const result = await upgrade(gw.url.replace('/mqtt', '/nope'), { protocol: 'mqtt' })
    assert.equal(result.ok, false)
    assert.equal(!result.ok && result.status, 404)
    assert.ok(gw.logs.find({ event: 'reject', reason: 'path', path: '/nope' }))
  })

  it('refuses only-unknown subprotocols with 400', async () => {
    const result = await upgrade(gw.url, { protocol: 'chat, superchat' })
    assert.equal(!result.ok && result.status, 400)
    assert.ok(gw.logs.find({ event: 'reject', reason: 'subprotocol_unsupported' }))
  })

  it('refuses a request with a bad WebSocket key with 400', async () => {
    const result = await upgrade(gw.url, { protocol: 'mqtt', headers: { 'Sec-WebSocket-Key': 'short' } })
    assert.equal(!result.ok && result.status, 400)
  })

  it('answers a plain HTTP request with 426 and says what it is', async () => {
    const res = await fetch(gw.url.replace('ws:', 'http:'))
    assert.equal(res.status, 426)
    assert.match(await res.text(), /mqtt-ws-gateway/)
  })
})

describe('the open log line', () => {
  it('names a direct peer as v4:port, and an IPv6 peer as [v6]:port', async (t) => {
    for (const host of ['127.0.0.1', '::1']) {
      const gw = await listening({ host })
      t.after(() => gw.gateway.close())
      const result = await upgrade(gw.url, { protocol: 'mqtt' })
      assert.ok(result.ok)
      const local = result.client.socket.localPort
      result.client.destroy()
      const remote = gw.logs.find({ event: 'open' })?.remote
      assert.equal(remote, host.includes(':') ? `[${host}]:${local}` : `${host}:${local}`)
    }
  })
})

describe('handshake options', () => {
  it('refuses a client with no subprotocol when --require-subprotocol is set', async (t) => {
    const gw = await listening({ requireSubprotocol: true })
    t.after(() => gw.gateway.close())
    const result = await upgrade(gw.url, {})
    assert.equal(!result.ok && result.status, 400)
    assert.ok(gw.logs.find({ event: 'reject', reason: 'subprotocol_missing' }))
    const ok = await upgrade(gw.url, { protocol: 'mqtt' })
    assert.ok(ok.ok)
    ok.client.destroy()
  })

  it('refuses upgrades past maxConnections with 503 and Retry-After', async (t) => {
    const gw = await listening({ maxConnections: 2 })
    t.after(() => gw.gateway.close())
    const first = await upgrade(gw.url, { protocol: 'mqtt' })
    const second = await upgrade(gw.url, { protocol: 'mqtt' })
    const third = await upgrade(gw.url, { protocol: 'mqtt' })
    assert.ok(first.ok && second.ok)
    assert.equal(!third.ok && third.status, 503)
    assert.ok(!third.ok && third.headers['retry-after'] !== undefined)
    assert.ok(gw.logs.find({ event: 'reject', reason: 'limit_connections' }))
    if (first.ok) first.client.destroy()
    if (second.ok) second.client.destroy()
  })
})

describe('upstream connect during the upgrade', () => {
  it('answers 502 when the broker refuses the connection, never 101', async (t) => {
    const closed = net.createServer()
    closed.listen(0, '127.0.0.1')
    await once(closed, 'listening')
    const port = (closed.address() as net.AddressInfo).port
    closed.close() // nothing listens on `port` any more
    const gw = await listening({ upstream: `mqtt://127.0.0.1:${port}` })
    t.after(() => gw.gateway.close())
    const result = await upgrade(gw.url, { protocol: 'mqtt' })
    assert.equal(result.ok, false)
    assert.equal(!result.ok && result.status, 502)
    assert.match(!result.ok ? result.body : '', /broker/i)
    const line = gw.logs.find({ event: 'reject', reason: 'upstream_unreachable' })
    assert.match(String(line?.detail), /ECONNREFUSED/)
    assert.equal(gw.gateway.connections, 0)
  })

  it('answers 502 after the connect timeout when the broker does not accept', async (t) => {
    const port = await blackhole(t)
    const gw = await listening({ upstream: `mqtt://127.0.0.1:${port}`, upstreamConnectTimeout: 300 })
    t.after(() => gw.gateway.close())
    const started = Date.now()
    const result = await upgrade(gw.url, { protocol: 'mqtt' })
    assert.equal(!result.ok && result.status, 502)
    assert.ok(Date.now() - started >= 250, 'waited for the timeout')
    assert.ok(gw.logs.find({ event: 'reject', reason: 'upstream_timeout' }))
  })

  it('refuses upgrades past maxPendingUpgrades with 503 while broker connects are in flight', async (t) => {
    const port = await blackhole(t)
    const gw = await listening({ upstream: `mqtt://127.0.0.1:${port}`, upstreamConnectTimeout: 1500, maxPendingUpgrades: 1 })
    t.after(() => gw.gateway.close())
    const first = upgrade(gw.url, { protocol: 'mqtt' }) // waits on the hanging connect
    await new Promise((resolve) => setTimeout(resolve, 200))
    const second = await upgrade(gw.url, { protocol: 'mqtt' })
    assert.equal(!second.ok && second.status, 503)
    assert.ok(gw.logs.find({ event: 'reject', reason: 'limit_handshakes' }))
    const firstResult = await first
    assert.equal(!firstResult.ok && firstResult.status, 502, 'the first one times out on the broker')
  })

  it('drops the upstream connection at once when the client vanishes', async (t) => {
    // A broker that accepts TCP but is slow to matter: count its connections.
    let open = 0
    const broker = net.createServer((s) => { open++; s.on('close', () => open--); s.on('error', () => {}) })
    broker.listen(0, '127.0.0.1')
    await once(broker, 'listening')
    t.after(() => broker.close())
    const gw = await listening({ upstream: `mqtt://127.0.0.1:${(broker.address() as net.AddressInfo).port}` })
    t.after(() => gw.gateway.close())
    const req = http.request({ host: '127.0.0.1', port: new URL(gw.url).port, path: '/mqtt', headers: {
      Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'mqtt'
    } })
    req.on('error', () => {})
    req.on('upgrade', (_res, socket) => socket.destroy())
    req.end()
    await once(req, 'upgrade')
    const deadline = Date.now() + 2000
    while (Date.now() < deadline && (open > 0 || gw.gateway.connections > 0)) await new Promise((r) => setTimeout(r, 20))
    assert.equal(open, 0, 'upstream socket closed')
    assert.equal(gw.gateway.connections, 0)
  })
})

describe('the upgrade request itself', () => {
  it('closes a socket that never finishes its request (slow-loris) after the handshake timeout', async (t) => {
    const gw = await listening({ handshakeTimeout: 500, adminPort: 0 })
    t.after(() => gw.gateway.close())
    const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1')
    socket.on('error', () => {})
    socket.resume() // read, or the close would go unnoticed
    await once(socket, 'connect')
    const started = Date.now()
    socket.write('GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n') // and never the blank line
    await once(socket, 'close')
    const after = Date.now() - started
    assert.ok(after >= 400 && after < 2500, `closed after ${after} ms`)
    assert.ok(gw.logs.find({ event: 'reject', reason: 'handshake_timeout' }))
    // The FIN that follows the 408 is not a second refusal.
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.deepEqual(refusals(gw), ['408 handshake_timeout'])
  })

  it('answers a header streamed past the limit with one 431, logged once', async (t) => {
    const gw = await listening({ maxHeaderSize: 4096, adminPort: 0 })
    t.after(() => gw.gateway.close())
    const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1')
    socket.on('error', () => {})
    let answer = ''
    socket.on('data', (chunk: Buffer) => { answer += chunk.toString('latin1') })
    await once(socket, 'connect')
    socket.write('GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n')
    // Header lines keep coming, one per turn of the event loop, until the gateway closes.
    const pad = `X-Pad: ${'x'.repeat(100)}\r\n`
    const deadline = Date.now() + 3000
    while (!socket.destroyed && socket.writable && Date.now() < deadline) {
      socket.write(pad)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await Promise.race([once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, 2000))])
    socket.destroy()
    assert.match(answer, /^HTTP\/1\.1 431 /)
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.deepEqual(refusals(gw), ['431 header_too_large'])
  })

  it('answers an upgrade with another method than GET with 405 and Allow: GET', async (t) => {
    const gw = await listening({})
    t.after(() => gw.gateway.close())
    const answer = await rawExchange(gw.url, 'POST /mqtt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 0\r\n\r\n')
    assert.match(answer, /^HTTP\/1\.1 405 Method Not Allowed\r\n/)
    assert.match(answer, /\r\nAllow: GET\r\n/)
    assert.deepEqual(refusals(gw), ['405 method'])
    assert.equal(gw.logs.find({ event: 'reject', reason: 'method' })?.detail, 'POST')
  })

  it('answers CONNECT (a forward-proxy request) with 405, not a silent close', async (t) => {
    const gw = await listening({})
    t.after(() => gw.gateway.close())
    const answer = await rawExchange(gw.url, 'CONNECT broker.example:1883 HTTP/1.1\r\nHost: broker.example:1883\r\n\r\n')
    assert.match(answer, /^HTTP\/1\.1 405 Method Not Allowed\r\n/)
    assert.match(answer, /\r\nAllow: GET\r\n/)
    assert.deepEqual(refusals(gw), ['405 method'])
    assert.equal(gw.logs.find({ event: 'reject', reason: 'method' })?.detail, 'CONNECT broker.example:1883')
  })

  it('answers 431 to an oversized request header', async (t) => {
    const gw = await listening({ maxHeaderSize: 4096, adminPort: 0 })
    t.after(() => gw.gateway.close())
    const result = await upgrade(gw.url, { protocol: 'mqtt', headers: { 'X-Padding': 'x'.repeat(8000) } })
    assert.equal(!result.ok && result.status, 431)
    assert.ok(gw.logs.find({ event: 'reject', reason: 'header_too_large' }))
  })
})

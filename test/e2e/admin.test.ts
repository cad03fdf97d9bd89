/**
 * The admin listener on real sockets: Prometheus metrics after real traffic,
 * health and readiness (an upstream that goes away, the connection limit, a
 * shutdown), the status API, routing, and that none of it is on the public port.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import { SignJWT } from 'jose'
import type { JWTPayload } from 'jose'
import { GatewayServer } from '../../src/gateway.js'
import type { CreateGatewayOptions, InternalOptions } from '../../src/gateway.js'
import { freePort } from '../support/free-port.js'
import { waitUntil, withTimeout } from '../support/wait.js'
import { blackhole } from '../support/blackhole.js'
import { startTcpBroker } from '../support/brokers.js'
import type { TcpBroker } from '../support/brokers.js'
import { connectPacket, parseAll, publishPacket, subscribePacket } from '../support/mqtt-bytes.js'
import { connectRaw, upgrade } from '../support/raw-client.js'
import type { RawClient, UpgradeResult } from '../support/raw-client.js'

/** Fast probes and samples, so tests wait for milliseconds, not seconds. */
const FAST: InternalOptions = { admin: { probeIntervalMs: 100, sampleIntervalMs: 100 } }

interface Admin {
  gateway: GatewayServer
  url: string
  /** http://127.0.0.1:PORT (no trailing slash) */
  admin: string
  broker: TcpBroker | undefined
}

/** A gateway (in front of an Aedes on TCP unless `embedded`) with its admin listener; closed after the test. */
async function startAdmin (t: TestContext, options: CreateGatewayOptions = {}, embedded = false): Promise<Admin> {
  const broker = embedded ? undefined : await startTcpBroker()
  t.after(async () => { await broker?.kill() })
  const gateway = new GatewayServer({
    host: '127.0.0.1',
    port: 0,
    tcpPort: 0,
    adminPort: await freePort(),
    logLevel: 'silent',
    // Raw clients never answer the close frame: keep the shutdown after each test short.
    closeTimeout: 300,
    ...(broker === undefined ? {} : { upstream: broker.url }),
    ...options
  }, FAST)
  const address = await gateway.listen()
  t.after(() => gateway.close())
  assert.ok(address.adminUrl !== undefined)
  return { gateway, url: address.url, admin: address.adminUrl.replace(/\/$/, ''), broker }
}

interface Answer { status: number, headers: http.IncomingHttpHeaders, body: string }

async function request (url: string, method = 'GET'): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${url} timed out`)))
    req.end()
  })
}

/** The value of one sample in Prometheus text; undefined when absent. */
function sample (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null || match[1] !== name) continue
    const found: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found[key as string] = value as string
    // Every series carries the gateway's --instance-id (test/e2e/instance-id.test.ts).
    delete found.instance
    if (Object.keys(found).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => found[k] === v)) {
      return Number(match[3])
    }
  }
  return undefined
}

/** The sum of every sample of `name`, whatever its labels. */
function total (text: string, name: string): number {
  let sum = 0
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{.*\})? (\S+)$/.exec(line)
    if (match?.[1] === name) sum += Number(match[2])
  }
  return sum
}

async function metrics (admin: string): Promise<string> {
  const answer = await request(`${admin}/metrics`)
  assert.equal(answer.status, 200)
  return answer.body
}

async function connected (url: string, clientId: string): Promise<RawClient> {
  const raw = await connectRaw(url)
  raw.sendBinary(connectPacket(clientId))
  await raw.waitFor(() => raw.messages.length >= 1, 3000, `CONNACK for ${clientId}`)
  return raw
}

function received (raw: RawClient): Buffer {
  return Buffer.concat(raw.messages)
}

describe('admin: /metrics', () => {
  test('counts connections, refusals, closes and traffic each way, with their labels', async (t) => {
    const { gateway, url, admin } = await startAdmin(t)

    const refused = await upgrade(url, { path: '/nope', protocol: 'mqtt' })
    assert.equal(refused.ok, false)
    assert.equal(refused.ok ? 0 : refused.status, 404)

    const subscriber = await connected(url, 'subscriber')
    t.after(() => subscriber.destroy())
    const subscribe = subscribePacket('metrics/t')
    subscriber.sendBinary(subscribe)
    await subscriber.waitFor(() => parseAll(received(subscriber)).length >= 2, 3000, 'SUBACK')
    const publisher = await connected(url, 'publisher')
    const publish = publishPacket('metrics/t', 'hello')
    for (let i = 0; i < 3; i++) publisher.sendBinary(publish)
    await subscriber.waitFor(() => parseAll(received(subscriber)).length >= 5, 3000, 'three messages')
    publisher.sendClose(1000)
    await publisher.closedPromise

    let text = ''
    await waitUntil(async () => {
      text = await metrics(admin)
      return sample(text, 'mqtt_ws_gateway_connections_closed_total', { initiator: 'client', reason: 'client_close' }) === 1
    }, 3000, 'the close counted')

    assert.equal(sample(text, 'mqtt_ws_gateway_connections_total'), 2)
    assert.equal(sample(text, 'mqtt_ws_gateway_connections_active'), 1)
    assert.equal(sample(text, 'mqtt_ws_gateway_upgrades_rejected_total', { reason: 'path' }), 1)
    assert.equal(sample(text, 'mqtt_ws_gateway_upgrades_rejected_total', { reason: 'upstream_unreachable' }), 0, 'every reason is exported, at 0')
    assert.equal(sample(text, 'mqtt_ws_gateway_connections_closed_total', { initiator: 'gateway', reason: 'shutdown' }), 0)

    // Packets: CONNECT + SUBSCRIBE, CONNECT + 3 PUBLISH; CONNACK + SUBACK + 3 PUBLISH, CONNACK.
    assert.equal(sample(text, 'mqtt_ws_gateway_packets_total', { direction: 'from_client' }), 6)
    assert.equal(sample(text, 'mqtt_ws_gateway_packets_total', { direction: 'to_client' }), 6)
    const sent = connectPacket('subscriber').length + subscribe.length + connectPacket('publisher').length + 3 * publish.length
    assert.equal(sample(text, 'mqtt_ws_gateway_bytes_total', { direction: 'from_client' }), sent)
    assert.equal(sample(text, 'mqtt_ws_gateway_bytes_total', { direction: 'to_client' }), received(subscriber).length + received(publisher).length)
    const stats = gateway.stats()
    assert.equal(stats.bytesFromClients, sent)
    assert.equal(stats.packetsToClients, 6)

    assert.equal(sample(text, 'mqtt_ws_gateway_connection_duration_seconds_count'), 1)
    assert.equal(sample(text, 'mqtt_ws_gateway_handshake_duration_seconds_count'), 2)
    assert.equal(sample(text, 'mqtt_ws_gateway_upstream_connect_duration_seconds_count'), 2)
    assert.equal(sample(text, 'mqtt_ws_gateway_upstream_reachable'), 1)
    assert.equal(sample(text, 'mqtt_ws_gateway_buffered_bytes'), 0)
    assert.equal(sample(text, 'mqtt_ws_gateway_backpressure_pauses_total', { slow_side: 'client' }), 0)
    assert.equal(sample(text, 'mqtt_ws_gateway_client_id_takeovers_total'), 0)
  })

  test('Prometheus text format, default process metrics and the event-loop lag, all prefixed', async (t) => {
    const { admin } = await startAdmin(t)
    const answer = await request(`${admin}/metrics`)
    assert.equal(answer.status, 200)
    assert.equal(answer.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
    assert.match(answer.body, /^# TYPE mqtt_ws_gateway_connections_total counter$/m)
    assert.match(answer.body, /^# TYPE mqtt_ws_gateway_connection_duration_seconds histogram$/m)
    assert.ok((sample(answer.body, 'mqtt_ws_gateway_process_cpu_user_seconds_total') ?? -1) >= 0)
    assert.ok((sample(answer.body, 'mqtt_ws_gateway_nodejs_heap_size_used_bytes') ?? 0) > 0)
    assert.ok((sample(answer.body, 'mqtt_ws_gateway_event_loop_lag_seconds') ?? -1) >= 0)
    for (const line of answer.body.split('\n')) {
      if (line !== '' && !line.startsWith('#')) assert.match(line, /^mqtt_ws_gateway_/)
    }
  })

  test('a client id connecting again counts a takeover and a gateway close', async (t) => {
    const { admin, url } = await startAdmin(t)
    const first = await connected(url, 'same-id')
    t.after(() => first.destroy())
    const second = await connected(url, 'same-id')
    t.after(() => second.destroy())
    await first.closedPromise
    let text = ''
    await waitUntil(async () => {
      text = await metrics(admin)
      return sample(text, 'mqtt_ws_gateway_client_id_takeovers_total') === 1
    }, 3000, 'takeover counted')
    await waitUntil(async () => sample(await metrics(admin), 'mqtt_ws_gateway_connections_closed_total',
      { initiator: 'gateway', reason: 'takeover' }) === 1, 3000, 'takeover close counted')
  })

  test('two gateways in one process keep their own registries', async (t) => {
    const one = await startAdmin(t)
    const two = await startAdmin(t)
    const client = await connected(one.url, 'only-on-one')
    t.after(() => client.destroy())
    assert.equal(sample(await metrics(one.admin), 'mqtt_ws_gateway_connections_total'), 1)
    assert.equal(sample(await metrics(two.admin), 'mqtt_ws_gateway_connections_total'), 0)
  })
})

describe('admin: health and readiness', () => {
  test('/healthz answers 200 ok', async (t) => {
    const { admin } = await startAdmin(t)
    const answer = await request(`${admin}/healthz`)
    assert.equal(answer.status, 200)
    assert.equal(answer.body, 'ok\n')
  })

  test('/readyz is 200 with a reachable upstream and 503 once it goes away', async (t) => {
    const { admin, broker } = await startAdmin(t)
    assert.deepEqual([(await request(`${admin}/readyz`)).status, (await request(`${admin}/readyz`)).body], [200, 'ready\n'])
    await broker?.kill()
    let answer: Answer | undefined
    await waitUntil(async () => {
      answer = await request(`${admin}/readyz`)
      return answer.status === 503
    }, 2000, '/readyz 503 after the broker went away')
    assert.match(answer?.body ?? '', /^not ready: upstream_unreachable \(.*ECONNREFUSED.*\)\n$/)
    assert.equal(sample(await metrics(admin), 'mqtt_ws_gateway_upstream_reachable'), 0)
  })

  test('/readyz is 503 at the connection limit', async (t) => {
    const { admin, url } = await startAdmin(t, { maxConnections: 1 })
    const client = await connected(url, 'the-only-one')
    t.after(() => client.destroy())
    const answer = await request(`${admin}/readyz`)
    assert.equal(answer.status, 503)
    assert.match(answer.body, /limit_connections/)
  })

  test('/readyz is 503 while the gateway shuts down', async (t) => {
    const { admin, url, gateway } = await startAdmin(t, { closeTimeout: 2000 })
    // A client that never answers the close frame holds the shutdown for closeTimeout.
    const client = await connected(url, 'slow-to-close')
    t.after(() => client.destroy())
    const closing = gateway.close()
    const answer = await request(`${admin}/readyz`)
    assert.equal(answer.status, 503)
    assert.match(answer.body, /^not ready: closing/)
    client.destroy()
    await closing
  })

  test('with the embedded broker it is ready once listening', async (t) => {
    const { admin } = await startAdmin(t, {}, true)
    assert.equal((await request(`${admin}/readyz`)).status, 200)
    assert.equal(sample(await metrics(admin), 'mqtt_ws_gateway_upstream_reachable'), undefined)
  })
})

describe('admin: status API', () => {
  test('/api/status has samples, current totals and the last closes, newest first', async (t) => {
    const { admin, url } = await startAdmin(t)
    for (const id of ['first-to-go', 'second-to-go']) {
      const client = await connected(url, id)
      client.sendClose(1000)
      await client.closedPromise
    }
    const stays = await connected(url, 'stays')
    t.after(() => stays.destroy())
    let status: Record<string, unknown> & { closes: Record<string, unknown>[], samples: Record<string, unknown>[] } = { closes: [], samples: [] }
    await waitUntil(async () => {
      const answer = await request(`${admin}/api/status`)
      assert.equal(answer.status, 200)
      assert.match(String(answer.headers['content-type']), /^application\/json/)
      status = JSON.parse(answer.body) as typeof status
      return status.closes.length === 2 && status.samples.some((s) => s.connections === 1)
    }, 3000, 'two closes and a sample with one connection')
    assert.equal((status.current as Record<string, unknown>).connections, 1)
    assert.deepEqual(status.readiness, { ready: true })
    assert.equal(status.sampleIntervalMs, 100)
    const [newest, older] = status.closes
    assert.equal(newest?.clientId, 'second-to-go')
    assert.equal(older?.clientId, 'first-to-go')
    assert.equal(newest?.closedBy, 'client')
    assert.equal(newest?.reason, 'client_close')
    assert.equal(newest?.remoteAddress, '127.0.0.1')
    assert.match(String(newest?.broker), /^mqtt:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(typeof newest?.durationMs, 'number')
    const keys = Object.keys(status.samples[0] ?? {}).sort()
    assert.deepEqual(keys, ['bufferedBytes', 'bytesFromClientsPerSecond', 'bytesToClientsPerSecond', 'connections',
      'packetsFromClientsPerSecond', 'packetsToClientsPerSecond', 'time'])
  })
})

describe('admin: routing and exposure', () => {
  test('404 for any other path, 405 for other methods, HEAD without a body', async (t) => {
    const { admin } = await startAdmin(t)
    for (const path of ['/nope', '/metrics/x', '/mqtt', '/api', '/index.html']) {
      assert.equal((await request(`${admin}${path}`)).status, 404, path)
    }
    const post = await request(`${admin}/metrics`, 'POST')
    assert.equal(post.status, 405)
    assert.equal(post.headers.allow, 'GET, HEAD')
    const head = await request(`${admin}/healthz`, 'HEAD')
    assert.equal(head.status, 200)
    assert.equal(head.body, '')
    assert.equal((await request(`${admin}/metrics?name=x`)).status, 200, 'a query string is ignored')
  })

  test('the status page is self-contained, with a strict Content-Security-Policy', async (t) => {
    const { admin } = await startAdmin(t)
    const page = await request(`${admin}/`)
    assert.equal(page.status, 200)
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8')
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'/)
    assert.doesNotMatch(page.body, /\b(src|href)="(https?:)?\/\//, 'no external resource')
  })

  test('nothing of it is reachable through the public WebSocket port', async (t) => {
    const { url } = await startAdmin(t)
    const publicBase = new URL(url).origin.replace(/^ws/, 'http')
    for (const path of ['/metrics', '/healthz', '/readyz', '/api/status', '/']) {
      const answer = await request(`${publicBase}${path}`)
      assert.equal(answer.status, 426, path)
      assert.doesNotMatch(answer.body, /mqtt_ws_gateway_|ready|<html/, path)
    }
  })

  test('adminPort 0 turns the listener off', async (t) => {
    const gateway = new GatewayServer({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: 0, logLevel: 'silent' })
    const address = await gateway.listen()
    t.after(() => gateway.close())
    assert.equal(address.adminUrl, undefined)
  })

  test('an admin port in use fails listen() and leaves nothing listening', async (t) => {
    const squatter = net.createServer()
    squatter.listen(0, '127.0.0.1')
    await once(squatter, 'listening')
    t.after(() => squatter.close())
    const taken = (squatter.address() as net.AddressInfo).port
    const gateway = new GatewayServer({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: taken, logLevel: 'silent' })
    // A typed start-up error since issue 11; the system's code is kept as errno.
    await assert.rejects(gateway.listen(), { code: 'MWG_ERR_LISTEN', errno: 'EADDRINUSE', option: 'adminPort', address: `127.0.0.1:${taken}` })
    assert.throws(() => gateway.address(), { code: 'MWG_ERR_NOT_LISTENING' })
  })
})

describe('/metrics counts every refusal and every gateway-initiated close by its reason', () => {
  const JWT_SECRET = 'a-shared-secret-of-at-least-32-bytes!'
  /** An HS256 token for JWT_SECRET; `exp` in epoch seconds, or a jose time span. */
  function signed (claims: JWTPayload, exp: number | string = '1h'): Promise<string> {
    return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(new TextEncoder().encode(JWT_SECRET))
  }
  /** An upstream whose TCP connect hangs (a listener with a full backlog), killed after the test. */
  async function hanging (t: TestContext): Promise<string> {
    return `mqtt://127.0.0.1:${await blackhole(t)}`
  }

  const refusals: {
    reason: string
    status: number
    options: CreateGatewayOptions
    /** The broker to bridge to instead of the fixture's Aedes, made for this test. */
    upstream?: (t: TestContext) => Promise<string>
    send: (url: string, fixture: Admin) => Promise<UpgradeResult>
    /** Refusals the scenario makes in all (default 1). */
    refusals?: number
  }[] = [
    { reason: 'path', status: 404, options: {}, send: (url) => upgrade(url.replace('/mqtt', '/other'), { protocol: 'mqtt' }) },
    { reason: 'bad_request', status: 400, options: {}, send: (url) => upgrade(url, { protocol: 'mqtt', headers: { 'Sec-WebSocket-Key': 'bad' } }) },
    { reason: 'subprotocol_missing', status: 400, options: { requireSubprotocol: true }, send: (url) => upgrade(url, {}) },
    { reason: 'subprotocol_unsupported', status: 400, options: {}, send: (url) => upgrade(url, { protocol: 'chat' }) },
    { reason: 'origin', status: 403, options: { allowedOrigins: ['https://ok.example'] }, send: (url) => upgrade(url, { protocol: 'mqtt', headers: { Origin: 'https://evil.example' } }) },
    { reason: 'token_missing', status: 401, options: { jwtSecret: JWT_SECRET }, send: (url) => upgrade(url, { protocol: 'mqtt' }) },
    { reason: 'token_invalid', status: 401, options: { jwtSecret: JWT_SECRET }, send: (url) => upgrade(url, { protocol: 'mqtt', headers: { Authorization: 'Bearer not.a.jwt' } }) },
    { reason: 'upstream_unreachable', status: 502, options: { upstream: 'mqtt://127.0.0.1:1' }, send: (url) => upgrade(url, { protocol: 'mqtt' }) },
    // The first probe of the hanging broker holds listen() for upstreamConnectTimeout: keep it short.
    { reason: 'upstream_timeout', status: 502, options: { upstreamConnectTimeout: 300 }, upstream: hanging, send: (url) => upgrade(url, { protocol: 'mqtt' }) },
    { reason: 'header_too_large', status: 431, options: { maxHeaderSize: 2048 }, send: (url) => upgrade(url, { protocol: 'mqtt', headers: { 'X-Pad': 'x'.repeat(4000) } }) },
    { reason: 'handshake_timeout', status: 408, options: { handshakeTimeout: 300 }, send: unfinishedRequest },
    { reason: 'limit_connections', status: 503, options: { maxConnections: 1 }, send: secondOf },
    // …and the first upgrade, which held the slot, ends in a 502 upstream_timeout.
    { reason: 'limit_handshakes', status: 503, options: { maxPendingUpgrades: 1, upstreamConnectTimeout: 800 }, upstream: hanging, send: whileOnePending, refusals: 2 },
    { reason: 'limit_ip', status: 429, options: { maxConnectionsPerIp: 1 }, send: secondOf },
    { reason: 'limit_rate', status: 429, options: { connectRatePerIp: 1, connectBurstPerIp: 1 }, send: secondOf },
    { reason: 'method', status: 405, options: {}, send: (url) => rawRequest(url, 'POST /mqtt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n') },
    { reason: 'method', status: 405, options: {}, send: (url) => rawRequest(url, 'CONNECT broker.example:1883 HTTP/1.1\r\nHost: broker.example:1883\r\n\r\n') }
  ]
  /** Writes `request` on a raw socket; answers with the status of what came back before the close. */
  async function rawRequest (url: string, request: string): Promise<UpgradeResult> {
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1')
    socket.on('error', () => {})
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { answer += chunk })
    try {
      await withTimeout(once(socket, 'connect'), 2000, 'connect')
      socket.write(request)
      await withTimeout(once(socket, 'close'), 3000, 'the gateway closing after its answer')
    } finally {
      socket.destroy()
    }
    const [head = '', body = ''] = answer.split('\r\n\r\n')
    return { ok: false, status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0), body, headers: {} }
  }
  /** Opens one connection (kept open), then answers with the second attempt. */
  async function secondOf (url: string): Promise<UpgradeResult> {
    const first = await upgrade(url, { protocol: 'mqtt' })
    assert.ok(first.ok, 'the first connection is let in')
    return await upgrade(url, { protocol: 'mqtt' })
  }
  /** Answers with a second upgrade sent while the first one waits on the (hanging) broker connect. */
  async function whileOnePending (url: string, { gateway }: Admin): Promise<UpgradeResult> {
    const first = upgrade(url, { protocol: 'mqtt' })
    await waitUntil(() => gateway.pendingUpgrades === 1, 2000, 'the first upgrade pending on the broker connect')
    const second = await upgrade(url, { protocol: 'mqtt' })
    const firstResult = await first
    assert.equal(!firstResult.ok && firstResult.status, 502, 'the first one times out on the broker')
    return second
  }
  /** Sends the start of an upgrade request and never its blank line; answers with what came back before the close. */
  async function unfinishedRequest (url: string): Promise<UpgradeResult> {
    const { port, pathname } = new URL(url)
    const socket = net.connect(Number(port), '127.0.0.1')
    socket.on('error', () => {})
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { answer += chunk })
    try {
      await withTimeout(once(socket, 'connect'), 2000, 'connect')
      socket.write(`GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n`)
      await withTimeout(once(socket, 'close'), 3000, 'the gateway closing the unfinished request')
    } finally {
      socket.destroy()
    }
    const [head = '', body = ''] = answer.split('\r\n\r\n')
    return { ok: false, status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0), body, headers: {} }
  }
  for (const { reason, status, options, upstream, send, refusals: made = 1 } of refusals) {
    test(`upgrade refused: ${reason} → ${status}`, async (t) => {
      const fixture = await startAdmin(t, upstream === undefined ? options : { ...options, upstream: await upstream(t) })
      const result = await send(fixture.url, fixture)
      assert.equal(!result.ok && result.status, status)
      await waitUntil(async () => sample(await metrics(fixture.admin), 'mqtt_ws_gateway_upgrades_rejected_total', { reason }) === 1, 3000, `${reason} counted`)
      // One refusal, one increment: what follows it (the client's FIN, more bytes) is not counted again.
      await new Promise((resolve) => setTimeout(resolve, 200))
      assert.equal(total(await metrics(fixture.admin), 'mqtt_ws_gateway_upgrades_rejected_total'), made)
    })
  }

  const closes: {
    reason: string
    code: number
    options: CreateGatewayOptions
    /** A token to upgrade with (Authorization: Bearer), made just before the upgrade. */
    token?: () => Promise<string>
    send: (raw: RawClient) => void
  }[] = [
    { reason: 'text_frame', code: 1003, options: {}, send: (raw) => raw.send(Buffer.from([0x81, 0x80, 0, 0, 0, 0])) },
    { reason: 'message_too_big', code: 1009, options: { maxMessageSize: 1024 }, send: (raw) => raw.sendBinary(Buffer.alloc(2000)) },
    { reason: 'malformed_packet', code: 1002, options: {}, send: (raw) => raw.sendBinary(publishPacket('early', 'x')) },
    { reason: 'connect_timeout', code: 1008, options: { firstPacketTimeout: 200 }, send: () => {} },
    {
      reason: 'token_expired',
      code: 1008,
      options: { jwtSecret: JWT_SECRET, jwtClockTolerance: 0 },
      // 0.5 to 1.5 s ahead: valid at the upgrade, expired soon after the CONNECT.
      token: () => signed({}, Math.ceil(Date.now() / 1000 + 0.5)),
      send: (raw) => raw.sendBinary(connectPacket('short-lived'))
    },
    {
      // Brokers chosen by client id are connected after the CONNECT: none accepts.
      reason: 'upstream_unreachable',
      code: 1013,
      options: { upstream: 'mqtt://127.0.0.1:1,mqtt://127.0.0.1:2', upstreamStrategy: 'hash' },
      send: (raw) => raw.sendBinary(connectPacket('nowhere'))
    },
    {
      reason: 'client_id_mismatch',
      code: 1008,
      options: { jwtSecret: JWT_SECRET, jwtClientIdClaim: 'sub' },
      token: () => signed({ sub: 'device-7' }),
      send: (raw) => raw.sendBinary(connectPacket('device-8'))
    },
    {
      reason: 'username_mismatch',
      code: 1008,
      options: { jwtSecret: JWT_SECRET, jwtUsernameClaim: 'user' },
      token: () => signed({ user: 'alice' }),
      send: (raw) => raw.sendBinary(connectPacket('no-username'))
    }
  ]
  for (const { reason, code, options, token, send } of closes) {
    test(`closed by the gateway: ${reason} → ${code}`, async (t) => {
      const { url, admin } = await startAdmin(t, options)
      const raw = await connectRaw(url, { protocol: 'mqtt', ...(token === undefined ? {} : { headers: { Authorization: `Bearer ${await token()}` } }) })
      t.after(() => raw.destroy())
      send(raw)
      await raw.waitFor(() => raw.closeCode !== undefined, 3000, 'close frame')
      assert.equal(raw.closeCode, code)
      await waitUntil(async () => sample(await metrics(admin), 'mqtt_ws_gateway_connections_closed_total', { initiator: 'gateway', reason }) === 1, 3000, `${reason} counted`)
    })
  }
})

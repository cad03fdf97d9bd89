/**
 * --accept-proxy-protocol: a load balancer's PROXY header (v1, v2) is read
 * before HTTP and before TLS, and its address is the client's everywhere:
 * the log lines, the per-IP limits, the trusted-hop walk of
 * X-Forwarded-For, and the PROXY header sent to the broker. Every refusal
 * (a header from an untrusted peer, a malformed, truncated, oversized or
 * slow one, none from a trusted peer) closes the connection with a log
 * reason and a count. Hand-written headers on raw sockets, MQTT.js clients
 * behind them, and Debian's HAProxy running deploy/haproxy/haproxy.cfg.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import tls from 'node:tls'
import { after, before, describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import mqtt from 'mqtt'
import type { IClientOptions } from 'mqtt'
import { createGateway } from '../../src/index.js'
import type { GatewayOptions } from '../../src/index.js'
import { crc32c } from '../../src/proxy-protocol/crc32c.js'
import { readProxyHeader } from '../../src/proxy-protocol/read.js'
import { proxyHeader } from '../../src/proxy-protocol/write.js'
import { duplexPair } from '../../src/upstream/duplex-pair.js'
import { freePort } from '../support/free-port.js'
import { httpGet } from '../support/http.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { waitUntil, withTimeout } from '../support/wait.js'
import { createPki } from '../support/certs.js'
import type { TestPki } from '../support/certs.js'
import { startDeployHaproxy } from '../support/deploy-haproxy.js'
import { captureLogs } from '../support/logs.js'
import type { LogLine } from '../support/logs.js'
import { proxiedBroker } from '../support/proxied-broker.js'

/** The client the load balancer reports, and where it says the client connected. */
const CLIENT = { address: '203.0.113.7', port: 40000, localAddress: '198.51.100.80', localPort: 443 }
/** Trusted: the load balancer's address. 127.0.0.9 is a direct, untrusted client. */
const PROXY_PEER = '127.0.0.1'
const DIRECT_PEER = '127.0.0.9'

const V1 = proxyHeader('v1', CLIENT)
const V2 = proxyHeader('v2', CLIENT)

interface Fixture {
  port: number
  url: string
  adminPort: number
  logs: ReturnType<typeof captureLogs>
}

async function startGateway (t: TestContext, options: Partial<GatewayOptions> = {}): Promise<Fixture> {
  const logs = captureLogs()
  const adminPort = await freePort()
  const gateway = createGateway({
    host: '127.0.0.1', port: 0, tcpPort: 0, adminPort, logger: logs.logger, closeTimeout: 300,
    acceptProxyProtocol: true, trustedProxies: [PROXY_PEER], ...options
  })
  const { port, url } = await gateway.listen()
  t.after(() => gateway.close())
  return { port, url, adminPort, logs }
}

function upgradeRequest (headers: Record<string, string> = {}): Buffer {
  const lines = ['GET /mqtt HTTP/1.1', 'Host: gateway', 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Protocol: mqtt',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)]
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1')
}

interface Exchange {
  /** The HTTP status of the answer, if one came. */
  status: number | undefined
  /** The connection was closed before (or without) an answer. */
  closedWithoutAnswer: boolean
  socket: net.Socket
}

/**
 * Sends `chunks` on a raw TCP connection from `localAddress`, each its own
 * write `gapMs` apart (0: one write), then waits for the answer's status
 * line or the close. `end` half-closes after the last chunk.
 */
async function exchange (t: TestContext, port: number, chunks: Buffer[], opts: { localAddress?: string, gapMs?: number, end?: boolean } = {}): Promise<Exchange> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress: opts.localAddress ?? PROXY_PEER, noDelay: true })
  t.after(() => socket.destroy())
  socket.on('error', () => {})
  let received = Buffer.alloc(0)
  const answered = new Promise<Exchange>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(received.toString('latin1'))
      if (status !== null) resolve({ status: Number(status[1]), closedWithoutAnswer: false, socket })
    })
    socket.on('close', () => resolve({ status: undefined, closedWithoutAnswer: received.length === 0, socket }))
  })
  await withTimeout(once(socket, 'connect'), 3000, 'TCP connect')
  const gap = opts.gapMs ?? 0
  if (gap === 0) socket.write(Buffer.concat(chunks))
  else {
    for (const chunk of chunks) {
      socket.write(chunk)
      await sleep(gap)
    }
  }
  if (opts.end === true) socket.end()
  return await withTimeout(answered, 5000, 'an answer or the close')
}

/** Every byte its own chunk. */
function bytewise (buf: Buffer): Buffer[] {
  return [...buf].map((b) => Buffer.from([b]))
}

/** MQTT.js through a connection that starts with `header` (then TLS, for wss://). */
function behindHeader (header: Buffer, options: IClientOptions = {}, oneWrite = false): IClientOptions {
  const createConnection = (opts: tls.ConnectionOptions & net.NetConnectOpts): net.Socket => {
    const raw = net.connect({ host: '127.0.0.1', port: Number(opts.port), localAddress: PROXY_PEER })
    if (options.protocol !== 'wss') {
      raw.write(header)
      return raw
    }
    if (!oneWrite) {
      raw.write(header)
      return tls.connect({ ...opts, socket: raw })
    }
    // The header and the TLS ClientHello in one write: the gateway reads
    // them in one chunk and must put the ClientHello back for TLS.
    const [ours, theirs] = duplexPair()
    let first = true
    ours.on('data', (chunk: Buffer) => {
      raw.write(first ? Buffer.concat([header, chunk]) : chunk)
      first = false
    })
    raw.on('data', (chunk: Buffer) => ours.write(chunk))
    raw.on('close', () => ours.destroy())
    ours.on('error', () => {})
    ours.on('close', () => raw.destroy())
    return tls.connect({ ...opts, socket: theirs })
  }
  return { reconnectPeriod: 0, connectTimeout: 5000, ...options, wsOptions: { createConnection } as unknown as IClientOptions['wsOptions'] }
}

async function roundTrip (url: string, options: IClientOptions): Promise<void> {
  const client = mqtt.connect(url, options)
  client.on('error', () => {})
  try {
    await withTimeout(new Promise((resolve) => client.once('connect', resolve)), 6000, 'MQTT.js connect behind a PROXY header')
    await client.subscribeAsync('pp/in')
    const got = new Promise<void>((resolve) => client.once('message', () => resolve()))
    await client.publishAsync('pp/in', 'x')
    await withTimeout(got, 3000, 'the message back')
    await client.endAsync()
  } finally {
    client.end(true)
  }
}

async function closeLine (logs: Fixture['logs']): Promise<LogLine> {
  await waitUntil(() => logs.find({ event: 'close' }) !== undefined, 3000, 'close log line')
  return logs.find({ event: 'close' }) as LogLine
}

async function rejected (fixture: Fixture, reason: string): Promise<{ line: LogLine, count: number }> {
  await waitUntil(() => fixture.logs.find({ event: 'reject', reason }) !== undefined, 3000, `reject ${reason}`)
  const { body } = await httpGet(fixture.adminPort, '/metrics')
  const count = new RegExp(`^mqtt_ws_gateway_upgrades_rejected_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)$`, 'm').exec(body)
  return { line: fixture.logs.find({ event: 'reject', reason }) as LogLine, count: Number(count?.[1]) }
}

let pki: TestPki
before(() => { pki = createPki() })
after(() => pki.remove())

describe('--accept-proxy-protocol: the header\'s address is the client\'s', () => {
  test('v1 and v2 from the trusted load balancer: an MQTT round trip, logged as the header\'s client', async (t) => {
    for (const header of [V1, V2]) {
      const fixture = await startGateway(t)
      await roundTrip(fixture.url, behindHeader(header))
      const open = fixture.logs.find({ event: 'open' })
      assert.equal(open?.remote, `${CLIENT.address}:${CLIENT.port}`, 'the open line: the client and its port')
      assert.equal((await closeLine(fixture.logs)).remote, CLIENT.address)
    }
  })

  test('the header cut at every byte, and the header with the request in one write: both 101', async (t) => {
    const fixture = await startGateway(t)
    for (const header of [V1, V2]) {
      const slow = await exchange(t, fixture.port, [...bytewise(header), upgradeRequest()], { gapMs: 3 })
      assert.equal(slow.status, 101, header.subarray(0, 5).toString('latin1'))
      assert.equal((await exchange(t, fixture.port, [header, upgradeRequest()])).status, 101)
    }
    await waitUntil(() => fixture.logs.lines.filter((l) => l.event === 'open').length === 4, 2000, 'four open lines')
    assert.ok(fixture.logs.lines.filter((l) => l.event === 'open').every((l) => l.remote === `${CLIENT.address}:${CLIENT.port}`))
  })

  test('wss://: the header before TLS, alone or in one TCP write with the ClientHello', async (t) => {
    const [cert, key] = pki.issue('localhost', 'pp-accept-server')
    for (const oneWrite of [false, true]) {
      const fixture = await startGateway(t, { tlsCert: cert, tlsKey: key })
      await roundTrip(fixture.url, behindHeader(V2, { protocol: 'wss', ca: readFileSync(pki.ca), servername: 'localhost' }, oneWrite))
      assert.equal((await closeLine(fixture.logs)).remote, CLIENT.address, oneWrite ? 'one write' : 'two writes')
    }
  })

  test('v2 LOCAL (a health check) and v1 UNKNOWN: the connection\'s own address', async (t) => {
    const fixture = await startGateway(t)
    for (const header of [proxyHeader('v2', undefined), proxyHeader('v1', undefined)]) {
      assert.equal((await exchange(t, fixture.port, [header, upgradeRequest()])).status, 101)
    }
    await waitUntil(() => fixture.logs.lines.filter((l) => l.event === 'open').length === 2, 2000, 'two open lines')
    assert.ok(fixture.logs.lines.filter((l) => l.event === 'open').every((l) => String(l.remote).startsWith(`${PROXY_PEER}:`)))
  })

  test('a direct client outside --trusted-proxies sends no header and connects as itself', async (t) => {
    const fixture = await startGateway(t)
    assert.equal((await exchange(t, fixture.port, [upgradeRequest()], { localAddress: DIRECT_PEER })).status, 101)
    await waitUntil(() => fixture.logs.find({ event: 'open' }) !== undefined, 2000, 'open line')
    assert.match(String(fixture.logs.find({ event: 'open' })?.remote), new RegExp(`^${DIRECT_PEER.replace(/\./g, '\\.')}:\\d+$`))
  })

  test('per-IP limits count the header\'s address, not the load balancer\'s', async (t) => {
    const fixture = await startGateway(t, { maxConnectionsPerIp: 1 })
    const other = proxyHeader('v1', { ...CLIENT, address: '203.0.113.8' })
    const statuses = []
    for (const header of [V1, V1, other]) statuses.push((await exchange(t, fixture.port, [header, upgradeRequest()])).status)
    assert.deepEqual(statuses, [101, 429, 101])
    assert.equal(fixture.logs.find({ event: 'reject', reason: 'limit_ip' })?.remote, CLIENT.address)
  })

  test('X-Forwarded-For is walked from the header\'s address: believed behind a trusted hop only', async (t) => {
    const fixture = await startGateway(t, { trustedProxies: [PROXY_PEER, '10.0.0.0/8'], maxConnectionsPerIp: 5 })
    const viaTrustedHop = proxyHeader('v2', { ...CLIENT, address: '10.1.1.1' })
    const xff = { 'X-Forwarded-For': '198.51.100.1' }
    assert.equal((await exchange(t, fixture.port, [viaTrustedHop, upgradeRequest(xff)])).status, 101)
    assert.equal((await exchange(t, fixture.port, [V2, upgradeRequest(xff)])).status, 101)
    await waitUntil(() => fixture.logs.lines.filter((l) => l.event === 'open').length === 2, 2000, 'two open lines')
    assert.deepEqual(fixture.logs.lines.filter((l) => l.event === 'open').map((l) => l.remote), ['198.51.100.1', `${CLIENT.address}:${CLIENT.port}`])
  })

  test('the broker\'s PROXY header carries the client, and the load balancer\'s AUTHORITY and UNIQUE_ID', async (t) => {
    const broker = await proxiedBroker()
    t.after(() => broker.close())
    const fixture = await startGateway(t, { upstream: broker.url, upstreamProxyProtocol: 'v2' })
    const tlvs = Buffer.concat([
      Buffer.from([0x02, 0x00, 0x10]), Buffer.from('mqtt.example.com'),
      Buffer.from([0x05, 0x00, 0x04]), Buffer.from('id-7'),
      Buffer.from([0xea, 0x00, 0x03]), Buffer.from('vpc'),
      Buffer.from([0x03, 0x00, 0x04, 0, 0, 0, 0])
    ])
    const header = Buffer.concat([V2, tlvs])
    header.writeUInt16BE(header.length - 16, 14)
    header.writeUInt32BE(crc32c(header), header.length - 4)
    await roundTrip(fixture.url, behindHeader(header))
    // The first header is the admin listener's reachability probe (LOCAL).
    const sent = readProxyHeader(broker.headers.at(-1) as Buffer)
    assert.ok(sent.state === 'complete')
    assert.deepEqual(sent.header.source, { address: CLIENT.address, port: CLIENT.port })
    assert.deepEqual(sent.header.destination, { address: CLIENT.localAddress, port: CLIENT.localPort })
    // Passed on: the host name and the connection id; not the checksum (of
    // another header) nor the AWS-specific TLV (meaningless to a broker).
    assert.deepEqual(sent.header.tlvs.map((tlv) => [tlv.type, tlv.value.toString()]), [[0x02, 'mqtt.example.com'], [0x05, 'id-7']])
  })
})

describe('--accept-proxy-protocol: refusals close the connection, with a reason and a count', () => {
  test('a header from a peer outside --trusted-proxies', async (t) => {
    const fixture = await startGateway(t)
    const result = await exchange(t, fixture.port, [V2, upgradeRequest()], { localAddress: DIRECT_PEER })
    assert.equal(result.closedWithoutAnswer, true)
    const { line, count } = await rejected(fixture, 'proxy_header_untrusted')
    assert.equal(count, 1)
    assert.equal(line.remote, DIRECT_PEER)
  })

  test('no header from a trusted load balancer', async (t) => {
    const fixture = await startGateway(t)
    assert.equal((await exchange(t, fixture.port, [upgradeRequest()])).closedWithoutAnswer, true)
    const { line, count } = await rejected(fixture, 'proxy_header_missing')
    assert.equal(count, 1)
    assert.match(String(line.detail), /first bytes: "GET \/mqtt HTTP\/1"/)
  })

  test('malformed, truncated and oversized headers', async (t) => {
    const fixture = await startGateway(t)
    const cases: Array<[Buffer, boolean, RegExp]> = [
      [Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 40000\r\n'), false, /single spaces/],
      [V2.subarray(0, 20), true, /truncated: the connection ended after 20 bytes/],
      [Buffer.from(`PROXY UNKNOWN ${'x'.repeat(200)}\r\n`), false, /no CRLF within 107 bytes/],
      [Buffer.concat([V2.subarray(0, 14), Buffer.from([0x20, 0x00])]), false, /over the 4096-byte TLV limit/]
    ]
    for (const [bytes, end, problem] of cases) {
      const result = await exchange(t, fixture.port, [bytes], { end })
      assert.equal(result.closedWithoutAnswer, true, problem.source)
      await waitUntil(() => fixture.logs.lines.some((l) => l.reason === 'proxy_header_invalid' && problem.test(String(l.detail))), 2000, problem.source)
    }
    assert.equal((await rejected(fixture, 'proxy_header_invalid')).count, cases.length)
  })

  test('a header slower than --handshake-timeout', async (t) => {
    const fixture = await startGateway(t, { handshakeTimeout: 300 })
    const started = Date.now()
    const result = await exchange(t, fixture.port, [V2.subarray(0, 10)])
    const took = Date.now() - started
    assert.equal(result.closedWithoutAnswer, true)
    assert.ok(took >= 250 && took < 2000, `closed after ${took} ms`)
    assert.match(String((await rejected(fixture, 'proxy_header_timeout')).line.detail), /10 bytes of the header within \d+ ms/)
  })
})

describe('--accept-proxy-protocol: shutting down', () => {
  test('close() ends connections still owing their header at once, not at --handshake-timeout', async (t) => {
    const gateway = createGateway({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: 0, logLevel: 'silent', acceptProxyProtocol: true, trustedProxies: [PROXY_PEER], handshakeTimeout: 60_000 })
    const { port } = await gateway.listen()
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: PROXY_PEER })
    t.after(() => socket.destroy())
    socket.on('error', () => {})
    await withTimeout(once(socket, 'connect'), 3000, 'TCP connect')
    socket.write(V2.subarray(0, 5))
    await sleep(100)
    const closed = once(socket, 'close')
    await withTimeout(gateway.close(), 3000, 'close()')
    await withTimeout(closed, 1000, 'the half-sent header\'s connection closed')
  })
})

describe('--accept-proxy-protocol behind HAProxy (deploy/haproxy/haproxy.cfg, send-proxy-v2)', { skip: skipUnlessAvailable('HAProxy in front of wss:// gateways', 'haproxy') }, () => {
  test('wss:// gateways: the client\'s own address (127.0.0.7) reaches their logs through HAProxy', async (t) => {
    const [cert, key] = pki.issue('localhost', 'pp-haproxy-server')
    const a = await startGateway(t, { tlsCert: cert, tlsKey: key })
    const b = await startGateway(t, { tlsCert: cert, tlsKey: key })
    const haproxy = await startDeployHaproxy(a, b, true)
    t.after(() => haproxy.stop())
    const client = await withTimeout(mqtt.connectAsync(haproxy.url, {
      reconnectPeriod: 0, connectTimeout: 5000, ca: readFileSync(pki.ca), servername: 'localhost',
      wsOptions: { localAddress: '127.0.0.7' } as unknown as IClientOptions['wsOptions']
    }), 6000, `MQTT.js through HAProxy\n${haproxy.log()}`)
    await client.endAsync()
    const logs = [...a.logs.lines, ...b.logs.lines]
    await waitUntil(() => [...a.logs.lines, ...b.logs.lines].some((l) => l.event === 'close'), 3000, `close line\n${haproxy.log()}`)
    const line = [...a.logs.lines, ...b.logs.lines].find((l) => l.event === 'close')
    assert.equal(line?.remote, '127.0.0.7', JSON.stringify(logs))
    const rejects = [...a.logs.lines, ...b.logs.lines].filter((l) => l.event === 'reject')
    assert.deepEqual(rejects, [], 'HAProxy\'s health checks go to the admin port, without a header')
  })
})

/**
 * Hostile clients: whatever one client does (floods, splits, stalls) may cost
 * it its own connection, never another client's connection, memory or data.
 *
 * One gateway process (its memory is measured from /proc) in front of a real
 * Mosquitto. Each attack runs on its own connections; after each, a
 * well-behaved MQTT.js client must still round-trip a message within 1 s and
 * the gateway's RSS must be within a stated bound of where it started.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { startMosquitto } from '../support/mosquitto.js'
import type { Mosquitto } from '../support/mosquitto.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { withTimeout } from '../support/wait.js'
import { createPki } from '../support/certs.js'
import type { TestPki } from '../support/certs.js'
import { spawnGateway } from '../support/gateway-process.js'
import type { GatewayProcess } from '../support/gateway-process.js'
import { connectPacket, encode, parseAll, subscribePacket } from '../support/mqtt-bytes.js'
import { floodPings } from '../support/ping-flooder.js'
import type { FloodOptions } from '../support/ping-flooder.js'
import { connectRaw, maskedFrame } from '../support/raw-client.js'
import type { RawClient } from '../support/raw-client.js'

/**
 * What one attack may add to the gateway's resident memory. A connection may
 * hold at most its high-water mark plus one read and one packet (64 KiB
 * each here) for each side; the rest is V8's garbage not yet collected.
 * Today's unbounded paths grow by hundreds of MB within the attack's time.
 */
const MAX_RSS_GROWTH_MB = 64
const DRAIN_TIMEOUT_MS = 2000
const MAX_MESSAGE_SIZE = 64 * 1024
const FIRST_PACKET_TIMEOUT_MS = 3000
const HIGH_WATER_MARK = 64 * 1024
const HANDSHAKE_TIMEOUT_MS = 2000

describe('hostile clients (gateway process in front of Mosquitto)', () => {
  const skip = skipUnlessAvailable('hostile clients', 'mosquitto')
  let broker: Mosquitto
  let gw: GatewayProcess
  let baselineKb = 0

  before(async () => {
    if (skip !== false) return
    broker = await startMosquitto()
    gw = await spawnGateway([
      '--upstream', broker.url,
      '--drain-timeout', String(DRAIN_TIMEOUT_MS),
      '--max-message-size', String(MAX_MESSAGE_SIZE),
      '--first-packet-timeout', String(FIRST_PACKET_TIMEOUT_MS),
      '--handshake-timeout', String(HANDSHAKE_TIMEOUT_MS),
      '--close-timeout', '1000',
      // Small, so a flood reaches it within a second; the bound is the same idea at any size.
      '--high-water-mark', String(HIGH_WATER_MARK),
      '--log-level', 'info'
    ])
    await roundTrip(gw.url, 'warm-up')
    baselineKb = gw.rssKb()
  })
  after(async () => {
    await gw?.stop()
    await broker?.stop()
  })

  /** The promise every attack is checked against: others are unaffected. */
  async function othersUnaffected (t: { diagnostic: (msg: string) => void }, name: string): Promise<void> {
    const ms = await roundTrip(gw.url, `healthy-after-${name}`)
    const growthMb = (gw.rssKb() - baselineKb) / 1024
    t.diagnostic(`after ${name}: round trip ${ms.toFixed(1)} ms, gateway RSS +${growthMb.toFixed(1)} MB`)
    assert.ok(ms < 1000, `a well-behaved client needed ${ms.toFixed(0)} ms for a round trip`)
    assert.ok(growthMb < MAX_RSS_GROWTH_MB, `gateway RSS grew ${growthMb.toFixed(1)} MB`)
  }

  it('ping flood before CONNECT from a client that never reads: bounded memory, dropped at a deadline', { skip }, async (t) => {
    // No CONNECT: this costs an attacker no credentials.
    const growthMb = await pingFlood(t, Buffer.alloc(0), { pingsPerSend: 512, gapMicros: 0 })
    assert.ok(growthMb < MAX_RSS_GROWTH_MB, `ping flood grew the gateway by ${growthMb.toFixed(1)} MB`)
    const closed = await waitForClose(gw, (l) => l.clientId === null && l.mqtt === null && l.bytesIn === 0)
    assert.ok(closed.reason === 'connect_timeout' || closed.reason === 'client_drain_timeout', `closed for ${String(closed.reason)}`)
    await othersUnaffected(t, 'ping flood before CONNECT')
  })

  it('ping flood after CONNECT from a client that never reads: bounded memory, closed after the drain timeout', { skip }, async (t) => {
    // One ping every 100 µs: the gateway reads (and answers) each one, and its
    // pongs (1.3 MB/s) fill the flooder's path within a second or two.
    const growthMb = await pingFlood(t, connectPacket('ping-flooder'), { pingsPerSend: 1, gapMicros: 100 })
    assert.ok(growthMb < MAX_RSS_GROWTH_MB, `ping flood grew the gateway by ${growthMb.toFixed(1)} MB`)
    const closed = await waitForClose(gw, (l) => l.clientId === 'ping-flooder')
    assert.equal(closed.reason, 'client_drain_timeout')
    assert.equal(closed.closedBy, 'gateway')
    await othersUnaffected(t, 'ping flood after CONNECT')
  })

  /** Floods pings until the gateway drops the flooder (or a deadline); returns the gateway's peak RSS growth in MB. */
  async function pingFlood (t: { diagnostic: (msg: string) => void }, first: Buffer, pace: Pick<FloodOptions, 'pingsPerSend' | 'gapMicros'>): Promise<number> {
    let peakKb = gw.rssKb()
    const ms = FIRST_PACKET_TIMEOUT_MS + DRAIN_TIMEOUT_MS + 4000
    const flood = await floodPings(gw.url, { ms, first, ...pace }, () => { peakKb = Math.max(peakKb, gw.rssKb()) })
    const growthMb = (peakKb - baselineKb) / 1024
    t.diagnostic(`${flood.pingsSent} pings offered; ${flood.outcome} after ${flood.elapsedMs} ms; gateway RSS peak +${growthMb.toFixed(1)} MB`)
    assert.equal(flood.outcome, 'dropped', 'the gateway never dropped the flooding client')
    return growthMb
  }

  it('pong flood: answered with nothing, costs others nothing', { skip }, async (t) => {
    const attacker = await connectRaw(gw.url)
    t.after(() => attacker.destroy())
    attacker.sendBinary(connectPacket('pong-flooder'))
    await attacker.waitFor(() => attacker.messages.length >= 1, 3000, 'CONNACK')
    const pong = maskedFrame(0xa, Buffer.alloc(125, 1))
    const burst = Buffer.concat(Array.from({ length: 512 }, () => pong))
    const until = Date.now() + 1000
    while (Date.now() < until) {
      if (!attacker.socket.write(burst)) await Promise.race([once(attacker.socket, 'drain'), sleep(50)])
    }
    assert.equal(attacker.frames.filter((f) => f.opcode !== 0x2).length, 0, 'the gateway answered pongs')
    await othersUnaffected(t, 'pong flood')
  })

  it('a packet over --max-message-size split across many small messages never reaches the broker', { skip }, async (t) => {
    const tcpSubscriber = await mqtt.connectAsync(broker.url, { clientId: 'tcp-watch', reconnectPeriod: 0 })
    t.after(() => tcpSubscriber.end(true))
    const seenByBroker: number[] = []
    tcpSubscriber.on('message', (_topic, payload) => seenByBroker.push(payload.length))
    await tcpSubscriber.subscribeAsync('split/#')
    const wsSubscriber = await connectRaw(gw.url)
    t.after(() => wsSubscriber.destroy())
    wsSubscriber.sendBinary(Buffer.concat([connectPacket('ws-watch'), subscribePacket('split/#')]))
    await wsSubscriber.waitFor(() => parseAll(Buffer.concat(wsSubscriber.messages)).length >= 2, 3000, 'CONNACK and SUBACK')

    const attacker = await connectRaw(gw.url)
    t.after(() => attacker.destroy())
    attacker.sendBinary(connectPacket('splitter'))
    await attacker.waitFor(() => attacker.messages.length >= 1, 3000, 'CONNACK')
    // 4 × the limit, as many messages of 4 KiB each: no single WebSocket
    // message is over the limit, the MQTT packet is.
    const big = encode({ cmd: 'publish', topic: 'split/big', payload: Buffer.alloc(4 * MAX_MESSAGE_SIZE, 3), qos: 0, retain: true, dup: false })
    for (let at = 0; at < big.length; at += 4096) attacker.sendBinary(big.subarray(at, at + 4096))
    await attacker.waitFor(() => attacker.closeCode !== undefined, 5000, 'a close frame')
    assert.equal(attacker.closeCode, 1009)
    const closed = await waitForClose(gw, (l) => l.clientId === 'splitter')
    assert.equal(closed.reason, 'message_too_big')
    // A small publish after it shows the broker's subscribers are live and got nothing big.
    const wsBefore = wsSubscriber.messages.length
    await tcpSubscriber.publishAsync('split/small', 'ok')
    await withTimeout(waitFor(() => seenByBroker.length > 0), 3000, 'the small message at the TCP subscriber')
    assert.deepEqual(seenByBroker, [2], 'the broker received (part of) the oversized packet')
    await wsSubscriber.waitFor(() => wsSubscriber.messages.length > wsBefore, 3000, 'the small message at the WebSocket subscriber')
    assert.equal(wsSubscriber.closed, false, 'the WebSocket subscriber was closed')
    await othersUnaffected(t, 'split oversized packet')
  })

  it('an oversized packet whose fixed header straddles two messages is refused before any byte is forwarded', { skip }, async (t) => {
    const attacker = await connectRaw(gw.url)
    t.after(() => attacker.destroy())
    attacker.sendBinary(connectPacket('header-splitter'))
    await attacker.waitFor(() => attacker.messages.length >= 1, 3000, 'CONNACK')
    const big = encode({ cmd: 'publish', topic: 'split/hdr', payload: Buffer.alloc(2 * MAX_MESSAGE_SIZE, 3), qos: 0, retain: false, dup: false })
    // Type byte and the first length byte in one message, the rest later.
    attacker.sendBinary(big.subarray(0, 2))
    await sleep(50)
    attacker.sendBinary(big.subarray(2, 4096))
    await attacker.waitFor(() => attacker.closeCode !== undefined, 5000, 'a close frame')
    assert.equal(attacker.closeCode, 1009)
    const closed = await waitForClose(gw, (l) => l.clientId === 'header-splitter')
    assert.equal(closed.reason, 'message_too_big')
    assert.equal(closed.bytesIn, connectPacket('header-splitter').length, 'bytes of the oversized packet were counted as forwarded')
    await othersUnaffected(t, 'split fixed header')
  })

  it('a fragment flood (a message in 1-byte frames) over the limit is closed with 1009', { skip }, async (t) => {
    const attacker = await connectRaw(gw.url)
    t.after(() => attacker.destroy())
    attacker.sendBinary(connectPacket('fragmenter'))
    await attacker.waitFor(() => attacker.messages.length >= 1, 3000, 'CONNACK')
    const frames: Buffer[] = [maskedFrame(0x2, Buffer.alloc(1), false)]
    for (let i = 0; i < MAX_MESSAGE_SIZE + 16; i++) frames.push(maskedFrame(0x0, Buffer.alloc(1), false))
    attacker.send(Buffer.concat(frames))
    await attacker.waitFor(() => attacker.closeCode !== undefined, 5000, 'a close frame')
    assert.equal(attacker.closeCode, 1009)
    await othersUnaffected(t, 'fragment flood')
  })

  it('slow-loris: upgrade requests trickled a byte at a time are refused at the handshake timeout, once each', { skip }, async (t) => {
    const sockets = await Promise.all(Array.from({ length: 100 }, () => openTcp(gw.url)))
    t.after(() => { for (const s of sockets) s.destroy() })
    const rejections = (): number => gw.logs.filter((l) => l.event === 'reject' && l.reason === 'handshake_timeout').length
    const already = rejections()
    const request = 'GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Slow: '
    for (const socket of sockets) socket.write(request)
    const trickle = setInterval(() => { for (const socket of sockets) if (!socket.destroyed) socket.write('a') }, 200)
    try {
      await withTimeout(Promise.all(sockets.map(closed)), HANDSHAKE_TIMEOUT_MS + 3000, 'the slow-loris sockets to be closed')
    } finally {
      clearInterval(trickle)
    }
    await sleep(100)
    assert.equal(rejections() - already, sockets.length, 'each slow socket is refused (and logged) exactly once')
    await othersUnaffected(t, 'slow-loris')
  })

  it('half-open upgrades (101 never read, nothing sent) are closed after the CONNECT timeout', { skip }, async (t) => {
    const sockets: RawClient[] = []
    for (let i = 0; i < 50; i++) {
      const raw = await connectRaw(gw.url)
      raw.socket.pause()
      sockets.push(raw)
    }
    t.after(() => { for (const s of sockets) s.destroy() })
    const timeouts = (): number => gw.logs.filter((l) => l.event === 'close' && l.reason === 'connect_timeout').length
    const already = timeouts()
    await withTimeout(waitFor(() => timeouts() - already >= sockets.length), FIRST_PACKET_TIMEOUT_MS + 3000, 'the CONNECT timeouts')
    await othersUnaffected(t, 'half-open upgrades')
  })
})

describe('hostile clients over TLS (gateway process serving wss://)', () => {
  const skip = skipUnlessAvailable('hostile clients over TLS', 'mosquitto')
  let broker: Mosquitto
  let gw: GatewayProcess
  let pki: TestPki
  let ca: Buffer

  before(async () => {
    if (skip !== false) return
    pki = createPki()
    ca = readFileSync(pki.ca)
    const [cert, key] = pki.issue('localhost')
    broker = await startMosquitto()
    gw = await spawnGateway(['--upstream', broker.url, '--tls-cert', cert, '--tls-key', key, '--handshake-timeout', String(HANDSHAKE_TIMEOUT_MS), '--log-level', 'info'])
  })
  after(async () => {
    await gw?.stop()
    await broker?.stop()
    pki?.remove()
  })

  it('slow-loris over TLS: sockets that never finish the TLS handshake are closed at the handshake timeout', { skip }, async (t) => {
    const baselineKb = gw.rssKb()
    const sockets = await Promise.all(Array.from({ length: 100 }, () => openTcp(gw.url)))
    t.after(() => { for (const s of sockets) s.destroy() })
    // Half of them send half a ClientHello (a TLS record header promising more), the rest nothing.
    for (const [i, socket] of sockets.entries()) if (i % 2 === 0) socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))
    const started = performance.now()
    await withTimeout(Promise.all(sockets.map(closed)), HANDSHAKE_TIMEOUT_MS + 3000, 'the TLS slow-loris sockets to be closed')
    const ms = performance.now() - started
    t.diagnostic(`100 TLS slow-loris sockets closed after ${ms.toFixed(0)} ms (timeout ${HANDSHAKE_TIMEOUT_MS} ms)`)
    const rt = await roundTrip(gw.url, 'healthy-after-tls-slow-loris', ca)
    assert.ok(rt < 1000, `a well-behaved client needed ${rt.toFixed(0)} ms for a round trip`)
    const growthMb = (gw.rssKb() - baselineKb) / 1024
    assert.ok(growthMb < MAX_RSS_GROWTH_MB, `gateway RSS grew ${growthMb.toFixed(1)} MB`)
  })
})

/** Resolves when `socket` closes (an error before it, such as EPIPE on a refused socket, is expected). */
function closed (socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()))
}

/** A plain TCP connection to the gateway's host and port, connected. */
async function openTcp (url: string): Promise<net.Socket> {
  const target = new URL(url)
  const socket = net.connect({ host: target.hostname, port: Number(target.port) })
  socket.on('error', () => {})
  await once(socket, 'connect')
  return socket
}

/** Connects a fresh MQTT.js client, subscribes, publishes to itself; returns the round trip in ms. */
async function roundTrip (url: string, clientId: string, ca?: Buffer): Promise<number> {
  const client: MqttClient = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, connectTimeout: 3000, ...(ca === undefined ? {} : { ca }) })
  try {
    await client.subscribeAsync(`rt/${clientId}`, { qos: 1 })
    const started = performance.now()
    const arrived = new Promise((resolve) => client.once('message', resolve))
    await client.publishAsync(`rt/${clientId}`, 'ping', { qos: 1 })
    await withTimeout(arrived, 3000, 'the round trip')
    return performance.now() - started
  } finally {
    await client.endAsync()
  }
}

async function waitForClose (gw: GatewayProcess, match: (line: Record<string, unknown>) => boolean, ms = 5000): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined
  await withTimeout(waitFor(() => (found = gw.logs.find((l) => l.event === 'close' && match(l))) !== undefined), ms, 'the close log line')
  return found as Record<string, unknown>
}

async function waitFor (check: () => boolean): Promise<void> {
  while (!check()) await sleep(10)
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * The token check at the upgrade, over real sockets: refused clients never
 * cost a broker connection, accepted ones are bridged, and the token keeps
 * bounding the connection (its expiry, the client id it names).
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { SignJWT, exportSPKI, generateKeyPair } from 'jose'
import type { CryptoKey, JWTPayload } from 'jose'
import type { GatewayOptions } from '../../src/index.js'
import { startBridged } from '../support/bridged.js'
import type { Bridged } from '../support/bridged.js'
import { connectPacket, encode, parseAll, publishPacket, subscribePacket } from '../support/mqtt-bytes.js'
import { connectRaw, upgrade } from '../support/raw-client.js'
import type { RawClient } from '../support/raw-client.js'

const SECRET = 'e2e-secret-of-at-least-thirty-two-bytes'
const secretKey = new TextEncoder().encode(SECRET)

interface CountingRelay {
  url: string
  /** TCP connections the gateway opened towards the broker. */
  readonly count: number
  /** Where the relay forwards to; set once the broker is up. */
  target: { port: number }
  close: () => Promise<void>
}

/** A TCP relay in front of the broker that counts the gateway's upstream connections. */
async function countingRelay (): Promise<CountingRelay> {
  const sockets = new Set<net.Socket>()
  const relay = { count: 0, target: { port: 0 } }
  const server = net.createServer((client) => {
    relay.count++
    const upstream = net.connect(relay.target.port, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => { client.destroy(); upstream.destroy() })
    }
    client.pipe(upstream).pipe(client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  return Object.assign(relay, {
    url: `mqtt://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy()
      server.close()
      await once(server, 'close')
    }
  })
}

interface Fixture extends Bridged {
  relay: CountingRelay
  /** 'client' events on the broker: CONNECTs that reached it. */
  seen: { brokerClients: number }
}

async function start (options: Partial<GatewayOptions>): Promise<Fixture> {
  const relay = await countingRelay()
  const bridged = await startBridged({ upstream: relay.url, ...options })
  relay.target.port = bridged.broker.port
  const seen = { brokerClients: 0 }
  bridged.broker.broker.on('client', () => { seen.brokerClients++ })
  const closeBridged = bridged.close
  return Object.assign(bridged, {
    relay,
    seen,
    close: async () => {
      await closeBridged()
      await relay.close()
    }
  })
}

function hs256 (claims: JWTPayload = {}, exp: number | string = '1h'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(secretKey)
}

function bearer (token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` }
}

async function mqttConnect (raw: RawClient, clientId: string): Promise<void> {
  raw.sendBinary(connectPacket(clientId))
  await raw.waitFor(() => raw.messages.length >= 1, 3000, `CONNACK for ${clientId}`)
  const [connack] = parseAll(raw.messages[0] as Buffer)
  assert.equal(connack?.cmd, 'connack')
  assert.equal((connack as { returnCode?: number }).returnCode, 0)
}

describe('token check: refusals', () => {
  let fixture: Fixture
  before(async () => { fixture = await start({ jwtSecret: SECRET, jwtAudience: 'mqtt' }) })
  after(() => fixture.close())

  it('no token: 401 with WWW-Authenticate, logged as token_missing, and no broker connection', async () => {
    const refused = await upgrade(fixture.url, { protocol: 'mqtt' })
    assert.equal(refused.ok, false)
    if (refused.ok) return
    assert.equal(refused.status, 401)
    assert.equal(refused.headers['www-authenticate'], 'Bearer')
    assert.equal(refused.body, 'Unauthorized\n')
    assert.ok(fixture.logs.find({ event: 'reject', reason: 'token_missing', status: 401 }))
    assert.equal(fixture.relay.count, 0)
    assert.equal(fixture.broker.broker.connectedClients, 0)
  })

  it('bad tokens: 401 with the same generic body; the reason is only in the log', async () => {
    const wrongKey = await new SignJWT({ aud: 'mqtt' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-secret-but-also-32-bytes-long'))
    const expired = await hs256({ aud: 'mqtt' }, Math.floor(Date.now() / 1000) - 60)
    const wrongAudience = await hs256({ aud: 'other' })
    const noExp = await new SignJWT({ aud: 'mqtt' }).setProtectedHeader({ alg: 'HS256' }).sign(secretKey)
    const cases: [string, string, RegExp][] = [
      ['no exp', noExp, /missing required "exp" claim/],
      ['wrong key', wrongKey, /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/],
      ['expired', expired, /ERR_JWT_EXPIRED/],
      ['wrong audience', wrongAudience, /\(aud\)/],
      ['not a JWT', 'garbage', /ERR_JWS_INVALID/]
    ]
    for (const [what, token, detail] of cases) {
      const before = fixture.logs.lines.length
      const refused = await upgrade(fixture.url, { protocol: 'mqtt', headers: bearer(token) })
      assert.equal(refused.ok, false, what)
      if (refused.ok) continue
      assert.equal(refused.status, 401, what)
      assert.equal(refused.body, 'Unauthorized\n', what)
      assert.doesNotMatch(refused.body, /ERR_|expired|signature|aud/i, what)
      const logged = fixture.logs.lines.slice(before).find((l) => l.event === 'reject')
      assert.equal(logged?.reason, 'token_invalid', what)
      assert.match(String(logged?.detail), detail, what)
    }
    assert.equal(fixture.relay.count, 0)
    assert.equal(fixture.seen.brokerClients, 0)
  })
})

describe('token check: accepted tokens', () => {
  let fixture: Fixture
  before(async () => { fixture = await start({ jwtSecret: SECRET, jwtCookie: 'mqtt_token' }) })
  after(() => fixture.close())

  it('from the Authorization header, the access_token parameter and the cookie: 101, and MQTT flows', async () => {
    const token = await hs256()
    const ways: [string, Parameters<typeof connectRaw>[1]][] = [
      ['header', { protocol: 'mqtt', headers: bearer(token) }],
      ['query', { protocol: 'mqtt', path: `/mqtt?access_token=${token}` }],
      ['cookie', { protocol: 'mqtt', headers: { Cookie: `theme=dark; mqtt_token=${token}` } }]
    ]
    for (const [way, options] of ways) {
      const raw = await connectRaw(fixture.url, options)
      await mqttConnect(raw, `via-${way}`)
      raw.sendBinary(subscribePacket(`jwt/${way}`))
      await raw.waitFor(() => parseAll(Buffer.concat(raw.messages)).length >= 2, 3000, 'SUBACK')
      raw.sendBinary(publishPacket(`jwt/${way}`, way))
      await raw.waitFor(() => parseAll(Buffer.concat(raw.messages)).length >= 3, 3000, 'own message back')
      const echoed = parseAll(Buffer.concat(raw.messages))[2] as { cmd: string, payload: Buffer }
      assert.equal(echoed.cmd, 'publish', way)
      assert.equal(echoed.payload.toString(), way)
      raw.sendClose(1000)
      await raw.closedPromise
    }
  })
})

describe('token check: tokens without exp, when allowed', () => {
  it('--jwt-allow-no-exp lets a token without exp in', async (t) => {
    const fixture = await start({ jwtSecret: SECRET, jwtAllowNoExp: true })
    t.after(() => fixture.close())
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(secretKey)
    const raw = await connectRaw(fixture.url, { protocol: 'mqtt', headers: bearer(token) })
    await mqttConnect(raw, 'no-exp')
    raw.destroy()
  })
})

describe('token check: the token bounds the connection', () => {
  it('closes with 1008 when the token expires, and logs token_expired', async (t) => {
    const fixture = await start({ jwtSecret: SECRET, jwtClockTolerance: 0 })
    t.after(() => fixture.close())
    const exp = Math.floor(Date.now() / 1000) + 2 // 1 to 2 s from now
    const raw = await connectRaw(fixture.url, { protocol: 'mqtt', headers: bearer(await hs256({}, exp)) })
    await mqttConnect(raw, 'short-lived')
    assert.equal(raw.closeCode, undefined)
    await raw.waitFor(() => raw.closeCode !== undefined, 4000, 'close frame')
    assert.equal(raw.closeCode, 1008)
    assert.ok(Date.now() >= exp * 1000 - 50, 'not before exp')
    raw.destroy()
    await raw.waitFor(() => fixture.logs.find({ event: 'close', reason: 'token_expired' }) !== undefined, 3000, 'close log')
    const line = fixture.logs.find({ event: 'close', reason: 'token_expired' })
    assert.equal(line?.closedBy, 'gateway')
    assert.equal(line?.code, 1008)
  })

  /** Upgrades with a token for `claims`, sends `connect`: the gateway must close 1008 with no CONNACK. */
  async function expectRefused (fixture: Fixture, claims: JWTPayload, connect: Buffer, what: string): Promise<void> {
    const raw = await connectRaw(fixture.url, { protocol: 'mqtt', headers: bearer(await hs256(claims)) })
    raw.sendBinary(connect)
    await raw.waitFor(() => raw.closeCode !== undefined, 3000, `close frame (${what})`)
    assert.equal(raw.closeCode, 1008, what)
    assert.equal(raw.messages.length, 0, `no CONNACK (${what})`)
    raw.destroy()
  }

  /** Upgrades with a token for `claims`, sends `connect`: the broker must accept it. */
  async function expectAccepted (fixture: Fixture, claims: JWTPayload, connect: Buffer): Promise<void> {
    const raw = await connectRaw(fixture.url, { protocol: 'mqtt', headers: bearer(await hs256(claims)) })
    raw.sendBinary(connect)
    await raw.waitFor(() => raw.messages.length >= 1, 3000, 'CONNACK')
    assert.equal((parseAll(raw.messages[0] as Buffer)[0] as { returnCode?: number }).returnCode, 0)
    await raw.waitFor(() => fixture.seen.brokerClients === 1, 2000, 'the broker sees the matching client')
    raw.destroy()
  }

  it("closes with 1008 when the CONNECT's client id is not the token's, before the broker sees the CONNECT", async (t) => {
    const fixture = await start({ jwtSecret: SECRET, jwtClientIdClaim: 'sub' })
    t.after(() => fixture.close())
    await expectRefused(fixture, { sub: 'device-7' }, connectPacket('device-8'), 'another id')
    await expectRefused(fixture, {}, connectPacket('device-8'), 'no claim')
    // Give the broker time to read anything it might have been sent.
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(fixture.seen.brokerClients, 0)
    assert.equal(fixture.broker.broker.connectedClients, 0)
    const line = fixture.logs.find({ event: 'close', reason: 'client_id_mismatch' })
    assert.equal(line?.code, 1008)
    assert.equal(line?.clientId, 'device-8')
    await expectAccepted(fixture, { sub: 'device-8' }, connectPacket('device-8'))
  })

  it("closes with 1008 when the CONNECT's username is not the token's, before the broker sees the CONNECT", async (t) => {
    const fixture = await start({ jwtSecret: SECRET, jwtUsernameClaim: 'user' })
    t.after(() => fixture.close())
    const withUser = (username?: string): Buffer =>
      encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'c1', clean: true, keepalive: 60, ...(username === undefined ? {} : { username }) })
    await expectRefused(fixture, { user: 'alice' }, withUser('mallory'), 'another username')
    await expectRefused(fixture, { user: 'alice' }, withUser(), 'no username')
    await expectRefused(fixture, {}, withUser(), 'no claim, no username')
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(fixture.seen.brokerClients, 0)
    assert.equal(fixture.logs.find({ event: 'close', reason: 'username_mismatch' })?.code, 1008)
    await expectAccepted(fixture, { user: 'alice' }, withUser('alice'))
  })
})

describe('token check: a client that leaves during verification', () => {
  let dir: string
  let privateKey: CryptoKey
  let pemPath: string
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mwg-jwt-e2e-'))
    const pair = await generateKeyPair('ES256')
    privateKey = pair.privateKey
    pemPath = join(dir, 'key.pem')
    writeFileSync(pemPath, await exportSPKI(pair.publicKey))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('leaks nothing: no crash, no pending upgrade, the address slot is free again', async (t) => {
    const fixture = await start({ jwtPublicKey: pemPath, maxConnectionsPerIp: 1 })
    t.after(() => fixture.close())
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setExpirationTime('1h').sign(privateKey)
    const { port } = new URL(fixture.url)
    const request = `GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mqtt\r\n' +
      `Authorization: Bearer ${token}\r\n\r\n`
    for (let i = 0; i < 20; i++) {
      const socket = net.connect(Number(port), '127.0.0.1')
      socket.on('error', () => {})
      await once(socket, 'connect')
      // The request and, right behind it, a reset: the gateway is mid-verification.
      socket.write(request)
      socket.resetAndDestroy()
      await once(socket, 'close')
    }
    const gateway = fixture.gateway as unknown as { connectionCount: number, connections: number }
    const deadline = Date.now() + 3000
    while (gateway.connectionCount !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    assert.equal(gateway.connectionCount, 0, 'no upgrade or bridge left')
    const raw = await connectRaw(fixture.url, { protocol: 'mqtt', headers: bearer(token) })
    await mqttConnect(raw, 'after-the-resets')
    raw.destroy()
  })
})

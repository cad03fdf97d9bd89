/**
 * Live trace, end to end, through every viewer at once: the `trace` command
 * (human lines and --json), the admin API's NDJSON and Server-Sent Events
 * streams, the status page in headless Chromium (a row clicked), and the
 * trace file. One client (JWT in ?access_token=, MQTT password) connects,
 * subscribes, publishes, is pinged while idle and answers, and is then taken
 * over by a second connection with its client id. Every viewer must show
 * exactly the same events per connection, with the facts of each; and no
 * output anywhere (viewers, file, gateway log, API answers, the page) may
 * hold the MQTT password, the JWT, the JWT secret or the admin token.
 * Leaves a screenshot in .tmp/trace-page.png.
 */
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { SignJWT } from 'jose'
import mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { GatewayServer } from '../../src/gateway.js'
import { LineFormatter } from '../../src/trace/format.js'
import { chromiumArgs } from '../support/browser.js'
import { freePort } from '../support/free-port.js'
import { isExecutable, programs } from '../support/programs.js'
import { waitUntil } from '../support/wait.js'
import { capturingLogger, sequenceOf, startCliTrace, streamTrace, waitForEvent, withoutIdlePings } from '../support/trace-viewers.js'
import type { CliViewer, StreamViewer, TraceEventJson } from '../support/trace-viewers.js'

const SCREENSHOT = fileURLToPath(new URL('../../.tmp/trace-page.png', import.meta.url))
const MQTT_PASSWORD = 'mqtt-pw-Zq8v1x-never-shown'
const JWT_SECRET = 'jwt-secret-0123456789abcdef-never-shown'
const ADMIN_SECRET = 'admin-secret-4f9c2e7a1b-never-shown'
const CLIENT_ID = 'sensor-1'
/** The browser is optional here (a missing Chromium skips the page's part only), as in the interop suites. */
const withBrowser = isExecutable(programs.chromium) || process.env.CI === 'true'

describe('live trace through every viewer', () => {
  const log = capturingLogger()
  const dir = mkdtempSync(join(tmpdir(), 'mwg-trace-'))
  const traceFile = join(dir, 'trace.ndjson')
  let gateway: GatewayServer
  let adminUrl = ''
  let wsUrl = ''
  let jwt = ''
  let human: CliViewer
  let json: CliViewer
  let ndjson: StreamViewer
  let sse: StreamViewer
  let browser: Browser | undefined
  let page: Page | undefined
  const clients: MqttClient[] = []
  const pageEvents = async (): Promise<TraceEventJson[]> => page === undefined
    ? []
    : await page.$$eval('#trace-lines .ev', (rows) => rows.map((r) => {
      const d = (r as unknown as { dataset: Record<string, string | undefined> }).dataset
      const e: Record<string, unknown> = { type: d.type, dir: d.dir }
      if (d.conn !== undefined) e.conn = Number(d.conn)
      if (d.packet !== undefined) e.packet = d.packet
      if (d.frame !== undefined) e.frame = d.frame
      e.text = r.textContent
      return e as TraceEventJson
    }))
  let connA = 0
  let connB = 0

  const auth = { Authorization: `Bearer ${ADMIN_SECRET}` }
  const cliEnv = { MQTT_WS_GATEWAY_ADMIN_TOKEN: `ops:${ADMIN_SECRET}` }
  const jsonEvents = (): TraceEventJson[] => json.lines().map((l) => JSON.parse(l) as TraceEventJson)

  async function connect (): Promise<MqttClient> {
    const client = await mqtt.connectAsync(`${wsUrl}?access_token=${jwt}`, {
      clientId: CLIENT_ID, username: 'alice', password: MQTT_PASSWORD, keepalive: 60, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4
    })
    clients.push(client)
    return client
  }

  before(async () => {
    gateway = new GatewayServer({
      host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: await freePort(), logger: log.logger,
      wsPingIdle: 1, jwtSecret: JWT_SECRET, jwtClientIdClaim: 'sub', adminToken: [`ops:${ADMIN_SECRET}`], traceFile
    })
    const address = await gateway.listen()
    adminUrl = address.adminUrl ?? ''
    wsUrl = address.url
    jwt = await new SignJWT({ sub: CLIENT_ID }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(JWT_SECRET))

    // Every viewer but the page waits for the client id before the client connects.
    human = startCliTrace(['--client', CLIENT_ID, '--admin', adminUrl, '--no-color'], cliEnv)
    json = startCliTrace(['--client', CLIENT_ID, '--admin', adminUrl, '--json', '--payload'], cliEnv)
    ndjson = await streamTrace(adminUrl, `client=${CLIENT_ID}`, auth)
    sse = await streamTrace(adminUrl, `client=${CLIENT_ID}&format=sse`, auth)
    await waitUntil(() => human.stdout().includes('started: client "sensor-1"') && json.lines().length > 0, 20_000, 'both trace commands started')
    assert.equal(ndjson.status, 200)
    assert.equal(sse.status, 200)

    // The client connects: open, CONNECT, CONNACK for all of them.
    const a = await connect()
    for (const [name, events] of viewers()) {
      const connack = await waitForEvent(events, (e) => e.packet === 'CONNACK', 5000, `${name}: CONNACK`)
      connA = connack.conn as number
    }

    if (withBrowser) {
      browser = await chromium.launch({ executablePath: programs.chromium, args: chromiumArgs, timeout: 30_000 })
      page = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
      await page.goto(adminUrl)
      // --admin-token: the page asks for it once.
      await page.locator('#conn-token').waitFor({ state: 'visible', timeout: 10_000 })
      await page.locator('#conn-token').fill(ADMIN_SECRET)
      await page.locator('#conn-token').dispatchEvent('change')
      await page.locator(`#conns tr[data-client="${CLIENT_ID}"]`).click({ timeout: 10_000 })
      await page.locator('#trace-lines .ev[data-type="attached"]').waitFor({ timeout: 10_000 })
    }

    await a.subscribeAsync('cmd/sensor-1/#', { qos: 1 })
    await a.publishAsync('plant/line-1/temp', '21.5', { qos: 1 })
    // Idle: the gateway pings after 1 s of silence; the client answers.
    const puback = await waitForEvent(() => ndjson.events, (e) => e.packet === 'PUBACK', 5000, 'PUBACK')
    await waitForEvent(() => ndjson.events, (e) => e.frame === 'pong' && (e.seq as number) > (puback.seq as number), 5000, 'the idle ping answered')
    // The same client id again: the first connection is taken over.
    const b = await connect()
    assert.ok(b.connected)
    for (const [name, events] of viewers()) {
      await waitForEvent(events, (e) => e.type === 'close' && e.conn === connA, 5000, `${name}: A's close`)
      const connack = await waitForEvent(events, (e) => e.packet === 'CONNACK' && e.conn !== connA, 5000, `${name}: B's CONNACK`)
      connB = connack.conn as number
    }
    await waitUntil(async () => (await pageEvents()).some((e) => e.type === 'close') && (await pageEvents()).some((e) => e.packet === 'CONNACK'), 5000, 'page: the takeover')
    mkdirSync(fileURLToPath(new URL('../../.tmp/', import.meta.url)), { recursive: true })
    await page?.screenshot({ path: SCREENSHOT, fullPage: true })
  })

  function viewers (): [string, () => TraceEventJson[]][] {
    return [['trace --json', jsonEvents], ['NDJSON', () => ndjson.events], ['SSE', () => sse.events]]
  }

  after(async () => {
    await human?.stop()
    await json?.stop()
    ndjson?.stop()
    sse?.stop()
    await browser?.close()
    for (const client of clients) client.end(true)
    await gateway?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const FIRST = ['open', 'client->broker CONNECT', 'broker->client CONNACK']
  const REST_OF_A = [
    'client->broker SUBSCRIBE', 'broker->client SUBACK',
    'client->broker PUBLISH', 'broker->client PUBACK',
    'gateway->client ws ping', 'client->gateway ws pong',
    'takeover', 'gateway->client ws close', 'client->gateway ws close', 'close'
  ]
  const B = ['open', 'client->broker CONNECT', 'takeover', 'broker->client CONNACK']

  test('the trace command, NDJSON and SSE streams show exactly the same sequence per connection', () => {
    for (const [name, events] of viewers()) {
      const a = withoutIdlePings(sequenceOf(events(), connA), FIRST.length, 'client->broker SUBSCRIBE')
      assert.deepEqual(a, [...FIRST, ...REST_OF_A], `${name}: the first connection`)
      assert.deepEqual(sequenceOf(events(), connB), B, `${name}: the one that took over`)
    }
  })

  test('each event carries its facts; no token, no password', () => {
    const events = ndjson.events.filter((e) => e.conn === connA)
    const find = (sig: (e: TraceEventJson) => boolean): TraceEventJson => events.find(sig) as TraceEventJson
    const open = find((e) => e.type === 'open')
    assert.equal(open.path, '/mqtt', 'the path without its query (the token)')
    assert.equal(open.subprotocol, 'mqtt')
    assert.equal(open.broker, 'embedded')
    assert.match(String(open.remote), /^127\.0\.0\.1:\d+$/)
    assert.deepEqual(Object.keys(open.token as object).sort(), ['clientId', 'expiresAt'])
    assert.equal((open.token as Record<string, unknown>).clientId, CLIENT_ID)
    const connect = find((e) => e.packet === 'CONNECT')
    assert.deepEqual([connect.clientId, connect.keepalive, connect.clean, connect.username, connect.password, connect.version], [CLIENT_ID, 60, true, 'alice', '(redacted)', 4])
    assert.deepEqual([find((e) => e.packet === 'CONNACK').code, find((e) => e.packet === 'CONNACK').codeName], [0, 'accepted'])
    assert.deepEqual(find((e) => e.packet === 'SUBSCRIBE').subscriptions, [{ topic: 'cmd/sensor-1/#', qos: 1 }])
    assert.deepEqual(find((e) => e.packet === 'SUBACK').granted, [{ code: 1, name: 'granted QoS 1' }])
    const publish = find((e) => e.packet === 'PUBLISH')
    assert.deepEqual([publish.topic, publish.qos, publish.retain, publish.payloadSize, publish.payload], ['plant/line-1/temp', 1, false, 4, undefined], 'size only by default')
    assert.equal(find((e) => e.packet === 'PUBACK').id, publish.id)
    const withPayload = jsonEvents().find((e) => e.packet === 'PUBLISH' && e.conn === connA)
    assert.deepEqual([withPayload?.payload, withPayload?.payloadEncoding], ['21.5', 'utf8'], '--payload shows the prefix')
    const pongs = events.filter((e) => e.frame === 'pong')
    const lastPing = events.filter((e) => e.frame === 'ping').at(-1) as TraceEventJson
    assert.ok((lastPing.idleMs as number) >= 990, `pinged after ${String(lastPing.idleMs)} ms of silence`)
    assert.ok(typeof pongs.at(-1)?.rttMs === 'number')
    assert.equal(find((e) => e.type === 'takeover').by, connB)
    assert.deepEqual([find((e) => e.frame === 'close' && e.dir === 'gateway->client').code, find((e) => e.frame === 'close' && e.dir === 'gateway->client').reason], [1000, 'session taken over'])
    const close = find((e) => e.type === 'close')
    assert.deepEqual([close.initiator, close.reason, close.code], ['gateway', 'takeover', 1000])
    assert.equal(ndjson.events.find((e) => e.type === 'takeover' && e.conn === connB)?.replaces, connA)
    // Monotonic time, per connection in order.
    for (const conn of [connA, connB]) {
      const monos = ndjson.events.filter((e) => e.conn === conn).map((e) => e.mono as number)
      for (let i = 1; i < monos.length; i++) assert.ok((monos[i] as number) >= (monos[i - 1] as number), `conn ${conn}: event ${i} not before the one before it`)
    }
  })

  test('the human lines are the JSON events in words, line for line', () => {
    const formatter = new LineFormatter(false)
    const fromJson = jsonEvents().filter((e) => e.conn !== undefined && e.type !== 'attached').map((e) => formatter.format(e))
    const lines = human.lines().filter((l) => /#\d+/.test(l.slice(23, 40)))
    assert.deepEqual(lines.map((l) => l.replace(/"21\.5"/, '')), fromJson.map((l) => l.replace(/ "21\.5"/, '')), 'the same events, said the same way (payload shown only with --payload)')
    assert.match(human.stdout(), /C→B {2}CONNECT v4 client id "sensor-1" keep-alive 60 s clean username "alice" password \(redacted\)/)
    assert.match(human.stdout(), /G→C {2}ping \(idle: no traffic either way for 1\.\d s\)/)
    assert.match(human.stdout(), /GW {3}closed by gateway, takeover \(close 1000\): client id connected again/)
  })

  test('the status page: the clicked row\'s trace shows the same sequence as it arrives', { skip: !withBrowser && 'no Chromium' }, async () => {
    const events = await pageEvents()
    // Joining a live connection: what it did so far, then its CONNECT (kept by the tap the other viewers put there).
    const a = withoutIdlePings(sequenceOf(events, connA), 2, 'client->broker SUBSCRIBE')
    assert.deepEqual(a, ['attached', 'client->broker CONNECT', ...REST_OF_A])
    assert.deepEqual(sequenceOf(events, connB), B)
    const texts = events.map((e) => String(e.text))
    assert.ok(texts.some((t) => t.includes('SUBSCRIBE id') && t.includes('"cmd/sensor-1/#" q1')), 'lines in words')
    assert.match(await page?.locator('#trace-title').innerText() ?? '', /client "sensor-1"/)
  })

  test('the status page: the connection table is searched on the server', { skip: !withBrowser && 'no Chromium' }, async () => {
    const p = page as Page
    await p.locator('#conn-search').fill('no-such-client')
    await p.locator('#no-conns').waitFor({ state: 'visible', timeout: 5000 })
    assert.match(await p.locator('#conns-count').innerText(), /^\(1, 0 matching\)$/)
    await p.locator('#conn-search').fill('sensor')
    await p.locator(`#conns tr[data-conn="${connB}"]`).waitFor({ timeout: 5000 })
    assert.equal(await p.locator('#conns tr').count(), 1)
  })

  test('the trace file holds the same events', () => {
    const files = readdirSync(dir).filter((f) => f.startsWith('trace.ndjson'))
    const events = files.flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l !== '')).map((l) => JSON.parse(l) as TraceEventJson)
    const ndjsonTrace = ndjson.events[0]?.trace
    const fromFile = events.filter((e) => e.trace === ndjsonTrace)
    assert.deepEqual(sequenceOf(fromFile, connA), sequenceOf(ndjson.events, connA))
    assert.deepEqual(sequenceOf(fromFile, connB), sequenceOf(ndjson.events, connB))
  })

  test('every start and stop is logged with who asked (address and token name)', async () => {
    assert.equal(await human.interrupt(), 0, 'Ctrl-C ends the trace command cleanly')
    await waitUntil(() => log.entries().some((e) => e.event === 'trace_stop' && e.reason === 'viewer_gone'), 5000, 'the stop logged')
    const starts = log.entries().filter((e) => e.event === 'trace_start')
    assert.ok(starts.length >= 4)
    for (const start of starts) assert.deepEqual(start.by, { address: '127.0.0.1', token: 'ops' })
  })

  test('no secret anywhere: viewers, page, file, log, API answers', async () => {
    const list = await (await fetch(`${adminUrl}api/traces`, { headers: auth })).text()
    const connections = await (await fetch(`${adminUrl}api/connections`, { headers: auth })).text()
    const file = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n')
    const outputs: Record<string, string> = {
      'trace (human) stdout': human.stdout(),
      'trace (human) stderr': human.stderr(),
      'trace --json stdout': json.stdout(),
      'trace --json stderr': json.stderr(),
      'NDJSON stream': ndjson.raw(),
      'SSE stream': sse.raw(),
      'trace file': file,
      'gateway log': log.lines().join('\n'),
      '/api/traces': list,
      '/api/connections': connections,
      'status page': page === undefined ? '' : await page.content() + await page.locator('body').innerText()
    }
    const secrets = [MQTT_PASSWORD, Buffer.from(MQTT_PASSWORD).toString('hex'), Buffer.from(MQTT_PASSWORD).toString('base64'), jwt, JWT_SECRET, ADMIN_SECRET]
    for (const [name, text] of Object.entries(outputs)) {
      if (name !== 'status page') assert.ok(text.length > 0 || name.includes('stderr'), `${name} is empty`)
      for (const secret of secrets) assert.ok(!text.includes(secret), `${name} contains a secret`)
    }
  })
})

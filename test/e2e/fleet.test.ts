/**
 * A fleet on loopback, as deploy/ describes it: Debian's HAProxy running
 * deploy/haproxy/haproxy.cfg (mode tcp, send-proxy-v2, /readyz checks) in
 * front of two gateways (the real command, --accept-proxy-protocol
 * --trusted-proxies 127.0.0.1 --shutdown-delay 3000), in front of one
 * Mosquitto. Clients connect from 127.0.0.7 through HAProxy.
 *
 * - the client's address survives the load balancer;
 * - a client id connecting through A, then through B: A's connection is
 *   closed within 1 s and the broker holds one connection;
 * - kill -9 of one gateway: its clients are back through the other within
 *   2 s, the other gateway's clients notice nothing (no close, no gap);
 * - a rolling restart of both gateways, one after the other, with 40
 *   persistent QoS 1 subscribers at 500 msg/s from a publisher straight to
 *   Mosquitto: 0 messages lost, 0 refused reconnect attempts, reconnect p50
 *   < 1 s and p99 < 3 s; during the delay an upgrade sent straight to the
 *   draining gateway gets 101.
 * The figures are printed as a table (README, "Running a fleet").
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import mqtt from 'mqtt'
import type { IClientOptions, MqttClient } from 'mqtt'
import { startMosquitto } from '../support/mosquitto.js'
import type { Mosquitto } from '../support/mosquitto.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { waitUntil, withTimeout } from '../support/wait.js'
import { startDeployHaproxy } from '../support/deploy-haproxy.js'
import type { DeployHaproxy } from '../support/deploy-haproxy.js'
import { FleetGateway, percentile, Publisher, Subscriber } from '../support/fleet.js'
import { upgrade } from '../support/raw-client.js'

const CLIENT_ADDRESS = '127.0.0.7'
/** Not in --trusted-proxies: connects straight to a gateway, without a PROXY header. */
const DIRECT_ADDRESS = '127.0.0.8'
const SUBSCRIBERS = 40
const RATE = 500
const SHUTDOWN_DELAY_MS = 3000
const SHUTDOWN_PERIOD_MS = 1500
const GATEWAY_ARGS = [
  '--accept-proxy-protocol', '--trusted-proxies', '127.0.0.1',
  '--shutdown-delay', String(SHUTDOWN_DELAY_MS), '--shutdown-period', String(SHUTDOWN_PERIOD_MS), '--close-timeout', '2000',
  // connect lines (debug) name each connection's client id.
  '--log-level', 'debug'
]

function viaHaproxy (extra: IClientOptions = {}): IClientOptions {
  return { connectTimeout: 3000, wsOptions: { localAddress: CLIENT_ADDRESS } as unknown as IClientOptions['wsOptions'], ...extra }
}

interface Row { phase: string, moved: number, p50: number, p99: number, max: number, failed: number }
const rows: Row[] = []

function ms (n: number): string {
  return Number.isFinite(n) ? `${Math.round(n)} ms` : 'never'
}

describe('a fleet: HAProxy → 2 gateways → Mosquitto', { skip: skipUnlessAvailable('fleet', 'haproxy', 'mosquitto') }, () => {
  let mosquitto: Mosquitto
  let a: FleetGateway
  let b: FleetGateway
  let haproxy: DeployHaproxy
  const subscribers: Subscriber[] = []
  let publisher: Publisher | undefined

  before(async () => {
    mosquitto = await startMosquitto({ config: ['sys_interval 1', 'set_tcp_nodelay true'] })
    a = await FleetGateway.create('gateway-a', ['--upstream', mosquitto.url, ...GATEWAY_ARGS])
    b = await FleetGateway.create('gateway-b', ['--upstream', mosquitto.url, ...GATEWAY_ARGS])
    await Promise.all([a.start(), b.start()])
    haproxy = await startDeployHaproxy(a, b)
  })

  after(async () => {
    publisher?.close()
    for (const s of subscribers) s.client.end(true)
    await haproxy?.stop()
    await a?.killAll()
    await b?.killAll()
    await mosquitto?.stop()
    if (rows.length > 0) {
      console.log('\n| phase | clients that moved | reconnect p50 | p99 | max | refused or failed attempts |\n|---|---|---|---|---|---|')
      for (const r of rows) console.log(`| ${r.phase} | ${r.moved} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${r.failed} |`)
    }
  })

  test('the client\'s address survives the load balancer: 127.0.0.7 in the gateway\'s close line', async () => {
    const client = await withTimeout(mqtt.connectAsync(haproxy.url, viaHaproxy({ reconnectPeriod: 0, clientId: 'fleet-address' })), 5000, 'connect through HAProxy')
    await client.endAsync()
    const closed = (): Record<string, unknown> | undefined => [...a.logs, ...b.logs].find((l) => l.event === 'close' && l.clientId === 'fleet-address')
    await waitUntil(() => closed() !== undefined, 3000, 'close line')
    assert.equal(closed()?.remote, CLIENT_ADDRESS)
    assert.ok(['gateway-a', 'gateway-b'].includes(closed()?.instance as string))
  })

  test('one client id through A, then through B: A\'s connection closed within 1 s, one connection at the broker', async () => {
    const watcher = await withTimeout(mqtt.connectAsync(mosquitto.url, { reconnectPeriod: 0 }), 5000, 'watcher')
    let connectedClients = -1
    watcher.on('message', (_topic, payload) => { connectedClients = Number(payload.toString()) })
    await watcher.subscribeAsync('$SYS/broker/clients/connected')
    const direct = (url: string): Promise<MqttClient> => withTimeout(mqtt.connectAsync(url, {
      clientId: 'fleet-roaming', reconnectPeriod: 0, wsOptions: { localAddress: DIRECT_ADDRESS } as unknown as IClientOptions['wsOptions']
    }), 5000, 'direct connect')
    const first = await direct(a.directUrl)
    first.on('error', () => {})
    const firstClosed = new Promise<number>((resolve) => first.once('close', () => resolve(performance.now())))
    const started = performance.now()
    const second = await direct(b.directUrl)
    const took = await withTimeout(firstClosed, 1000, 'the first connection closed') - started
    await waitUntil(() => a.logs.some((l) => l.event === 'close' && l.clientId === 'fleet-roaming'), 1000, 'A\'s close line')
    const line = a.logs.find((l) => l.event === 'close' && l.clientId === 'fleet-roaming')
    console.log(`# takeover across gateways: A's client closed ${Math.round(took)} ms after B's CONNECT; A logged ${String(line?.closedBy)}/${String(line?.reason)}`)
    // Mosquitto 2.0.11 closes without DISCONNECT 0x8E: a broker close (test/e2e/broker-takeover.test.ts has the 0x8E case).
    assert.equal(line?.closedBy, 'broker')
    // The watcher and fleet-roaming: $SYS counts every connected client, every second.
    await waitUntil(() => connectedClients === 2, 3000, `$SYS/broker/clients/connected = 2 (is ${connectedClients})`)
    assert.match(mosquitto.log(), /Client fleet-roaming already connected, closing old connection/)
    await second.endAsync()
    await watcher.endAsync()
  })

  test(`kill -9 of a gateway: its clients are back through the other within 2 s; the others notice nothing (${SUBSCRIBERS} subscribers, ${RATE} msg/s)`, async () => {
    for (let i = 0; i < SUBSCRIBERS; i++) {
      subscribers.push(new Subscriber(haproxy.url, i, viaHaproxy({ clean: false, reconnectPeriod: 100, protocolVersion: 4 })))
    }
    await waitUntil(() => subscribers.every((s) => s.connects.length > 0), 10_000, 'subscribers connected')
    await Promise.all(subscribers.map(async (s) => await s.client.subscribeAsync(s.topic, { qos: 1 })))
    publisher = await Publisher.connect(mosquitto.url, subscribers.map((s) => s.topic))
    publisher.start(RATE)
    await new Promise((resolve) => setTimeout(resolve, 1000))

    const onB = b.clientIds()
    const onA = a.clientIds()
    assert.ok(onA.size > 0 && onB.size > 0, `clients on both gateways (A ${onA.size}, B ${onB.size})`)
    const mark = haproxy.mark()
    const killedAt = performance.now()
    await b.current.kill()
    const moved = subscribers.filter((s) => onB.has(s.clientId))
    const stayed = subscribers.filter((s) => onA.has(s.clientId))
    await waitUntil(() => moved.every((s) => s.connects.some((c) => c > killedAt)), 5000, 'the killed gateway\'s clients back')
    const settled = performance.now() + 500
    await new Promise((resolve) => setTimeout(resolve, 500))
    const times = moved.flatMap((s) => s.reconnectTimes(killedAt))
    rows.push({ phase: 'kill -9 gateway B', moved: moved.length, p50: percentile(times, 50), p99: percentile(times, 99), max: Math.max(...times), failed: moved.reduce((n, s) => n + s.failedAttempts, 0) })
    assert.ok(Math.max(...times) < 2000, `back within ${Math.round(Math.max(...times))} ms`)
    assert.deepEqual(stayed.filter((s) => s.closes.some((c) => c > killedAt)).map((s) => s.clientId), [], 'the other gateway\'s clients were not closed')
    const gaps = stayed.map((s) => s.longestGap(killedAt, settled))
    console.log(`# kill -9: the other gateway's ${stayed.length} clients, longest gap between messages ${Math.round(Math.max(...gaps))} ms (one every ${Math.round(SUBSCRIBERS / RATE * 1000)} ms on average)`)
    assert.ok(Math.max(...gaps) < 1000, `a gap of ${Math.round(Math.max(...gaps))} ms`)

    // B comes back on its port; HAProxy sees it UP again.
    await b.start()
    await haproxy.waitFor('gateway_b', 'UP', 5000, mark)
  })

  test(`a rolling restart of both gateways: 0 lost, 0 refused reconnects, reconnect p50 < 1 s, p99 < 3 s; an upgrade during the delay gets 101`, async () => {
    assert.ok(publisher !== undefined && subscribers.length === SUBSCRIBERS, 'the subscribers and the publisher of the previous test')
    const failedSoFar = (): number => subscribers.reduce((n, s) => n + s.failedAttempts, 0)
    const failedBefore = failedSoFar()
    const refusals = (): Array<Record<string, unknown>> => [...a.logs, ...b.logs].filter((l) => l.event === 'reject')
    const rejectsBefore = refusals().length
    const all: number[] = []
    for (const [gateway, server] of [[a, 'gateway_a'], [b, 'gateway_b']] as const) {
      const on = gateway.clientIds()
      const failedThen = failedSoFar()
      const mark = haproxy.mark()
      const since = performance.now()
      const stopped = gateway.stop(SHUTDOWN_DELAY_MS + SHUTDOWN_PERIOD_MS + 5000)
      // During the delay, straight to the draining gateway (not through HAProxy): still 101.
      await new Promise((resolve) => setTimeout(resolve, SHUTDOWN_DELAY_MS / 2))
      const during = await upgrade(gateway.directUrl, { protocol: 'mqtt', localAddress: DIRECT_ADDRESS })
      assert.equal(during.ok ? 101 : during.status, 101, `${gateway.name}: an upgrade during its delay`)
      if (during.ok) during.client.destroy()
      await haproxy.waitFor(server, 'DOWN', SHUTDOWN_DELAY_MS, mark)
      await stopped
      await gateway.start()
      await haproxy.waitFor(server, 'UP', 5000, mark)
      const moved = subscribers.filter((s) => on.has(s.clientId))
      await waitUntil(() => moved.every((s) => s.connects.some((c) => c > since)), 5000, `${gateway.name}'s clients reconnected`)
      const times = moved.flatMap((s) => s.reconnectTimes(since))
      all.push(...times)
      rows.push({ phase: `rolling restart: ${gateway.name}`, moved: moved.length, p50: percentile(times, 50), p99: percentile(times, 99), max: Math.max(...times), failed: failedSoFar() - failedThen })
    }
    await new Promise((resolve) => setTimeout(resolve, 1000))
    await publisher.stop()
    const lost = (): number => subscribers.reduce((n, s) => n + [...(publisher?.acked.get(s.topic) ?? [])].filter((seq) => !s.received.has(seq)).length, 0)
    await waitUntil(() => lost() === 0, 10_000, 'every acknowledged message delivered').catch(() => {})
    const failed = failedSoFar() - failedBefore
    const rejects = refusals().length - rejectsBefore
    const summary = { published: publisher.published, acked: publisher.ackedCount, lost: lost(), failedAttempts: failed, rejects, p50: percentile(all, 50), p99: percentile(all, 99), max: Math.max(...all), reconnects: all.length }
    console.log(`# rolling restart: ${JSON.stringify(summary)}`)
    rows.push({ phase: 'rolling restart, both', moved: all.length, p50: summary.p50, p99: summary.p99, max: summary.max, failed })
    assert.equal(publisher.failures, 0)
    assert.equal(summary.lost, 0, 'messages lost')
    assert.equal(failed, 0, `refused or failed reconnect attempts (MQTT.js errors: ${subscribers.flatMap((s) => s.errors).join('; ')})`)
    assert.equal(rejects, 0, `upgrades refused by a gateway: ${JSON.stringify(refusals().slice(-3))}`)
    assert.ok(summary.p50 < 1000, `p50 ${summary.p50} ms`)
    assert.ok(summary.p99 < 3000, `p99 ${summary.p99} ms`)
  })
})

/**
 * --shutdown-delay: on SIGTERM (and SIGINT) /readyz answers 503 at once,
 * while the gateway goes on accepting and serving for the delay, so a load
 * balancer's health checks take it out of rotation before any client is told
 * to leave; only then the staggered drain. The library's close({ delayMs }),
 * the single-process command and --workers (the primary's /readyz, the
 * workers' listeners).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { GatewayServer } from '../../src/gateway.js'
import { freePort } from '../support/free-port.js'
import { httpGet } from '../support/http.js'
import { waitUntil, withTimeout } from '../support/wait.js'
import { startTcpBroker } from '../support/brokers.js'
import { startCliProcess } from '../support/cli-process.js'
import { upgrade } from '../support/raw-client.js'

const DELAY_MS = 1500

async function readyz (adminPort: number): Promise<number> {
  return (await httpGet(adminPort, '/readyz')).status
}

/** An MQTT.js client that records when its connection closed. */
async function client (t: TestContext, url: string, clientId: string): Promise<{ mqtt: MqttClient, closedAt: () => number | undefined }> {
  const c = await withTimeout(mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, connectTimeout: 5000 }), 6000, `connect ${clientId}`)
  c.on('error', () => {})
  let closedAt: number | undefined
  c.once('close', () => { closedAt = Date.now() })
  t.after(() => c.end(true))
  return { mqtt: c, closedAt: () => closedAt }
}

async function echo (c: MqttClient, topic: string): Promise<void> {
  await c.subscribeAsync(topic)
  const got = new Promise<void>((resolve) => c.once('message', () => resolve()))
  await c.publishAsync(topic, 'still serving')
  await withTimeout(got, 2000, 'echo')
}

/**
 * What every mode must show after the stop began at `since`: /readyz 503 at
 * once; during the delay an existing client still served and a new upgrade
 * answered 101; the clients closed only after the delay.
 */
async function assertDelayedStop (t: TestContext, url: string, adminPort: number, since: number, existing: Awaited<ReturnType<typeof client>>): Promise<void> {
  await waitUntil(async () => (await readyz(adminPort)) === 503, 400, '/readyz 503 at once')
  t.diagnostic(`/readyz 503 ${Date.now() - since} ms after the stop began`)
  await echo(existing.mqtt, 'delay/existing')
  const newcomer = await upgrade(url, { protocol: 'mqtt' })
  assert.equal(newcomer.ok, true, 'an upgrade during the delay gets 101')
  if (newcomer.ok) t.after(() => newcomer.client.destroy())
  const during = await client(t, url, `during-${since}`)
  assert.ok(Date.now() - since < DELAY_MS, 'all of that within the delay')
  await waitUntil(() => existing.closedAt() !== undefined && during.closedAt() !== undefined, DELAY_MS + 3000, 'both clients closed')
  const first = Math.min(existing.closedAt() as number, during.closedAt() as number) - since
  t.diagnostic(`first client closed ${first} ms after the stop began (delay ${DELAY_MS} ms)`)
  assert.ok(first >= DELAY_MS - 50, `a client was closed ${first} ms after the stop began, before the ${DELAY_MS} ms delay ended`)
}

describe('--shutdown-delay', () => {
  test('library: close({ delayMs }) answers /readyz 503 at once and serves on for the delay, then refuses with 503', async (t) => {
    const adminPort = await freePort()
    const gateway = new GatewayServer({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort, logLevel: 'silent', closeTimeout: 300 })
    const { url } = await gateway.listen()
    const existing = await client(t, url, 'lib-existing')
    assert.equal(await readyz(adminPort), 200)
    const since = Date.now()
    const closed = gateway.close({ delayMs: DELAY_MS, drainMs: 200 })
    await assertDelayedStop(t, url, adminPort, since, existing)
    const late = await upgrade(url, { protocol: 'mqtt' })
    assert.equal(!late.ok && late.status, 503, 'after the delay: 503, Retry-After')
    await withTimeout(closed, 5000, 'close()')
  })

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`the command, one process: ${signal}`, async (t) => {
      const adminPort = await freePort()
      const cli = startCliProcess(['--host', '127.0.0.1', '--port', '0', '--tcp-port', '0', '--admin-port', String(adminPort),
        '--shutdown-delay', String(DELAY_MS), '--shutdown-period', '200', '--close-timeout', '500'])
      t.after(() => cli.kill())
      const url = await cli.listening()
      const existing = await client(t, url, `cli-${signal}`)
      const since = Date.now()
      cli.child.kill(signal)
      await assertDelayedStop(t, url, adminPort, since, existing)
      const [code] = await withTimeout(cli.exited, 5000, 'exit')
      assert.equal(code, 0, cli.stderr())
      assert.match(cli.stderr(), new RegExp(`${signal}: closing connections over 200 ms in ${DELAY_MS} ms; until then /readyz answers 503`))
    })
  }

  test('the command with --workers 2: the primary\'s /readyz at once, the workers serve on for the delay', async (t) => {
    const broker = await startTcpBroker()
    t.after(() => broker.kill())
    const adminPort = await freePort()
    const cli = startCliProcess(['--host', '127.0.0.1', '--port', '0', '--admin-port', String(adminPort), '--upstream', broker.url, '--workers', '2',
      '--shutdown-delay', String(DELAY_MS), '--shutdown-period', '200', '--close-timeout', '500'])
    t.after(() => cli.kill())
    const url = await cli.listening()
    await waitUntil(async () => (await readyz(adminPort)) === 200, 5000, 'ready')
    const existing = await client(t, url, 'workers-existing')
    const since = Date.now()
    cli.child.kill('SIGTERM')
    await assertDelayedStop(t, url, adminPort, since, existing)
    const [code] = await withTimeout(cli.exited, 8000, 'exit')
    assert.equal(code, 0, cli.stderr())
    assert.equal(cli.logs.filter((l) => l.event === 'worker_exit' && l.code === 0).length, 2)
  })
})

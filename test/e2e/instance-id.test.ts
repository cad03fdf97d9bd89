/**
 * --instance-id: which gateway of a fleet wrote a log line or a series. The
 * real command: every JSON line carries `instance` (the flag, the
 * MQTT_WS_GATEWAY_INSTANCE_ID variable a pod gets its name from, or
 * hostname-pid), every Prometheus series an `instance` label; with --workers
 * the primary's and each worker's lines carry the same one, and /metrics
 * still sums the workers into one series.
 */
import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import mqtt from 'mqtt'
import { freePort } from '../support/free-port.js'
import { httpGet } from '../support/http.js'
import { withTimeout } from '../support/wait.js'
import { startTcpBroker } from '../support/brokers.js'
import { startCliProcess } from '../support/cli-process.js'
import type { CliProcess } from '../support/cli-process.js'

async function start (t: TestContext, args: string[], env: Record<string, string> = {}): Promise<{ cli: CliProcess, url: string, adminPort: number }> {
  const adminPort = await freePort()
  const cli = startCliProcess(['--host', '127.0.0.1', '--port', '0', '--tcp-port', '0', '--admin-port', String(adminPort), ...args], env)
  t.after(() => cli.kill())
  return { cli, url: await cli.listening(), adminPort }
}

/** Opens and closes `count` MQTT.js connections; resolves once the gateway logged their close lines. */
async function connectAndLeave (cli: CliProcess, url: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const client = await withTimeout(mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `instance-${i}` }), 6000, 'connect')
    await client.endAsync()
  }
  await cli.waitForLog(() => cli.logs.filter((l) => l.event === 'close').length >= count, 5000, `${count} close lines`)
}

/** Every sample line of the exposition, and the instance label of each. */
function instanceLabels (body: string): Array<string | undefined> {
  return body.split('\n').filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => /[{,]instance="([^"]*)"/.exec(line)?.[1])
}

describe('--instance-id', () => {
  test('on every log line and every series: the flag, else hostname-pid', async (t) => {
    for (const args of [['--instance-id', 'gw-7'], []]) {
      const { cli, url, adminPort } = await start(t, args)
      const expected = args.length === 0 ? `${hostname()}-${cli.pid}` : 'gw-7'
      await connectAndLeave(cli, url, 1)
      assert.deepEqual(new Set(cli.logs.map((l) => l.instance)), new Set([expected]), JSON.stringify(cli.logs.slice(0, 3)))
      assert.deepEqual(cli.logs.filter((l) => l.event !== undefined).map((l) => l.event), ['start', 'open', 'close'])
      const { body } = await httpGet(adminPort, '/metrics')
      const labels = instanceLabels(body)
      assert.ok(labels.length > 50, `${labels.length} series`)
      assert.deepEqual(new Set(labels), new Set([expected]))
    }
  })

  test('--workers: the primary and every worker carry the one from the environment; /metrics sums them under it', async (t) => {
    const broker = await startTcpBroker()
    t.after(() => broker.kill())
    const { cli, url, adminPort } = await start(t, ['--upstream', broker.url, '--workers', '2'], { MQTT_WS_GATEWAY_INSTANCE_ID: 'mqtt-ws-gateway-5d8f7c9b6-x2k4q' })
    const clients = await Promise.all(Array.from({ length: 6 }, (_, i) => withTimeout(mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `w-${i}` }), 6000, 'connect')))
    t.after(() => { for (const c of clients) c.end(true) })
    await cli.waitForLog(() => cli.logs.filter((l) => l.event === 'open').length === 6, 5000, 'six open lines')
    const workers = new Set(cli.logs.filter((l) => l.event === 'open').map((l) => l.worker))
    assert.equal(workers.size, 2, 'both workers served')
    assert.ok(cli.logs.some((l) => l.role === 'primary'))
    assert.deepEqual(new Set(cli.logs.map((l) => l.instance)), new Set(['mqtt-ws-gateway-5d8f7c9b6-x2k4q']))
    const { body } = await httpGet(adminPort, '/metrics')
    assert.deepEqual(new Set(instanceLabels(body)), new Set(['mqtt-ws-gateway-5d8f7c9b6-x2k4q']))
    assert.match(body, /^mqtt_ws_gateway_connections_active\{instance="mqtt-ws-gateway-5d8f7c9b6-x2k4q"\} 6$/m)
  })

  test('--workers without the option: the primary\'s hostname-pid on the workers\' lines too', async (t) => {
    const broker = await startTcpBroker()
    t.after(() => broker.kill())
    const { cli, url } = await start(t, ['--upstream', broker.url, '--workers', '2'])
    await connectAndLeave(cli, url, 2)
    assert.deepEqual(new Set(cli.logs.map((l) => l.instance)), new Set([`${hostname()}-${cli.pid}`]))
    assert.ok(cli.logs.some((l) => l.event === 'open' && l.pid !== cli.pid), 'a worker\'s line')
  })

  test('a value that is no host or pod name is refused at start (exit 2)', async (t) => {
    const cli = startCliProcess(['--instance-id', 'two words', '--print-config'])
    t.after(() => cli.kill())
    const [code] = await withTimeout(cli.exited, 20_000, 'exit')
    assert.equal(code, 2)
    assert.match(cli.stderr(), /option "instanceId" must be 1 to 253 printable characters without spaces/)
  })
})

/**
 * `--workers N`: the real command, its workers sharing one port through
 * node:cluster, in front of an Aedes broker on TCP. Both workers serve; one
 * killed with SIGKILL is replaced and the crash logged; the primary's
 * /metrics sums the workers; SIGTERM drains and exits 0. Everything on
 * 127.0.0.1; the primary and every worker are killed after each test.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { isRunning, stopChild } from '../support/child.js'
import { freePort } from '../support/free-port.js'
import { waitUntil, withTimeout } from '../support/wait.js'
import { startTcpBroker } from '../support/brokers.js'
import { httpGet } from '../support/http.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const LISTENING = /listening on (ws:\/\/127\.0\.0\.1:\d+\/mqtt) \(upstream mqtt:\/\/127\.0\.0\.1:\d+, 2 workers\)/
/** Start-up of the primary and its workers, tsx compilation included. */
const START_TIMEOUT = 20_000

type Log = Record<string, unknown>

interface Cluster {
  primary: ChildProcess
  logs: Log[]
  lines: string[]
  stderr: () => string
}

/** Starts the CLI; after the test, SIGKILL to the primary and to every worker it logged. */
function startCluster (t: TestContext, args: string[]): Cluster {
  const primary = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '' }
  })
  const cluster: Cluster = { primary, logs: [], lines: [], stderr: () => stderr }
  let stderr = ''
  primary.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  createInterface({ input: primary.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (line.startsWith('{"level"')) cluster.logs.push(JSON.parse(line) as Log)
    else cluster.lines.push(line)
  })
  t.after(async () => {
    await stopChild(primary, 'SIGKILL', 1000)
    for (const pid of workerPids(cluster)) killQuietly(pid)
  })
  return cluster
}

function killQuietly (pid: number): void {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function workerPids (cluster: Cluster): number[] {
  return cluster.logs.filter((l) => l.event === 'worker_start').map((l) => l.workerPid as number)
}

function fail (cluster: Cluster, err: unknown): Error {
  return new Error(`${(err as Error).message}\nstdout: ${cluster.lines.join('\n')}\nlogs: ${JSON.stringify(cluster.logs.slice(-10))}\nstderr: ${cluster.stderr()}`, { cause: err })
}

async function waitFor (cluster: Cluster, check: () => boolean, ms: number, what: string): Promise<void> {
  try {
    await waitUntil(check, ms, what)
  } catch (err) {
    throw fail(cluster, err)
  }
}


async function activeConnections (adminPort: number): Promise<number> {
  const { status, body } = await httpGet(adminPort, '/metrics')
  assert.equal(status, 200, body)
  const match = /^mqtt_ws_gateway_connections_active(?:\{[^}]*\})? (\d+)$/m.exec(body)
  assert.ok(match, 'mqtt_ws_gateway_connections_active in /metrics')
  return Number(match[1])
}

/** `count` MQTT.js clients, connected; each ended after the test. */
async function connectClients (t: TestContext, url: string, count: number, prefix: string): Promise<MqttClient[]> {
  const clients = await Promise.all(Array.from({ length: count }, (_, i) =>
    mqtt.connectAsync(url, { clientId: `${prefix}-${i}`, reconnectPeriod: 0, connectTimeout: 5000 })))
  t.after(() => { for (const c of clients) c.end(true) })
  for (const c of clients) c.on('error', () => {})
  return clients
}

function openPids (cluster: Cluster): Set<number> {
  return new Set(cluster.logs.filter((l) => l.event === 'open').map((l) => l.pid as number))
}

describe('--workers', () => {
  test('two workers share the port; a killed one is replaced; /metrics sums them; SIGTERM drains and exits 0', async (t) => {
    const broker = await startTcpBroker()
    t.after(() => broker.kill())
    const adminPort = await freePort()
    const cluster = startCluster(t, ['--host', '127.0.0.1', '--port', '0', '--admin-port', String(adminPort),
      '--upstream', broker.url, '--workers', '2', '--shutdown-period', '300', '--shutdown-delay', '0'])
    await waitFor(cluster, () => cluster.lines.some((l) => LISTENING.test(l)), START_TIMEOUT, 'listening line')
    const url = LISTENING.exec(cluster.lines.find((l) => LISTENING.test(l)) ?? '')?.[1] as string
    assert.equal(cluster.lines.filter((l) => LISTENING.test(l)).length, 1, 'one listening line for the cluster')
    assert.ok(cluster.lines.includes(`admin on http://127.0.0.1:${adminPort}/ (metrics of all workers, health)`))
    // The primary's log lines are written asynchronously (pino), the listening line
    // synchronously: under load they can reach the pipe in either order.
    await waitFor(cluster, () => workerPids(cluster).length >= 2, 5000, 'two worker_start lines')
    const [first, second] = workerPids(cluster)
    assert.ok(first !== undefined && second !== undefined && first !== second, `worker pids ${String(first)}, ${String(second)}`)
    assert.deepEqual(await httpGet(adminPort, '/readyz'), { status: 200, body: 'ready\n' })

    // Round-robin: 20 connections land on both workers.
    const clients = await connectClients(t, url, 20, 'a')
    await waitFor(cluster, () => cluster.logs.filter((l) => l.event === 'open').length === 20, 5000, '20 open lines')
    assert.deepEqual(openPids(cluster), new Set([first, second]))
    assert.equal(await activeConnections(adminPort), 20)

    // A worker dies: logged with its signal, replaced, and new connections work.
    process.kill(first, 'SIGKILL')
    await waitFor(cluster, () => cluster.logs.some((l) => l.event === 'worker_crash' && l.workerPid === first && l.signal === 'SIGKILL'), 5000, 'crash line')
    await waitFor(cluster, () => workerPids(cluster).length === 3, 5000, 'replacement worker')
    const replacement = workerPids(cluster)[2] as number
    await waitUntil(async () => (await httpGet(adminPort, '/readyz')).status === 200, START_TIMEOUT, 'ready again')
    await waitFor(cluster, () => clients.filter((c) => c.connected).length < 20, 5000, 'clients of the dead worker closed')
    const more = await connectClients(t, url, 10, 'b')
    await waitFor(cluster, () => openPids(cluster).has(replacement), 5000, 'a connection on the replacement')
    const connected = (): number => [...clients, ...more].filter((c) => c.connected).length
    await waitUntil(async () => (await activeConnections(adminPort)) === connected(), 5000, 'metrics sum the live workers')
    assert.ok(connected() >= 10, `${connected()} connected`)

    // SIGTERM to the primary: every worker drains (clients get 1001), all exit, the primary exits 0.
    const exited = once(cluster.primary, 'exit')
    cluster.primary.kill('SIGTERM')
    const [code, signal] = await withTimeout(exited, 10_000, 'exit after SIGTERM').catch((err: unknown) => { throw fail(cluster, err) })
    assert.equal(signal, null, cluster.stderr())
    assert.equal(code, 0, cluster.stderr())
    assert.equal(connected(), 0)
    assert.ok(workerPids(cluster).every((pid) => !alive(pid)), 'no worker left behind')
    assert.equal(cluster.logs.filter((l) => l.event === 'worker_exit' && l.code === 0).length, 2)
  })

  test('without --upstream, --workers 2 exits 2: the embedded broker cannot be split', async (t) => {
    const cluster = startCluster(t, ['--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--workers', '2'])
    const [code] = await withTimeout(once(cluster.primary, 'exit'), START_TIMEOUT, 'exit')
    assert.equal(code, 2)
    assert.match(cluster.stderr(), /option "workers" needs --upstream: the embedded broker cannot be split across worker processes/)
    assert.equal(isRunning(cluster.primary), false)
  })

  test('--print-config shows workers as given: a number or auto', async (t) => {
    const cluster = startCluster(t, ['--print-config', '--workers', 'auto', '--upstream', 'mqtt://127.0.0.1:1883'])
    const [code] = await withTimeout(once(cluster.primary, 'exit'), START_TIMEOUT, 'exit')
    assert.equal(code, 0, cluster.stderr())
    assert.equal((JSON.parse(cluster.lines.join('\n')) as Log).workers, 'auto')
  })
})

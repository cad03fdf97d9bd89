/**
 * The real command, `node --import tsx src/cli/main.ts`, as a user runs it:
 * exit codes, messages naming the bad option, the listening line, the plain
 * HTTP answer, a clean exit on SIGTERM and HTTP 502 when the broker is down.
 * Everything on 127.0.0.1 and port 0; every child is killed after its test.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import WebSocket from 'ws'
import { isRunning, stopChild, tail } from '../support/child.js'
import { freePort } from '../support/free-port.js'
import { waitUntil, withTimeout } from '../support/wait.js'
import { httpGet } from '../support/http.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const LISTENING = /listening on ws:\/\/127\.0\.0\.1:(\d+)\/mqtt/
/** Startup of a short-lived command, tsx compilation included. */
const RUN_TIMEOUT = 20_000

/** The inherited environment without any MQTT_WS_GATEWAY_* variable (or test-runner context). */
function cliEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('MQTT_WS_GATEWAY_') || key === 'NODE_TEST_CONTEXT') continue
    env[key] = value
  }
  return { ...env, ...extra }
}

interface Cli {
  child: ChildProcessWithoutNullStreams
  stdout: () => string
  stderr: () => string
}

/** Starts the CLI; the child is killed (SIGKILL if need be) when the test ends, pass or fail. */
function startCli (t: TestContext, args: string[], env: Record<string, string> = {}): Cli {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: cliEnv(env),
    stdio: ['pipe', 'pipe', 'pipe']
  })
  t.after(() => stopChild(child, 'SIGKILL', 1000))
  const out = tail()
  const err = tail()
  child.stdout.on('data', out.push)
  child.stderr.on('data', err.push)
  child.stdin.end()
  return { child, stdout: out.text, stderr: err.text }
}

interface Finished {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

async function waitExit (cli: Cli, ms: number, what: string): Promise<Finished> {
  const { child } = cli
  const exited = isRunning(child) ? once(child, 'exit') : Promise.resolve([child.exitCode, child.signalCode])
  try {
    const [code, signal] = await withTimeout(exited, ms, what) as [number | null, NodeJS.Signals | null]
    return { code, signal, stdout: cli.stdout(), stderr: cli.stderr() }
  } catch (err) {
    throw new Error(`${(err as Error).message}\nstdout: ${cli.stdout()}\nstderr: ${cli.stderr()}`, { cause: err })
  }
}

/** Runs a command that must exit on its own. */
async function runCli (t: TestContext, args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return await waitExit(startCli(t, args, env), RUN_TIMEOUT, `mqtt-ws-gateway ${args.join(' ')}`)
}

/** Resolves with the WebSocket port once the listening line is printed. */
async function waitListening (cli: Cli, ms: number): Promise<number> {
  const found = new Promise<number>((resolve, reject) => {
    const check = (): void => {
      const match = LISTENING.exec(cli.stdout())
      if (match !== null) {
        cli.child.stdout.off('data', check)
        cli.child.off('exit', onExit)
        resolve(Number(match[1]))
      }
    }
    const onExit = (code: number | null): void => reject(new Error(`exited with ${String(code)} before listening`))
    cli.child.stdout.on('data', check)
    cli.child.once('exit', onExit)
    check()
  })
  try {
    return await withTimeout(found, ms, 'listening line')
  } catch (err) {
    throw new Error(`${(err as Error).message}\nstdout: ${cli.stdout()}\nstderr: ${cli.stderr()}`, { cause: err })
  }
}


/** The HTTP status a WebSocket upgrade gets when it is refused. */
async function refusedUpgradeStatus (url: string, protocol: string): Promise<number> {
  const ws = new WebSocket(url, protocol, { handshakeTimeout: 5000 })
  ws.on('error', () => {}) // the refusal is read from 'unexpected-response'
  const status = new Promise<number>((resolve, reject) => {
    ws.once('unexpected-response', (req, res) => {
      res.resume()
      req.destroy()
      resolve(res.statusCode ?? 0)
    })
    ws.once('open', () => reject(new Error('the upgrade was accepted')))
    ws.once('close', () => reject(new Error('closed without an HTTP answer')))
  })
  try {
    return await withTimeout(status, 6000, `upgrade to ${url}`)
  } finally {
    ws.terminate()
  }
}

describe('mqtt-ws-gateway command line', () => {
  test('--help exits 0 and lists --upstream', async (t) => {
    const r = await runCli(t, ['--help'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /--upstream/)
    assert.match(r.stdout, /MQTT_WS_GATEWAY_UPSTREAM/)
  })

  test('an unknown flag exits 2 and names it', async (t) => {
    const r = await runCli(t, ['--bogus'])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /--bogus/)
  })

  test('--port abc exits 2 and names port', async (t) => {
    const r = await runCli(t, ['--port', 'abc'])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /port/)
    assert.match(r.stderr, /abc/)
  })

  test('MQTT_WS_GATEWAY_PORT=99999 exits 2 and names port', async (t) => {
    const r = await runCli(t, [], { MQTT_WS_GATEWAY_PORT: '99999' })
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /"port"/)
    assert.equal(LISTENING.test(r.stdout), false)
  })

  test('an unknown MQTT_WS_GATEWAY_* variable exits 2 and names it', async (t) => {
    const r = await runCli(t, ['--print-config'], { MQTT_WS_GATEWAY_PROT: '1' })
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /MQTT_WS_GATEWAY_PROT/)
  })

  test('--print-config prints the effective options as JSON; flags win over the environment', async (t) => {
    const r = await runCli(t, ['--print-config', '--port', '1234', '--host', '127.0.0.1'], { MQTT_WS_GATEWAY_PORT: '4321', MQTT_WS_GATEWAY_LOG_LEVEL: 'warn' })
    assert.equal(r.code, 0, r.stderr)
    const printed = JSON.parse(r.stdout) as Record<string, unknown>
    assert.equal(printed.port, 1234)
    assert.equal(printed.host, '127.0.0.1')
    assert.equal(printed.logLevel, 'warn')
    assert.deepEqual(printed.paths, ['/mqtt'])
  })

  test('--print-config masks secrets', async (t) => {
    const secret = 'a-shared-secret-of-at-least-32-bytes!'
    const r = await runCli(t, ['--print-config'], { MQTT_WS_GATEWAY_JWT_SECRET: secret })
    assert.equal(r.code, 0, r.stderr)
    assert.equal((JSON.parse(r.stdout) as Record<string, unknown>).jwtSecret, '***')
    assert.doesNotMatch(r.stdout, new RegExp(secret))
  })

  test('--print-config shows a port from the environment', async (t) => {
    const r = await runCli(t, ['--print-config'], { MQTT_WS_GATEWAY_PORT: '4321' })
    assert.equal(r.code, 0, r.stderr)
    assert.equal((JSON.parse(r.stdout) as Record<string, unknown>).port, 4321)
  })
})

describe('mqtt-ws-gateway serving', () => {
  test('listens, answers plain HTTP with 426, exits 0 on SIGTERM', async (t) => {
    // No --shutdown-delay (5 s by default): test/e2e/shutdown-delay.test.ts times it.
    const cli = startCli(t, ['--host', '127.0.0.1', '--port', '0', '--tcp-port', '0', '--admin-port', '0', '--shutdown-delay', '0'])
    const port = await waitListening(cli, 10_000)
    assert.ok(port > 0)

    const { status, body } = await httpGet(port, '/')
    assert.equal(status, 426)
    assert.match(body, /mqtt-ws-gateway/)

    cli.child.kill('SIGTERM')
    const r = await waitExit(cli, 5000, 'exit after SIGTERM')
    assert.equal(r.signal, null, r.stderr)
    assert.equal(r.code, 0, r.stderr)
  })

  test('prints the admin URL on the line after the listening line, and serves /healthz there', async (t) => {
    const adminPort = await freePort()
    const cli = startCli(t, ['--host', '127.0.0.1', '--port', '0', '--tcp-port', '0', '--admin-port', String(adminPort)])
    await waitListening(cli, 10_000)
    await waitUntil(() => /admin on/.test(cli.stdout()), 2000, 'admin line')
    // JSON log lines interleave as pino flushes; the human lines must be adjacent.
    const lines = cli.stdout().split('\n').filter((line) => !line.startsWith('{'))
    const at = lines.findIndex((line) => LISTENING.test(line))
    assert.equal(lines[at + 1], `admin on http://127.0.0.1:${adminPort}/ (metrics, health, status)`)
    assert.deepEqual(await httpGet(adminPort, '/healthz'), { status: 200, body: 'ok\n' })
  })

  test('a WebSocket upgrade gets HTTP 502 when the upstream broker is down', async (t) => {
    // Port 1 on loopback: nothing listens there, so the connect is refused at once.
    const cli = startCli(t, ['--upstream', 'mqtt://127.0.0.1:1', '--port', '0', '--host', '127.0.0.1', '--admin-port', '0'])
    const port = await waitListening(cli, 10_000)
    assert.equal(await refusedUpgradeStatus(`ws://127.0.0.1:${port}/mqtt`, 'mqtt'), 502)
    // The gateway stays up for the next client.
    assert.equal(await refusedUpgradeStatus(`ws://127.0.0.1:${port}/mqtt`, 'mqtt'), 502)
    assert.ok(isRunning(cli.child))
  })
})

/**
 * A start that fails: a port already taken (the WebSocket port, the embedded
 * broker's --tcp-port, --admin-port), an unreadable certificate. In every
 * mode (embedded broker, --upstream, --workers 2) the command prints exactly
 * one line naming the flag and the address, no stack trace, and exits 1
 * within seconds; the library's listen() rejects with MWG_ERR_LISTEN and
 * releases whatever it had opened. Ports are held by a listener the test
 * opens on 127.0.0.1; every child is killed after its test.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import { ListenError, UnreadableFileError } from '../../src/errors.js'
import { createGateway } from '../../src/index.js'
import { stopChild, tail } from '../support/child.js'
import { freePort } from '../support/free-port.js'
import { withTimeout } from '../support/wait.js'
import { startTcpBroker } from '../support/brokers.js'
import type { TcpBroker } from '../support/brokers.js'
import { createPki } from '../support/certs.js'
import type { TestPki } from '../support/certs.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** tsx compilation, the start, and the exit: a hang shows as a timeout. */
const EXIT_WITHIN = 15_000

/** A listener on 127.0.0.1 holding a port, closed after the test. */
async function holdPort (t: TestContext): Promise<number> {
  const server = net.createServer((socket) => socket.destroy())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as net.AddressInfo).port
}

/** True when `port` on 127.0.0.1 can be bound right now. */
async function bindable (port: number): Promise<boolean> {
  const server = net.createServer()
  try {
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    return true
  } catch {
    return false
  } finally {
    server.close()
  }
}

interface Exit { code: number | null, signal: NodeJS.Signals | null, stderr: string, ms: number }

/** Runs the command, which must exit on its own within EXIT_WITHIN. */
async function runToExit (t: TestContext, args: string[]): Promise<Exit> {
  const started = Date.now()
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--host', '127.0.0.1', '--log-level', 'silent', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '' }
  })
  t.after(() => stopChild(child, 'SIGKILL', 1000))
  const stderr = tail()
  child.stderr.on('data', stderr.push)
  const [code, signal] = await withTimeout(once(child, 'exit'), EXIT_WITHIN, `exit of mqtt-ws-gateway ${args.join(' ')} (stderr: ${stderr.text()})`) as [number | null, NodeJS.Signals | null]
  return { code, signal, stderr: stderr.text(), ms: Date.now() - started }
}

/** Exit code 1, and on stderr exactly `line`: one line, no stack trace. */
function assertOneLine (exit: Exit, line: string): void {
  assert.equal(exit.signal, null, exit.stderr)
  assert.equal(exit.code, 1, exit.stderr)
  assert.deepEqual(exit.stderr.split('\n').filter((l) => l !== ''), [line])
}

const inUse = (flag: string, port: number): string => `mqtt-ws-gateway: cannot listen on 127.0.0.1:${port} (${flag}): address already in use`

let broker: TcpBroker
let pki: TestPki
before(async () => {
  broker = await startTcpBroker()
  pki = createPki()
})
after(async () => {
  await broker.kill()
  pki.remove()
})

describe('a taken port, as a command', () => {
  test('embedded broker, the WebSocket port', async (t) => {
    const port = await holdPort(t)
    assertOneLine(await runToExit(t, ['--port', String(port), '--tcp-port', '0', '--admin-port', '0']), inUse('--port', port))
  })

  test('embedded broker, --tcp-port', async (t) => {
    const port = await holdPort(t)
    assertOneLine(await runToExit(t, ['--port', '0', '--tcp-port', String(port), '--admin-port', '0']), inUse('--tcp-port', port))
  })

  test('embedded broker, --admin-port', async (t) => {
    const port = await holdPort(t)
    assertOneLine(await runToExit(t, ['--port', '0', '--tcp-port', '0', '--admin-port', String(port)]), inUse('--admin-port', port))
  })

  test('--upstream, the WebSocket port', async (t) => {
    const port = await holdPort(t)
    assertOneLine(await runToExit(t, ['--upstream', broker.url, '--port', String(port), '--admin-port', '0']), inUse('--port', port))
  })

  test('--workers 2, the WebSocket port: the workers cannot bind, the primary says so once and exits 1', async (t) => {
    const port = await holdPort(t)
    assertOneLine(await runToExit(t, ['--workers', '2', '--upstream', broker.url, '--port', String(port), '--admin-port', '0']), inUse('--port', port))
  })

  test('--workers 2, --admin-port (the primary\'s)', async (t) => {
    const port = await holdPort(t)
    assertOneLine(await runToExit(t, ['--workers', '2', '--upstream', broker.url, '--port', '0', '--admin-port', String(port)]), inUse('--admin-port', port))
  })
})

describe('an unreadable certificate, as a command', () => {
  test('one line naming --tls-cert and the file, exit 1; with --workers 2 too', async (t) => {
    const [, key] = pki.issue('gateway', 'unreadable')
    const missing = join(pki.dir, 'missing.pem')
    const line = `mqtt-ws-gateway: cannot read ${missing} (--tls-cert): no such file`
    assertOneLine(await runToExit(t, ['--port', '0', '--tcp-port', '0', '--admin-port', '0', '--tls-cert', missing, '--tls-key', key]), line)
    assertOneLine(await runToExit(t, ['--workers', '2', '--upstream', broker.url, '--port', '0', '--admin-port', '0', '--tls-cert', missing, '--tls-key', key]), line)
  })
})

describe('a taken port, through the library', () => {
  test('listen() rejects with MWG_ERR_LISTEN naming the option and address, and releases what it had opened', async (t) => {
    const cases = [
      { option: 'port', taken: 'port' },
      { option: 'tcpPort', taken: 'tcpPort' },
      { option: 'adminPort', taken: 'adminPort' }
    ] as const
    for (const { option } of cases) {
      const ports = { port: await freePort(), tcpPort: await freePort(), adminPort: await freePort() }
      const held = await holdPort(t)
      ports[option] = held
      const gateway = createGateway({ host: '127.0.0.1', ...ports, logLevel: 'silent' })
      await assert.rejects(gateway.listen(), (err: unknown) => {
        assert.ok(err instanceof ListenError, String(err))
        assert.equal(err.code, 'MWG_ERR_LISTEN')
        assert.equal(err.option, option)
        assert.equal(err.address, `127.0.0.1:${held}`)
        assert.equal(err.errno, 'EADDRINUSE')
        return true
      })
      for (const [name, port] of Object.entries(ports)) {
        if (name !== option) assert.ok(await bindable(port), `${name} ${port} released after ${option} failed`)
      }
    }
  })

  test('an unreadable certificate is an UnreadableFileError (MWG_ERR_READ_FILE) naming tlsCert', () => {
    const missing = join(pki.dir, 'nothing-here.pem')
    assert.throws(() => createGateway({ tlsCert: missing, tlsKey: missing }), (err: unknown) =>
      err instanceof UnreadableFileError && err.code === 'MWG_ERR_READ_FILE' && err.option === 'tlsCert' && err.path === missing)
  })
})

/**
 * The processes the suite runs against, each a child on loopback with a free
 * port: Mosquitto (when installed), a TCP relay (socat, when installed), the
 * reflector and the gateways. Each
 * start waits, within a bound, until the child serves; each stop sends
 * SIGTERM, then SIGKILL.
 */
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { gatewayMain } from './paths.js'

const START_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 3000
const KEPT_LINES = 40

export class Service {
  readonly name: string
  readonly child: ChildProcess
  private readonly lines: string[] = []
  private readonly watchers = new Set<(line: string) => void>()
  private exited = false

  constructor (name: string, child: ChildProcess) {
    this.name = name
    this.child = child
    child.once('exit', () => { this.exited = true })
    // A child that cannot be spawned emits 'error' and never 'exit'.
    child.once('error', err => {
      this.exited = true
      this.keep(`${name} failed to start: ${err.message}`)
    })
    for (const stream of [child.stdout, child.stderr]) {
      if (stream !== null) createInterface({ input: stream }).on('line', line => this.keep(line))
    }
  }

  get pid (): number {
    return this.child.pid ?? 0
  }

  get running (): boolean {
    return !this.exited
  }

  /** The child's last lines of output, for error messages. */
  get output (): string {
    return this.lines.join('\n')
  }

  private keep (line: string): void {
    this.lines.push(line)
    if (this.lines.length > KEPT_LINES) this.lines.shift()
    for (const watch of this.watchers) watch(line)
  }

  /** Resolves with the first output line matching `pattern`; rejects on exit or timeout. */
  waitForLine (pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const finish = (err: Error | undefined, match?: RegExpExecArray): void => {
        clearTimeout(timer)
        this.watchers.delete(watch)
        this.child.removeListener('exit', onExit)
        this.child.removeListener('error', onExit)
        if (match !== undefined) resolve(match)
        else reject(err)
      }
      const watch = (line: string): void => {
        const match = pattern.exec(line)
        if (match !== null) finish(undefined, match)
      }
      const onExit = (code: unknown): void => finish(new Error(`${this.name} exited (${code instanceof Error ? code.message : `code ${String(code)}`}):\n${this.output}`))
      const timer = setTimeout(() => finish(new Error(`${this.name} printed no line matching ${pattern} within ${timeoutMs} ms:\n${this.output}`)), timeoutMs)
      this.watchers.add(watch)
      this.child.once('exit', onExit)
      this.child.once('error', onExit)
    })
  }

  async stop (): Promise<void> {
    if (this.exited || this.child.pid === undefined) return
    const exited = new Promise<void>(resolve => this.child.once('exit', () => resolve()))
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }
}

/** A port free on 127.0.0.1 right now (for children that cannot take port 0). */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')))
    })
  })
}

function canConnect (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

async function waitForPort (service: Service, port: number): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (!service.running) throw new Error(`${service.name} exited during start:\n${service.output}`)
    if (await canConnect(port)) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`${service.name} did not listen on port ${port} within ${START_TIMEOUT_MS} ms:\n${service.output}`)
}

const MOSQUITTO_PATHS = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/bin/mosquitto', '/opt/homebrew/sbin/mosquitto']

export function findMosquitto (): string | undefined {
  return MOSQUITTO_PATHS.find(path => existsSync(path))
}

export interface Mosquitto {
  service: Service
  tcpUrl: string
  wsUrl: string
}

/**
 * Mosquitto with a TCP and a WebSocket listener. Its per-client windows are
 * unlimited: in 2.0.11 the default queue limits drop QoS 1 messages under a
 * fan-in well below the configured counts, and the bench's own windows
 * already bound what is in flight.
 */
export async function startMosquitto (binary: string): Promise<Mosquitto> {
  const [tcpPort, wsPort] = [await freePort(), await freePort()]
  const dir = mkdtempSync(join(tmpdir(), 'mqtt-ws-bench-'))
  const config = join(dir, 'mosquitto.conf')
  writeFileSync(config, [
    `listener ${tcpPort} 127.0.0.1`,
    'allow_anonymous true',
    'persistence false',
    'set_tcp_nodelay true',
    'max_inflight_messages 0',
    'max_queued_messages 0',
    `listener ${wsPort} 127.0.0.1`,
    'protocol websockets',
    ''
  ].join('\n'))
  const service = new Service('mosquitto', spawn(binary, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] }))
  service.child.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  try {
    await waitForPort(service, tcpPort)
    await waitForPort(service, wsPort)
  } catch (err) {
    await service.stop()
    throw err
  }
  return { service, tcpUrl: `mqtt://127.0.0.1:${tcpPort}`, wsUrl: `ws://127.0.0.1:${wsPort}/mqtt` }
}

const SOCAT_PATHS = ['/usr/bin/socat', '/usr/local/bin/socat', '/opt/homebrew/bin/socat']

export function findSocat (): string | undefined {
  return SOCAT_PATHS.find(path => existsSync(path))
}

export interface Relay {
  service: Service
  url: string
}

/**
 * A plain TCP relay in front of `upstreamPort`: socat, a C program that
 * copies bytes and nothing else, one forked process per connection, 64 KiB
 * buffers, Nagle off both ways. It sits where the gateway sits, so it shows
 * what any proxy in its own process costs on this machine (the extra
 * wake-ups and kernel copies) before a line of WebSocket or MQTT is handled.
 */
export async function startRelay (binary: string, upstreamPort: number): Promise<Relay> {
  const port = await freePort()
  const args = ['-b', '65536', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,nodelay`, `TCP:127.0.0.1:${upstreamPort},nodelay`]
  const service = new Service('tcp relay (socat)', spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] }))
  try {
    await waitForPort(service, port)
  } catch (err) {
    await service.stop()
    throw err
  }
  return { service, url: `mqtt://127.0.0.1:${port}` }
}

export interface Gateway {
  service: Service
  url: string
}

/** The gateway's `--help` text ('' if it cannot be run). */
export function gatewayHelp (): string {
  try {
    return execFileSync(process.execPath, [gatewayMain(), '--help'], { encoding: 'utf8', timeout: START_TIMEOUT_MS })
  } catch {
    return ''
  }
}

const LISTENING = /listening on (ws:\/\/[^\s"',]+)/

/** Starts a gateway; `args` are its flags. Resolves with the URL from its "listening on" line. */
export async function startGateway (args: readonly string[], name = 'gateway'): Promise<Gateway> {
  const main = gatewayMain()
  if (!existsSync(main)) throw new Error(`${main} not found: run npm run build first`)
  const service = new Service(name, spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }))
  try {
    const url = await waitForListening(service)
    // The gateway serves MQTT on /mqtt by default; a bare origin means that path.
    return { service, url: new URL(url).pathname === '/' ? new URL('/mqtt', url).href : url }
  } catch (err) {
    await service.stop()
    throw err
  }
}

function waitForListening (service: Service): Promise<string> {
  return service.waitForLine(LISTENING, START_TIMEOUT_MS).then(match => match[1] ?? '')
}

export interface ReflectorProcess {
  service: Service
  url: string
}

const REFLECTOR_LISTENING = /listening on (mqtt:\/\/\S+)/

/**
 * Starts the reflector (reflector.js beside this file) as its own process rather
 * than inside the suite: the suite process is the load tool, so a reflector
 * there would add its CPU to the tool's, delay the tool's reads (and so its
 * latencies) in the same event loop, and could not be told apart from the
 * tool in /proc; as a child its CPU is measured alone, like a broker's.
 */
export async function startReflector (): Promise<ReflectorProcess> {
  const main = fileURLToPath(new URL('reflector.js', import.meta.url))
  const service = new Service('reflector', spawn(process.execPath, [main, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] }))
  try {
    const match = await service.waitForLine(REFLECTOR_LISTENING, START_TIMEOUT_MS)
    return { service, url: match[1] ?? '' }
  } catch (err) {
    await service.stop()
    throw err
  }
}

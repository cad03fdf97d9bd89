/**
 * A real Mosquitto for a test file: a child process on a free loopback port,
 * with its own config in a temp dir, stopped by PID.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isRunning, stopChild, tail } from './child.js'
import { freePort } from './free-port.js'
import { isExecutable, programs } from './programs.js'
import { acceptsTcp, waitUntil } from './wait.js'

export interface MosquittoOptions {
  /** Refuse anonymous clients; only this user/password may connect. */
  auth?: { username: string, password: string }
  /** Also open Mosquitto's own WebSocket listener (reference runs of the client harness). */
  websockets?: boolean
  /** More configuration lines, e.g. `max_inflight_messages 0`. */
  config?: readonly string[]
}

export interface Mosquitto {
  readonly port: number
  /** mqtt://127.0.0.1:PORT */
  readonly url: string
  /** ws://127.0.0.1:PORT/mqtt of Mosquitto's own WebSocket listener, when asked for. */
  readonly wsUrl: string | undefined
  /** Stops the process (SIGTERM; SIGKILL if it lingers) and removes its files. Idempotent. */
  stop: () => Promise<void>
  /** Like stop(), but with SIGKILL at once: a broker crash. */
  kill: () => Promise<void>
  /** Stops it if it runs, then starts it again on the same port(s). */
  restart: () => Promise<void>
  /** The last lines Mosquitto logged, for failure messages. */
  log: () => string
}

const READY_TIMEOUT = 5000

interface Ports { mqtt: number, ws: number | undefined }

function configText (ports: Ports, passwordFile: string | undefined, extra: readonly string[]): string {
  const lines = [
    `listener ${ports.mqtt} 127.0.0.1`,
    passwordFile === undefined ? 'allow_anonymous true' : 'allow_anonymous false',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information'
  ]
  if (passwordFile !== undefined) lines.push(`password_file ${passwordFile}`)
  lines.push(...extra)
  if (ports.ws !== undefined) lines.push(`listener ${ports.ws} 127.0.0.1`, 'protocol websockets')
  return lines.join('\n') + '\n'
}

function writePasswordFile (file: string, auth: { username: string, password: string }): void {
  const result = spawnSync(programs.mosquittoPasswd, ['-b', '-c', file, auth.username, auth.password], { encoding: 'utf8', timeout: 10_000 })
  if (result.status !== 0) throw new Error(`mosquitto_passwd failed: ${result.error?.message ?? result.stderr}`)
}

/** Writes the config (and password file) into a fresh temp dir the `mosquitto` user can read. */
async function writeConfig (ports: Ports, options: MosquittoOptions): Promise<{ dir: string, config: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'mwg-mosquitto-'))
  // Started as root, Mosquitto drops to the `mosquitto` user before it reads the password file.
  await chmod(dir, 0o755)
  let passwordFile: string | undefined
  if (options.auth !== undefined) {
    passwordFile = join(dir, 'passwd')
    writePasswordFile(passwordFile, options.auth)
    await chmod(passwordFile, 0o644)
  }
  const config = join(dir, 'mosquitto.conf')
  await writeFile(config, configText(ports, passwordFile, options.config ?? []), { mode: 0o644 })
  return { dir, config }
}

async function waitReady (child: ChildProcess, ports: Ports, log: () => string): Promise<void> {
  const listening = async (): Promise<boolean> => {
    if (!isRunning(child)) throw new Error(`mosquitto exited (${child.exitCode ?? child.signalCode})`)
    return await acceptsTcp(ports.mqtt) && (ports.ws === undefined || await acceptsTcp(ports.ws))
  }
  try {
    await waitUntil(listening, READY_TIMEOUT, `mosquitto listening on port ${ports.mqtt}`)
  } catch (err) {
    throw new Error(`${(err as Error).message}; its log:\n${log()}`, { cause: err })
  }
}

export async function startMosquitto (options: MosquittoOptions = {}): Promise<Mosquitto> {
  const ports: Ports = { mqtt: await freePort(), ws: options.websockets === true ? await freePort() : undefined }
  const logs = tail()
  let running: { child: ChildProcess, dir: string } | undefined

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const current = running
    running = undefined
    if (current === undefined) return
    await stopChild(current.child, signal)
    await rm(current.dir, { recursive: true, force: true })
  }
  const start = async (): Promise<void> => {
    if (!isExecutable(programs.mosquitto)) throw new Error(`${programs.mosquitto} not found (apt-get install mosquitto)`)
    const { dir, config } = await writeConfig(ports, options)
    const child = spawn(programs.mosquitto, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] })
    running = { child, dir }
    child.stdout.on('data', logs.push)
    child.stderr.on('data', logs.push)
    child.on('error', (err) => logs.push(`spawn error: ${err.message}\n`))
    try {
      await waitReady(child, ports, logs.text)
    } catch (err) {
      await halt('SIGKILL')
      throw err
    }
  }

  await start()
  return {
    port: ports.mqtt,
    url: `mqtt://127.0.0.1:${ports.mqtt}`,
    wsUrl: ports.ws === undefined ? undefined : `ws://127.0.0.1:${ports.ws}/mqtt`,
    stop: async () => { await halt('SIGTERM') },
    kill: async () => { await halt('SIGKILL') },
    restart: async () => { await halt('SIGTERM'); await start() },
    log: logs.text
  }
}

/**
 * Paho MQTT (Python) as a `ClientDriver`: one `/usr/bin/python3` process per
 * client, running test/interop/paho_client.py and talking JSON lines.
 */
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { isRunning, stopChild, tail } from './child.js'
import { ConnackError, Inbox, LossCounter } from './client.js'
import type { ClientDriver, ConnectOptions, QoS, TestClient } from './client.js'
import { programs } from './programs.js'
import { withTimeout } from './wait.js'

const SCRIPT = fileURLToPath(new URL('../interop/paho_client.py', import.meta.url))
const REQUEST_TIMEOUT = 10_000

/** A reply or an event line from paho_client.py; which fields are set depends on the op or event. */
export interface PahoLine {
  id?: number
  ok?: boolean
  error?: string
  rc?: number
  event?: 'message' | 'disconnect' | 'progress'
  [field: string]: unknown
}

/** One running paho_client.py. */
export class PahoProcess {
  readonly #child: ChildProcessWithoutNullStreams
  readonly #replies = new Map<number, { resolve: (line: PahoLine) => void, reject: (err: Error) => void }>()
  readonly #stderr = tail()
  #nextId = 1
  /** Called with every unsolicited event line. */
  onEvent: (line: PahoLine) => void = () => {}

  constructor () {
    this.#child = spawn(programs.python, ['-u', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.#child.stderr.on('data', this.#stderr.push)
    this.#child.on('error', (err) => {
      this.#stderr.push(`${programs.python}: ${err.message}\n`)
      this.#failPending()
    })
    this.#child.on('exit', () => this.#failPending())
    this.#child.stdin.on('error', () => {}) // EPIPE after a kill; pending requests fail on 'exit'
    createInterface({ input: this.#child.stdout }).on('line', (text) => this.#dispatch(text))
  }

  #failPending (): void {
    for (const { reject } of this.#replies.values()) reject(new Error(`paho exited:\n${this.#stderr.text()}`))
    this.#replies.clear()
  }

  get running (): boolean {
    return isRunning(this.#child)
  }

  #dispatch (text: string): void {
    let line: PahoLine
    try {
      line = JSON.parse(text) as PahoLine
    } catch {
      return this.#stderr.push(`stdout: ${text}\n`)
    }
    if (line.event !== undefined) return this.onEvent(line)
    if (line.id === undefined) return
    this.#replies.get(line.id)?.resolve(line)
    this.#replies.delete(line.id)
  }

  /** Sends one request; resolves with its reply, `ok` or not. */
  async request (op: string, fields: Record<string, unknown> = {}, timeoutMs = REQUEST_TIMEOUT): Promise<PahoLine> {
    if (!this.running) throw new Error(`${programs.python} ${SCRIPT} is not running, cannot ${op}\n${this.#stderr.text()}`)
    const id = this.#nextId++
    const reply = new Promise<PahoLine>((resolve, reject) => this.#replies.set(id, { resolve, reject }))
    this.#child.stdin.write(JSON.stringify({ ...fields, id, op }) + '\n')
    try {
      return await withTimeout(reply, timeoutMs, `paho ${op}`)
    } finally {
      this.#replies.delete(id)
    }
  }

  /** Like request(), but rejects when the reply is not ok. */
  async call (op: string, fields: Record<string, unknown> = {}, timeoutMs = REQUEST_TIMEOUT): Promise<PahoLine> {
    const reply = await this.request(op, fields, timeoutMs)
    if (reply.ok !== true) throw new Error(`paho ${op} failed: ${reply.error ?? `rc ${String(reply.rc)}`}`)
    return reply
  }

  /** Closes stdin so the script ends by itself; SIGKILL if it does not within a second. */
  async end (): Promise<void> {
    if (!this.running) return
    const exited = once(this.#child, 'exit')
    this.#child.stdin.end()
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 1000)
    await exited
    clearTimeout(timer)
  }

  /** The process dies at once: its TCP connection is closed by the kernel, no DISCONNECT, no close frame. */
  async kill (): Promise<void> {
    await stopChild(this.#child, 'SIGKILL')
  }
}

function connectFields (options: ConnectOptions): Record<string, unknown> {
  const will = options.will === undefined
    ? undefined
    : { topic: options.will.topic, payload: options.will.payload.toString('hex'), qos: options.will.qos, retain: options.will.retain }
  return {
    url: options.url,
    client_id: options.clientId,
    version: options.version,
    clean: options.clean ?? true,
    keepalive: options.keepalive ?? 60,
    will,
    username: options.username,
    password: options.password
  }
}

function onEvent (inbox: Inbox, losses: LossCounter): (line: PahoLine) => void {
  return (line) => {
    if (line.event === 'disconnect') return losses.ended()
    if (line.event !== 'message') return
    inbox.push({
      topic: String(line.topic),
      payload: Buffer.from(String(line.payload), 'hex'),
      qos: line.qos as QoS,
      retain: line.retain === true
    })
  }
}

function wrap (paho: PahoProcess, sessionPresent: boolean, inbox: Inbox, losses: LossCounter): TestClient {
  return {
    sessionPresent,
    get connectionLosses () { return losses.losses },
    get pending () { return inbox.size },
    subscribe: async (topic, qos) => (await paho.call('subscribe', { topic, qos })).granted as number[],
    publish: async (topic, payload, qos, retain = false) => {
      await paho.call('publish', { topic, payload: payload.toString('hex'), qos, retain })
    },
    take: async (count, timeoutMs) => await inbox.take(count, timeoutMs),
    disconnect: async () => {
      losses.expectEnd()
      await paho.call('disconnect')
      await paho.end()
    },
    kill: async () => {
      losses.expectEnd()
      await paho.kill()
    },
    close: async () => {
      losses.expectEnd()
      await paho.kill()
    }
  }
}

/** Starts a paho process and connects it; the process is killed if the connect fails. */
export async function connectPahoProcess (options: ConnectOptions, inbox = new Inbox(), losses = new LossCounter()): Promise<{ paho: PahoProcess, sessionPresent: boolean }> {
  const paho = new PahoProcess()
  paho.onEvent = onEvent(inbox, losses)
  try {
    const reply = await paho.request('connect', connectFields(options))
    if (reply.ok === true) return { paho, sessionPresent: reply.session_present === true }
    throw reply.rc === undefined ? new Error(`paho connect failed: ${reply.error ?? 'no reason'}`) : new ConnackError(reply.rc)
  } catch (err) {
    await paho.kill()
    throw err
  }
}

export const pahoDriver: ClientDriver = {
  name: 'Paho (Python)',
  versions: [4, 5],
  connect: async (options) => {
    const inbox = new Inbox()
    const losses = new LossCounter()
    const { paho, sessionPresent } = await connectPahoProcess(options, inbox, losses)
    return wrap(paho, sessionPresent, inbox, losses)
  }
}

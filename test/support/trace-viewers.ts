/**
 * Viewers of a live trace, for the trace tests: the `trace` command as a
 * child process, the admin API's NDJSON and Server-Sent Events streams read
 * with fetch, and a pino logger whose lines the test can read. Each keeps
 * everything it received, raw and parsed, so tests can both compare event
 * sequences and grep every byte for secrets.
 */
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import type { Logger } from 'pino'
import { stopChild } from './child.js'
import { waitUntil } from './wait.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export type TraceEventJson = Record<string, unknown> & { type: string, dir?: string, conn?: number }

export interface CliViewer {
  child: ChildProcessWithoutNullStreams
  stdout: () => string
  stderr: () => string
  lines: () => string[]
  /** SIGINT (Ctrl-C), then the exit code. */
  interrupt: () => Promise<number | null>
  stop: () => Promise<void>
}

/** The inherited environment without MQTT_WS_GATEWAY_* variables (or the test runner's context). */
function cleanEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('MQTT_WS_GATEWAY_') || key === 'NODE_TEST_CONTEXT' || key === 'NO_COLOR' || key === 'FORCE_COLOR') continue
    env[key] = value
  }
  return { ...env, ...extra }
}

/** Runs `mqtt-ws-gateway trace …args`; keeps all it prints. */
export function startCliTrace (args: string[], env: Record<string, string> = {}): CliViewer {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'trace', ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  child.stdin.end()
  const exited = once(child, 'exit') as Promise<[number | null]>
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    lines: () => out.split('\n').filter((l) => l !== ''),
    interrupt: async () => {
      child.kill('SIGINT')
      const [code] = await exited
      return code
    },
    stop: async () => { await stopChild(child, 'SIGKILL', 1000) }
  }
}

/** Runs a short `trace` command (--list, --stop, --detach) to its end. */
export async function runCliTrace (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const viewer = startCliTrace(args, env)
  const [code] = await once(viewer.child, 'exit') as [number | null]
  return { code, stdout: viewer.stdout(), stderr: viewer.stderr() }
}

export interface StreamViewer {
  status: number
  raw: () => string
  events: TraceEventJson[]
  stop: () => void
  /** Resolves when the stream ends (the trace ended, or stop()). */
  done: Promise<void>
}

/** GET /api/trace?… and reads it as NDJSON or SSE until it ends or stop(). */
export async function streamTrace (adminUrl: string, query: string, headers: Record<string, string> = {}): Promise<StreamViewer> {
  const abort = new AbortController()
  const res = await fetch(`${adminUrl}api/trace?${query}`, { headers, signal: abort.signal })
  const sse = (res.headers.get('content-type') ?? '').startsWith('text/event-stream')
  let raw = ''
  const events: TraceEventJson[] = []
  const done = (async () => {
    if (res.body === null) return
    const decoder = new TextDecoder()
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        raw += decoder.decode(chunk, { stream: true })
        parseComplete()
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err
    }
  })()
  let parsedUpTo = 0
  function parseComplete (): void {
    const separator = sse ? '\n\n' : '\n'
    for (;;) {
      const end = raw.indexOf(separator, parsedUpTo)
      if (end < 0) return
      const record = raw.slice(parsedUpTo, end)
      parsedUpTo = end + separator.length
      const json = sse ? record.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n') : record
      if (json !== '') events.push(JSON.parse(json) as TraceEventJson)
    }
  }
  return { status: res.status, raw: () => raw, events, stop: () => abort.abort(), done }
}

/** Waits until `events` holds one that `match` accepts; returns it. */
export async function waitForEvent (events: () => TraceEventJson[], match: (e: TraceEventJson) => boolean, ms: number, what: string): Promise<TraceEventJson> {
  let found: TraceEventJson | undefined
  await waitUntil(() => (found = events().find(match)) !== undefined, ms, what)
  return found as TraceEventJson
}

/** A pino logger at info whose JSON lines the test reads. */
export function capturingLogger (): { logger: Logger, lines: () => string[], entries: () => Record<string, unknown>[] } {
  const lines: string[] = []
  const sink = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''))
      callback()
    }
  })
  const logger = pino({ level: 'info', base: { name: 'mqtt-ws-gateway' } }, sink)
  return { logger, lines: () => lines, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) }
}

/** `dir kind` of an event: `client->broker SUBSCRIBE`, `gateway->client ws ping`, `takeover`. */
export function signature (e: TraceEventJson): string {
  if (e.type === 'packet') return `${String(e.dir)} ${String(e.packet)}`
  if (e.type === 'ws') return `${String(e.dir)} ws ${String(e.frame)}`
  return e.type
}

/** The signatures of connection `conn`'s events, in order. */
export function sequenceOf (events: readonly TraceEventJson[], conn: number): string[] {
  return events.filter((e) => e.conn === conn).map(signature)
}

/**
 * Drops the idle pings from `from` up to `until`, and their pongs (the
 * gateway pings whenever the client has been silent for --ws-ping-idle, so
 * how many come while a test sets up depends on its speed). A pong may come
 * just after `until`: the client had sent that packet before it read the
 * ping. Anything else before `until`, or a ping left unanswered, keeps the
 * sequence as it is, so that the comparison shows it.
 */
export function withoutIdlePings (sequence: readonly string[], from: number, until: string): string[] {
  const end = sequence.indexOf(until)
  if (end < 0) return [...sequence]
  let unanswered = 0
  for (let i = from; i < end; i++) {
    if (sequence[i] === PING) unanswered++
    else if (sequence[i] === PONG && unanswered > 0) unanswered--
    else return [...sequence]
  }
  const rest = [...sequence.slice(end)]
  // The pongs of pings sent before `until` come next to it, before the broker's answer.
  for (let i = 1; unanswered > 0 && rest[i] === PONG; unanswered--) rest.splice(i, 1)
  return unanswered === 0 ? [...sequence.slice(0, from), ...rest] : [...sequence]
}

const PING = 'gateway->client ws ping'
const PONG = 'client->gateway ws pong'

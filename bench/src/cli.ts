/**
 * `mqtt-ws-bench`: the load tool's command line. Parses flags, runs one
 * scenario, prints a summary (or one JSON line with --json).
 *
 * Exit codes: 0 the run completed cleanly; 1 it completed with a problem
 * (clients failed to connect, unexpected disconnects, or loss at QoS 1/2);
 * 2 bad flags or the run could not start.
 */
import { parseArgs } from 'node:util'
import { BenchUsageError, benchDefaults, resolveBenchOptions } from './options.js'
import type { BenchInput } from './options.js'
import { formatProgress, formatSummary } from './report.js'
import type { BenchResult } from './results.js'
import { runScenario } from './run.js'
import type { Progress } from './run.js'

const d = benchDefaults

const USAGE = `Usage: mqtt-ws-bench --url URL [options]

Load generator for MQTT over WebSocket (ws://, wss://) or TCP (mqtt://, mqtts://).

Target
  --url URL                 ws://127.0.0.1:8000/mqtt, mqtt://127.0.0.1:1883, ...
  --allow-remote            allow a non-loopback host
  --insecure                accept any TLS certificate (wss://, mqtts://)
  --mqtt 3.1.1|5            protocol version (${d.mqtt})
  --username U --password P credentials for CONNECT

Messages mode (default)
  --publishers P            publishing connections (${d.publishers})
  --subscribers S           subscribing connections (${d.subscribers})
  --topics LAYOUT           shared | per-publisher | wildcard (${d.topics})
  --echo                    publishers subscribe to their own topics (no subscribers)
  --qos 0|1|2               QoS of publishes and subscriptions (${d.qos})
  --payload BYTES           payload size, at least 16 (${d.payload})
  --rate MSG_PER_S          open loop at this total rate; omit for max rate
  --inflight N              max-rate window per publisher, sent but not received (${d.inflight})
  --duration SECONDS        how long to send (${d.duration})
  --count N                 send N messages in all instead
  --ws-batch                put all packets of one write in one WebSocket frame
  --pid PID                 report this process's CPU per message, its children's
                            included (repeatable)

Connections mode
  --mode connections        open idle connections and hold them
  --connections C           how many (${d.connections})
  --connect-rate N          connections started per second; 0 = as fast as allowed (0)
  --connect-concurrency N   handshakes in progress at once (${d.connectConcurrency})
  --hold SECONDS            how long to hold them (${d.hold})
  --pid PID                 report this process's RSS per connection

Output
  --json                    print one JSON line instead of the summary table
  --help                    this text

Advanced
  --keepalive SECONDS       MQTT keep-alive; PINGREQ every half of it (${d.keepalive})
  --timeout MS              per-connection handshake timeout (${d.timeoutMs})
  --drain MS                after sending, how long to wait for messages in flight (${d.drainMs})
  --topic-prefix PREFIX     topics are PREFIX/<run id>/... (${d.topicPrefix})
`

const FLAGS = {
  url: { type: 'string' },
  'allow-remote': { type: 'boolean' },
  insecure: { type: 'boolean' },
  mode: { type: 'string' },
  publishers: { type: 'string' },
  subscribers: { type: 'string' },
  topics: { type: 'string' },
  echo: { type: 'boolean' },
  qos: { type: 'string' },
  payload: { type: 'string' },
  rate: { type: 'string' },
  inflight: { type: 'string' },
  duration: { type: 'string' },
  count: { type: 'string' },
  mqtt: { type: 'string' },
  'ws-batch': { type: 'boolean' },
  connections: { type: 'string' },
  'connect-rate': { type: 'string' },
  'connect-concurrency': { type: 'string' },
  hold: { type: 'string' },
  pid: { type: 'string', multiple: true },
  keepalive: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  timeout: { type: 'string' },
  drain: { type: 'string' },
  'topic-prefix': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const

type Values = ReturnType<typeof parseArgs<{ options: typeof FLAGS, strict: true }>>['values']

function num (flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (value.trim() === '' || Number.isNaN(n)) throw new BenchUsageError(flag, `must be a number, got ${JSON.stringify(value)}`)
  return n
}

function toInput (v: Values): BenchInput {
  if (v.url === undefined) throw new BenchUsageError('url', 'is required')
  return {
    url: v.url,
    allowRemote: v['allow-remote'],
    insecure: v.insecure,
    mode: v.mode,
    publishers: num('publishers', v.publishers),
    subscribers: num('subscribers', v.subscribers),
    topics: v.topics,
    echo: v.echo,
    qos: num('qos', v.qos),
    payload: num('payload', v.payload),
    rate: num('rate', v.rate),
    inflight: num('inflight', v.inflight),
    duration: num('duration', v.duration),
    count: num('count', v.count),
    mqtt: v.mqtt,
    wsBatch: v['ws-batch'],
    connections: num('connections', v.connections),
    connectRate: num('connect-rate', v['connect-rate']),
    connectConcurrency: num('connect-concurrency', v['connect-concurrency']),
    hold: num('hold', v.hold),
    pid: v.pid?.map(p => num('pid', p) ?? 0),
    keepalive: num('keepalive', v.keepalive),
    username: v.username,
    password: v.password,
    timeoutMs: num('timeout', v.timeout),
    drainMs: num('drain', v.drain),
    topicPrefix: v['topic-prefix']
  }
}

/** Live progress on a terminal only; returns the hook and a function that clears the line. */
function progressLine (): { onProgress?: (p: Progress) => void, clear: () => void } {
  const out = process.stderr
  if (!out.isTTY) return { clear: () => {} }
  return {
    onProgress: p => out.write(`\r\x1b[K${formatProgress(p)}`),
    clear: () => out.write('\r\x1b[K')
  }
}

function hadProblem (result: BenchResult): boolean {
  if (result.connect.failed > 0 || result.disconnects > 0) return true
  return result.mode === 'messages' && result.scenario.qos > 0 && result.lost > 0
}

export async function runBench (argv: string[]): Promise<number> {
  let values: Values
  try {
    values = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false }).values
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`)
    return 2
  }
  if (values.help === true) {
    console.log(USAGE)
    return 0
  }
  let options
  try {
    options = resolveBenchOptions(toInput(values))
  } catch (err) {
    if (!(err instanceof BenchUsageError)) throw err
    console.error(`bench: ${err.message}\nRun with --help for the flags.`)
    return 2
  }
  const progress = progressLine()
  let result: BenchResult
  try {
    result = await runScenario(options, { onProgress: progress.onProgress })
  } catch (err) {
    progress.clear()
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`)
    return 2
  }
  progress.clear()
  console.log(values.json === true ? JSON.stringify(result) : formatSummary(result))
  return hadProblem(result) ? 1 : 0
}

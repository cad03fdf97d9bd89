/**
 * Load tool options: one defaults object, checked once at the edge. The CLI
 * and the suite both go through `resolveBenchOptions`, which fails fast with
 * a `BenchUsageError` naming the flag.
 */
import type { ProtocolVersion, QoS } from './mqtt-encode.js'
import { PAYLOAD_HEADER_SIZE } from './payload.js'
import { parseTarget } from './target.js'
import type { Target } from './target.js'
import type { TopicLayout } from './topology.js'

export type BenchMode = 'messages' | 'connections'

export interface BenchOptions {
  target: Target
  mode: BenchMode
  publishers: number
  subscribers: number
  topics: TopicLayout
  /** Publishers subscribe to their own topics; no separate subscribers. */
  echo: boolean
  qos: QoS
  payload: number
  /** Messages per second in all (open loop); 0 is max rate within `inflight`. */
  rate: number
  /** Max-rate window per publisher: messages sent and not yet received. */
  inflight: number
  /** Seconds of sending (when `count` is not set). */
  duration: number
  /** Messages to send in all, shared among publishers; overrides `duration`. */
  count: number | undefined
  version: ProtocolVersion
  /** Several MQTT packets per WebSocket frame instead of one. */
  wsBatch: boolean
  connections: number
  /** Connections started per second; 0 is as fast as `connectConcurrency` allows. */
  connectRate: number
  connectConcurrency: number
  /** Seconds to hold idle connections open. */
  hold: number
  /** Processes whose CPU (messages mode) or RSS (connections mode) is reported. */
  pids: number[]
  keepalive: number
  username: string | undefined
  password: string | undefined
  /** Per-connection handshake timeout, ms. */
  timeoutMs: number
  /** After sending stops, how long to wait for in-flight messages, ms. */
  drainMs: number
  /** Topic prefix; a random run id is added below it. */
  topicPrefix: string
}

/** Everything but the URL may be left out; numbers may come as strings from the CLI. */
export interface BenchInput {
  url: string
  allowRemote?: boolean
  insecure?: boolean
  mode?: string
  publishers?: number
  subscribers?: number
  topics?: string
  echo?: boolean
  qos?: number
  payload?: number
  rate?: number
  inflight?: number
  duration?: number
  count?: number
  mqtt?: string
  wsBatch?: boolean
  connections?: number
  connectRate?: number
  connectConcurrency?: number
  hold?: number
  pid?: number[]
  keepalive?: number
  username?: string
  password?: string
  timeoutMs?: number
  drainMs?: number
  topicPrefix?: string
}

export class BenchUsageError extends Error {
  readonly code = 'BENCH_USAGE'
  readonly flag: string

  constructor (flag: string, message: string) {
    super(`--${flag} ${message}`)
    this.flag = flag
  }
}

export const benchDefaults = Object.freeze({
  mode: 'messages',
  publishers: 1,
  subscribers: 1,
  topics: 'shared',
  qos: 0,
  payload: 64,
  rate: 0,
  // 500 keeps a max-rate run below Mosquitto's default per-client queue of
  // 1,000 messages, so the window, not the broker, bounds what is in flight.
  inflight: 500,
  duration: 10,
  mqtt: '3.1.1',
  connections: 1000,
  connectRate: 0,
  connectConcurrency: 100,
  hold: 10,
  // As the seed's Paho client: long enough that a ping per 30 s suffices.
  keepalive: 60,
  timeoutMs: 10_000,
  drainMs: 3000,
  topicPrefix: 'bench'
})

function integer (flag: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new BenchUsageError(flag, `must be an integer from ${min} to ${max}, got ${value}`)
  }
  return value
}

function positive (flag: string, value: number, max: number): number {
  if (!Number.isFinite(value) || value <= 0 || value > max) throw new BenchUsageError(flag, `must be a number above 0 and at most ${max}, got ${value}`)
  return value
}

function oneOf<T extends string> (flag: string, value: string, allowed: readonly T[]): T {
  const found = allowed.find(a => a === value)
  if (found === undefined) throw new BenchUsageError(flag, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`)
  return found
}

function version (value: string): ProtocolVersion {
  const name = oneOf('mqtt', value, ['3.1.1', '5', '4', '5.0'])
  return name === '3.1.1' || name === '4' ? 4 : 5
}

export function resolveBenchOptions (input: BenchInput): BenchOptions {
  const d = benchDefaults
  let target: Target
  try {
    target = parseTarget(input.url, { allowRemote: input.allowRemote ?? false, insecure: input.insecure ?? false })
  } catch (err) {
    throw new BenchUsageError('url', err instanceof Error ? err.message : String(err))
  }
  const echo = input.echo ?? false
  const publishers = integer('publishers', input.publishers ?? d.publishers, echo ? 1 : 0, 10_000)
  return {
    target,
    mode: oneOf('mode', input.mode ?? d.mode, ['messages', 'connections']),
    publishers,
    subscribers: echo ? publishers : integer('subscribers', input.subscribers ?? d.subscribers, 0, 10_000),
    topics: oneOf('topics', input.topics ?? d.topics, ['shared', 'per-publisher', 'wildcard']),
    echo,
    qos: integer('qos', input.qos ?? d.qos, 0, 2) as QoS,
    payload: integer('payload', input.payload ?? d.payload, PAYLOAD_HEADER_SIZE, 16 * 1024 * 1024),
    rate: input.rate === undefined || input.rate === 0 ? 0 : positive('rate', input.rate, 10_000_000),
    inflight: integer('inflight', input.inflight ?? d.inflight, 1, 1_000_000),
    duration: positive('duration', input.duration ?? d.duration, 86_400),
    count: input.count === undefined ? undefined : integer('count', input.count, 1, 2 ** 32 - 1),
    version: version(input.mqtt ?? d.mqtt),
    wsBatch: input.wsBatch ?? false,
    connections: integer('connections', input.connections ?? d.connections, 1, 1_000_000),
    connectRate: input.connectRate === undefined || input.connectRate === 0 ? 0 : positive('connect-rate', input.connectRate, 1_000_000),
    connectConcurrency: integer('connect-concurrency', input.connectConcurrency ?? d.connectConcurrency, 1, 10_000),
    hold: input.hold === 0 ? 0 : positive('hold', input.hold ?? d.hold, 86_400),
    pids: (input.pid ?? []).map(pid => integer('pid', pid, 1, 2 ** 22)),
    keepalive: integer('keepalive', input.keepalive ?? d.keepalive, 0, 65_535),
    username: input.username,
    password: input.password,
    timeoutMs: integer('timeout', input.timeoutMs ?? d.timeoutMs, 1, 600_000),
    drainMs: integer('drain', input.drainMs ?? d.drainMs, 0, 600_000),
    topicPrefix: input.topicPrefix ?? d.topicPrefix
  }
}

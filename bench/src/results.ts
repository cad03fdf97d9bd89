/** What a bench run reports; `--json` prints one of these on one line. */
import type { LatencySummary } from './latency.js'
import type { TopicLayout } from './topology.js'

export interface ConnectStats {
  attempted: number
  connected: number
  failed: number
  /** Connections opened per second, first start to last CONNACK. */
  perSecond: number
  /** TCP connect (+ WebSocket upgrade) + CONNACK, in µs. */
  handshakeUs: LatencySummary
  errors: string[]
}

/** CPU a watched process (or the tool itself) used during the measured window. */
export interface CpuUse {
  pid: number
  cpuUs: number
  /** CPU µs per message received by the subscribers. */
  usPerMessage: number
  /** Read and write system calls per message received (watched processes on Linux). */
  syscallsPerMessage?: number
}

export interface MessagesScenario {
  publishers: number
  subscribers: number
  topics: TopicLayout
  echo: boolean
  qos: number
  payload: number
  /** Messages per second in all; 0 is closed-loop max rate. */
  rate: number
  inflight: number
  duration: number
  count: number | undefined
  mqtt: string
  wsBatch: boolean
}

export interface MessagesResult {
  mode: 'messages'
  url: string
  scenario: MessagesScenario
  /** Seconds from the first send to the last arrival. */
  elapsedS: number
  sent: number
  /** Deliveries due: each message sent times the subscribers that should get it. */
  expected: number
  received: number
  lost: number
  duplicated: number
  outOfOrder: number
  /** Open loop only: messages the tool could not send on schedule (socket backed up). */
  skipped: number
  /** QoS 1/2 publishes the server acknowledged with a failure reason. */
  rejected: number
  /** PUBLISHes received that carry no bench header of this run (should be 0). */
  foreign: number
  msgPerSec: number
  mbPerSec: number
  latencyUs: LatencySummary
  disconnects: number
  disconnectReasons: string[]
  connect: ConnectStats
  /** The tool's own CPU per received message. */
  toolCpu: CpuUse
  /** Watched processes (`--pid`), e.g. the gateway. */
  cpu: CpuUse[]
}

export interface ConnectionsResult {
  mode: 'connections'
  url: string
  mqtt: string
  connections: number
  connect: ConnectStats
  holdS: number
  disconnects: number
  disconnectReasons: string[]
  /** CPU µs per opened connection during the connect phase: the tool's, then each `--pid`'s. */
  toolCpuPerConnection: number
  cpuPerConnection: { pid: number, us: number }[]
  /** VmRSS of `--pid` before the first connection and at the end of the hold. */
  rss: { pid: number, beforeKb: number, afterKb: number, kbPerConnection: number } | undefined
}

export type BenchResult = MessagesResult | ConnectionsResult

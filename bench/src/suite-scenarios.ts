/**
 * The suite's fixed scenarios. Each runs against several targets, in
 * alternating order, so that noise on a shared 2-core machine hits all alike:
 *
 *   direct             the broker straight over TCP: the baseline, and the
 *                      load tool's own ceiling (no gateway result may exceed it)
 *   gateway            the gateway, ws:// → TCP → the same broker
 *   mosquitto-ws       Mosquitto's own WebSocket listener, for reference
 *   relay              a plain TCP relay (socat) in front of the same broker,
 *                      where the gateway sits: what any proxy in its own
 *                      process costs here, before any protocol work
 *   reflector          the reflector (reflector.ts) straight over TCP: an
 *                      endpoint that is never the bottleneck, as baseline
 *   gateway-reflector  a second gateway process, ws:// → TCP → the reflector
 */
import type { BenchInput } from './options.js'

export type TargetId = 'direct' | 'gateway' | 'relay' | 'mosquitto-ws' | 'reflector' | 'gateway-reflector'
export const TARGET_IDS: readonly TargetId[] = ['direct', 'gateway', 'relay', 'mosquitto-ws', 'reflector', 'gateway-reflector']

export type MetricId =
  | 'msgPerSec' | 'mbPerSec' | 'p50' | 'p99' | 'p999' | 'lost' | 'disconnects'
  | 'gatewayCpu' | 'brokerCpu' | 'gatewaySyscalls' | 'brokerSyscalls' | 'toolCpu' | 'kbPerConn' | 'connPerSec' | 'handshakeP99'
  | 'serverCpuPerConn' | 'toolCpuPerConn' | 'connectFailed'

export interface SuiteScenario {
  id: string
  title: string
  input: Omit<BenchInput, 'url' | 'pid'>
  targets: readonly TargetId[]
  runs: number
  /** Metrics shown in the table, first the one the scenario is about. */
  metrics: readonly MetricId[]
  /**
   * Connections mode: open and close this many connections, then wait
   * `settleMs`, before each measured run, so one-time costs of a fresh
   * process (JIT code, heap growth) stay out of the per-connection figures.
   */
  warmUp?: { connections: number, settleMs: number }
  /** Open files each process needs (the gateway: 2 per connection); skipped when a limit is lower. */
  openFiles?: number
  /** Too long for every run: only when named with --only. */
  optIn?: boolean
}

/** The Mosquitto-side targets, as before the reflector. */
const ALL: readonly TargetId[] = ['direct', 'gateway', 'mosquitto-ws']
/**
 * The scenarios of the targets a separate process finds hardest on two
 * shared cores (2, 3 and 5's QoS 0 1 → 1) also run through the TCP relay;
 * the others skip it to keep the suite under 10 minutes.
 */
const WITH_RELAY: readonly TargetId[] = [...ALL, 'relay']
/** Both endpoints, each straight over TCP and through a gateway. */
const BOTH_ENDPOINTS: readonly TargetId[] = ['direct', 'gateway', 'reflector', 'gateway-reflector']
const IDLE_WARM_UP = { connections: 2000, settleMs: 1000 }
const IDLE_METRICS: readonly MetricId[] = ['kbPerConn', 'connPerSec', 'handshakeP99', 'serverCpuPerConn', 'toolCpuPerConn', 'connectFailed', 'disconnects']
// Mosquitto 2.0.11's WebSocket listener (libwebsockets) sends a large message
// 4 KiB per ~200 ms service pass: a 64 KiB message takes 1.5 s, so it sits out.
const LARGE_MESSAGE_TARGETS: readonly TargetId[] = ['direct', 'gateway', 'relay']

export function suiteScenarios (quick: boolean): SuiteScenario[] {
  const seconds = quick ? 2 : 5
  const runs = quick ? 1 : 3
  const idle = idleScenarios(quick)
  return [
    idle.warm2000,
    ...(quick ? [] : [idle.hold9900]),
    {
      id: 'qos0-1to1',
      title: 'QoS 0, 64 B, 1 → 1, max rate, window 500',
      input: { qos: 0, payload: 64, publishers: 1, subscribers: 1, inflight: 500, duration: seconds },
      targets: WITH_RELAY,
      runs,
      metrics: ['msgPerSec', 'gatewayCpu', 'gatewaySyscalls', 'brokerCpu', 'brokerSyscalls', 'toolCpu', 'p99', 'lost']
    },
    {
      // Target 1. A window of 20,000 keeps the closed loop from capping how
      // many messages one read or write carries; the reflector, unlike
      // Mosquitto (one write per packet to a TCP client), never caps it either.
      id: 'qos0-1to1-w20k',
      title: 'QoS 0, 64 B, 1 → 1, max rate, window 20,000',
      input: { qos: 0, payload: 64, publishers: 1, subscribers: 1, inflight: 20_000, duration: seconds },
      targets: BOTH_ENDPOINTS,
      runs,
      metrics: ['msgPerSec', 'gatewayCpu', 'gatewaySyscalls', 'brokerCpu', 'toolCpu', 'p99', 'lost']
    },
    {
      id: 'fanin-20to1',
      title: 'QoS 0, 64 B, 20 → 1 wildcard, max rate',
      input: { qos: 0, payload: 64, publishers: 20, subscribers: 1, topics: 'wildcard', inflight: 50, duration: seconds },
      targets: ALL,
      runs,
      metrics: ['msgPerSec', 'gatewayCpu', 'p99', 'lost']
    },
    {
      id: 'qos1-1to1',
      title: 'QoS 1, 256 B, 1 → 1, max rate',
      input: { qos: 1, payload: 256, publishers: 1, subscribers: 1, inflight: 500, duration: seconds },
      targets: ALL,
      runs,
      metrics: ['msgPerSec', 'gatewayCpu', 'p99', 'lost']
    },
    {
      id: 'latency-5k',
      title: 'QoS 0, 64 B, 1 → 1, open loop 5,000 msg/s',
      input: { qos: 0, payload: 64, publishers: 1, subscribers: 1, rate: 5000, duration: quick ? 4 : 10 },
      targets: WITH_RELAY,
      runs,
      metrics: ['p50', 'p99', 'p999', 'gatewayCpu', 'gatewaySyscalls', 'lost']
    },
    {
      id: 'large-64k',
      title: 'QoS 0, 64 KiB, 1 → 1, max rate',
      input: { qos: 0, payload: 65_536, publishers: 1, subscribers: 1, inflight: 16, duration: seconds },
      targets: LARGE_MESSAGE_TARGETS,
      runs,
      metrics: ['mbPerSec', 'msgPerSec', 'gatewayCpu', 'gatewaySyscalls', 'p99', 'lost']
    },
    {
      id: 'echo-100',
      title: "Seed's echo: 1 client publishes to its own topic, 100 msg/s",
      input: { echo: true, qos: 0, payload: 64, publishers: 1, rate: 100, duration: quick ? 10 : 60 },
      targets: ['gateway'],
      runs: 1,
      metrics: ['lost', 'disconnects', 'p99']
    },
    {
      // Target 6's long run: whatever the gateway carries for five minutes,
      // nothing may be lost and no connection may drop. QoS 1, so a loss
      // anywhere (not only in the gateway) would show.
      id: 'soak-5min',
      title: 'Soak: QoS 1, 256 B, 4 → 4, max rate for 5 minutes',
      input: { qos: 1, payload: 256, publishers: 4, subscribers: 4, topics: 'per-publisher', inflight: 500, duration: quick ? 30 : 300 },
      targets: ['gateway'],
      runs: 1,
      metrics: ['lost', 'disconnects', 'msgPerSec', 'p99', 'gatewayCpu'],
      optIn: true
    }
  ]
}

/** The scenarios named by --only (any, opt-in ones too), or every one that is not opt-in. */
export function pickScenarios (scenarios: readonly SuiteScenario[], only: readonly string[] | undefined): SuiteScenario[] {
  if (only === undefined) return scenarios.filter(s => s.optIn !== true)
  const unknown = only.filter(id => !scenarios.some(s => s.id === id))
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${scenarios.map(s => s.id).join(', ')}`)
  return scenarios.filter(s => only.includes(s.id))
}

function idleScenarios (quick: boolean): { warm2000: SuiteScenario, hold9900: SuiteScenario } {
  const hold = quick ? 1 : 3
  return {
    warm2000: {
      id: 'idle-2000',
      title: '2,000 idle connections, after a warm-up of 2,000 opened and closed',
      input: { mode: 'connections', connections: 2000, connectRate: 0, hold },
      targets: ALL,
      runs: 1,
      metrics: IDLE_METRICS,
      warmUp: IDLE_WARM_UP
    },
    hold9900: {
      // The gateway's default --max-connections: 2 descriptors each, under a 20,000 cap.
      id: 'idle-9900',
      title: '9,900 idle connections through one gateway process, after the same warm-up',
      input: { mode: 'connections', connections: 9900, connectRate: 0, hold },
      targets: ['gateway'],
      runs: 1,
      metrics: IDLE_METRICS,
      warmUp: IDLE_WARM_UP,
      openFiles: 2 * 9900 + 100
    }
  }
}

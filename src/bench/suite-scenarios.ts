/**
 * The suite's fixed scenarios. Each runs against several targets, in
 * alternating order, so that noise on a shared 2-core machine hits all alike:
 *
 *   direct        the broker straight over TCP: the baseline, and the load
 *                 tool's own ceiling (no gateway result may exceed it)
 *   gateway       the gateway, ws:// → TCP → the same broker
 *   mosquitto-ws  Mosquitto's own WebSocket listener, for reference
 */
import type { BenchInput } from './options.js'

export type TargetId = 'direct' | 'gateway' | 'mosquitto-ws'
export const TARGET_IDS: readonly TargetId[] = ['direct', 'gateway', 'mosquitto-ws']

export type MetricId =
  | 'msgPerSec' | 'mbPerSec' | 'p50' | 'p99' | 'p999' | 'lost' | 'disconnects'
  | 'gatewayCpu' | 'brokerCpu' | 'toolCpu' | 'kbPerConn' | 'connPerSec' | 'handshakeP99'
  | 'serverCpuPerConn' | 'toolCpuPerConn'

export interface SuiteScenario {
  id: string
  title: string
  input: Omit<BenchInput, 'url' | 'pid'>
  targets: readonly TargetId[]
  runs: number
  /** Metrics shown in the table, first the one the scenario is about. */
  metrics: readonly MetricId[]
}

const ALL = TARGET_IDS
// Mosquitto 2.0.11's WebSocket listener (libwebsockets) sends a large message
// 4 KiB per ~200 ms service pass: a 64 KiB message takes 1.5 s, so it sits out.
const NO_MOSQUITTO_WS: readonly TargetId[] = ['direct', 'gateway']

export function suiteScenarios (quick: boolean): SuiteScenario[] {
  const seconds = quick ? 2 : 5
  const runs = quick ? 1 : 3
  return [
    {
      id: 'idle-2000',
      title: '2,000 idle connections',
      input: { mode: 'connections', connections: 2000, connectRate: 0, hold: quick ? 1 : 3 },
      targets: ALL,
      runs: 1,
      metrics: ['kbPerConn', 'connPerSec', 'handshakeP99', 'serverCpuPerConn', 'toolCpuPerConn', 'disconnects']
    },
    {
      id: 'qos0-1to1',
      title: 'QoS 0, 64 B, 1 → 1, max rate',
      input: { qos: 0, payload: 64, publishers: 1, subscribers: 1, inflight: 500, duration: seconds },
      targets: ALL,
      runs,
      metrics: ['msgPerSec', 'gatewayCpu', 'brokerCpu', 'toolCpu', 'p99', 'lost']
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
      targets: ALL,
      runs,
      metrics: ['p50', 'p99', 'p999', 'gatewayCpu', 'lost']
    },
    {
      id: 'large-64k',
      title: 'QoS 0, 64 KiB, 1 → 1, max rate',
      input: { qos: 0, payload: 65_536, publishers: 1, subscribers: 1, inflight: 16, duration: seconds },
      targets: NO_MOSQUITTO_WS,
      runs,
      metrics: ['mbPerSec', 'msgPerSec', 'gatewayCpu', 'p99', 'lost']
    },
    {
      id: 'echo-100',
      title: "Seed's echo: 1 client publishes to its own topic, 100 msg/s",
      input: { echo: true, qos: 0, payload: 64, publishers: 1, rate: 100, duration: quick ? 10 : 60 },
      targets: ['gateway'],
      runs: 1,
      metrics: ['lost', 'disconnects', 'p99']
    }
  ]
}

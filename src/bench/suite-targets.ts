/**
 * The six targets of issue 4, checked against the suite's medians:
 *
 *   1 gateway CPU per delivered message ≤ 0.5 µs (QoS 0, 64 B, 1 → 1)
 *   2 p99 at 5,000 msg/s through the gateway ≤ 1.5 × direct p99
 *   3 64 KiB messages: gateway MB/s ≥ 70 % of direct
 *   4 idle connections: ≤ 6 KB gateway RSS each, ≥ 3,000 conn/s
 *   5 throughput QoS 0 / QoS 1 1 → 1 and 20 → 1: gateway ≥ 1.0 × direct
 *   6 the seed's 100 msg/s echo: no disconnect, no loss
 */
import { fixed, int, micros } from './format.js'
import type { MetricId, TargetId } from './suite-scenarios.js'
import type { Summary, TargetCheck } from './suite-results.js'

function value (summary: Summary, scenario: string, target: TargetId, metric: MetricId): number | undefined {
  return summary[scenario]?.[target]?.[metric]
}

function ratio (summary: Summary, scenario: string, metric: MetricId): number | undefined {
  const gateway = value(summary, scenario, 'gateway', metric)
  const direct = value(summary, scenario, 'direct', metric)
  return gateway === undefined || direct === undefined || direct === 0 ? undefined : gateway / direct
}

function check (id: number, name: string, limit: string, measured: string | undefined, pass: boolean | undefined): TargetCheck {
  return { id, name, limit, measured: measured ?? 'not run', pass: measured === undefined ? undefined : pass }
}

function cpuTarget (s: Summary): TargetCheck {
  const cpu = value(s, 'qos0-1to1', 'gateway', 'gatewayCpu')
  return check(1, 'gateway CPU per delivered message (QoS 0, 64 B, 1 → 1)', '≤ 0.5 µs',
    cpu === undefined ? undefined : `${fixed(cpu, 3)} µs`, cpu !== undefined && cpu <= 0.5)
}

function latencyTarget (s: Summary): TargetCheck {
  const r = ratio(s, 'latency-5k', 'p99')
  const gateway = value(s, 'latency-5k', 'gateway', 'p99')
  const direct = value(s, 'latency-5k', 'direct', 'p99')
  const measured = r === undefined || gateway === undefined || direct === undefined ? undefined : `${micros(gateway)} vs ${micros(direct)} = ${fixed(r, 2)} ×`
  return check(2, 'p99 at 5,000 msg/s, gateway vs direct', '≤ 1.5 ×', measured, r !== undefined && r <= 1.5)
}

function largeTarget (s: Summary): TargetCheck {
  const r = ratio(s, 'large-64k', 'mbPerSec')
  return check(3, '64 KiB messages, gateway MB/s vs direct', '≥ 70 %', r === undefined ? undefined : `${fixed(r * 100, 1)} %`, r !== undefined && r >= 0.7)
}

/**
 * Connect rate on 2 shared cores is bounded by the gateway and the tool
 * together, so the gateway's CPU per connection is shown too: 1 s / that is
 * what one core of gateway could accept.
 */
function idleTarget (s: Summary): TargetCheck {
  const kb = value(s, 'idle-2000', 'gateway', 'kbPerConn')
  const rate = value(s, 'idle-2000', 'gateway', 'connPerSec')
  const cpu = value(s, 'idle-2000', 'gateway', 'serverCpuPerConn')
  const perCore = cpu === undefined || cpu === 0 ? '' : ` (gateway ${int(cpu)} µs CPU/conn ≈ ${int(1e6 / cpu)} conn/s per core)`
  const measured = kb === undefined || rate === undefined ? undefined : `${fixed(kb, 2)} KB, ${int(rate)} conn/s${perCore}`
  return check(4, 'idle connections: gateway RSS each, connect rate', '≤ 6 KB, ≥ 3,000 conn/s', measured,
    kb !== undefined && rate !== undefined && kb <= 6 && rate >= 3000)
}

function throughputTarget (s: Summary): TargetCheck {
  const ids = ['qos0-1to1', 'qos1-1to1', 'fanin-20to1']
  const ratios = ids.map(id => ratio(s, id, 'msgPerSec'))
  const measured = ratios.every(r => r === undefined)
    ? undefined
    : ids.map((id, i) => `${id} ${ratios[i] === undefined ? 'n/a' : `${fixed(ratios[i], 2)} ×`}`).join(', ')
  return check(5, 'throughput, gateway vs direct (QoS 0, QoS 1, 20 → 1)', '≥ 1.0 × each', measured,
    ratios.every(r => r !== undefined && r >= 1.0))
}

function echoTarget (s: Summary): TargetCheck {
  const lost = value(s, 'echo-100', 'gateway', 'lost')
  const disconnects = value(s, 'echo-100', 'gateway', 'disconnects')
  const measured = lost === undefined || disconnects === undefined ? undefined : `${int(lost)} lost, ${int(disconnects)} disconnects`
  return check(6, "seed's 100 msg/s echo through the gateway", '0 lost, 0 disconnects', measured, lost === 0 && disconnects === 0)
}

export function checkTargets (summary: Summary): TargetCheck[] {
  return [cpuTarget(summary), latencyTarget(summary), largeTarget(summary), idleTarget(summary), throughputTarget(summary), echoTarget(summary)]
}

/**
 * The six targets of issue 4, checked against the suite's medians:
 *
 *   1 gateway CPU per delivered message ≤ 0.5 µs (QoS 0, 64 B, 1 → 1),
 *     against an endpoint that is not the bottleneck (the reflector), and
 *     shown against Mosquitto too
 *   2 p99 at 5,000 msg/s through the gateway ≤ 1.5 × direct p99
 *   3 64 KiB messages: gateway MB/s ≥ 70 % of direct
 *   4 idle connections: ≤ 6 KB gateway RSS each, ≥ 3,000 conn/s; and
 *     9,900 through one gateway process to Mosquitto
 *   5 throughput QoS 0 / QoS 1 1 → 1 and 20 → 1: gateway ≥ 1.0 × direct
 *   6 the seed's 100 msg/s echo, and 5 minutes at max rate (soak-5min,
 *     opt-in): no disconnect, no loss
 *
 * Where the TCP relay ran, targets 2, 3 and 5 show its ratio beside the
 * gateway's: it is judged on the gateway alone, but a relay that copies bytes
 * and does nothing else shows what the machine allows a separate process.
 */
import { fixed, int, micros } from './format.js'
import type { MetricId, TargetId } from './suite-scenarios.js'
import type { Summary, TargetCheck } from './suite-results.js'

function value (summary: Summary, scenario: string, target: TargetId, metric: MetricId): number | undefined {
  return summary[scenario]?.[target]?.[metric]
}

function ratio (summary: Summary, scenario: string, metric: MetricId, target: TargetId = 'gateway'): number | undefined {
  const through = value(summary, scenario, target, metric)
  const direct = value(summary, scenario, 'direct', metric)
  return through === undefined || direct === undefined || direct === 0 ? undefined : through / direct
}

/** " (TCP relay: …)" when the relay ran the scenario; `show` formats its ratio. */
function relayNote (summary: Summary, scenario: string, metric: MetricId, show: (r: number) => string): string {
  const r = ratio(summary, scenario, metric, 'relay')
  return r === undefined ? '' : ` (TCP relay: ${show(r)})`
}

const times = (r: number): string => `${fixed(r, 2)} ×`
const percent = (r: number): string => `${fixed(r * 100, 1)} %`

function check (id: number, name: string, limit: string, measured: string | undefined, pass: boolean | undefined): TargetCheck {
  return { id, name, limit, measured: measured ?? 'not run', pass: measured === undefined ? undefined : pass }
}

const us = (cpu: number | undefined): string => cpu === undefined ? 'not run' : `${fixed(cpu, 3)} µs`

/**
 * Measured against the reflector, which forwards whole reads: Mosquitto
 * writes each packet to a TCP client in its own syscall, so through it the
 * gateway wakes for a few packets at a time and its CPU per message mostly
 * measures Mosquitto's write pattern. The Mosquitto figures stand beside it.
 */
function cpuTarget (s: Summary): TargetCheck {
  const reflector = value(s, 'qos0-1to1-w20k', 'gateway-reflector', 'gatewayCpu')
  const mosquitto = value(s, 'qos0-1to1-w20k', 'gateway', 'gatewayCpu')
  const mosquitto500 = value(s, 'qos0-1to1', 'gateway', 'gatewayCpu')
  const name = 'gateway CPU per delivered message (QoS 0, 64 B, 1 → 1, window 20,000), against the reflector'
  if (reflector === undefined && mosquitto === undefined && mosquitto500 === undefined) return check(1, name, '≤ 0.5 µs', undefined, undefined)
  const measured = `${us(reflector)}; against Mosquitto ${us(mosquitto)} (window 500: ${us(mosquitto500)})`
  return { id: 1, name, limit: '≤ 0.5 µs', measured, pass: reflector === undefined ? undefined : reflector <= 0.5 }
}

function latencyTarget (s: Summary): TargetCheck {
  const r = ratio(s, 'latency-5k', 'p99')
  const gateway = value(s, 'latency-5k', 'gateway', 'p99')
  const direct = value(s, 'latency-5k', 'direct', 'p99')
  const measured = r === undefined || gateway === undefined || direct === undefined
    ? undefined
    : `${micros(gateway)} vs ${micros(direct)} = ${times(r)}${relayNote(s, 'latency-5k', 'p99', times)}`
  return check(2, 'p99 at 5,000 msg/s, gateway vs direct', '≤ 1.5 ×', measured, r !== undefined && r <= 1.5)
}

function largeTarget (s: Summary): TargetCheck {
  const r = ratio(s, 'large-64k', 'mbPerSec')
  const measured = r === undefined ? undefined : `${percent(r)}${relayNote(s, 'large-64k', 'mbPerSec', percent)}`
  return check(3, '64 KiB messages, gateway MB/s vs direct', '≥ 70 %', measured, r !== undefined && r >= 0.7)
}

/**
 * Connect rate on 2 shared cores is bounded by the gateway and the tool
 * together, so the gateway's CPU per connection is shown too: 1 s / that is
 * what one core of gateway could accept.
 *
 * Memory is judged on the largest run: RSS grows in steps (V8 enlarging its
 * heap by several MB at a time), and a step divided by 2,000 connections is
 * several KB, the size of what is measured (2,000-connection runs of the
 * same gateway gave -1.7 to 13 KB); divided by 9,900 it is about 1 KB. The
 * quick suite, without the 9,900 run, falls back on the 2,000.
 */
function idleTarget (s: Summary): TargetCheck {
  const kb = value(s, 'idle-2000', 'gateway', 'kbPerConn')
  const rate = value(s, 'idle-2000', 'gateway', 'connPerSec')
  const cpu = value(s, 'idle-2000', 'gateway', 'serverCpuPerConn')
  const perCore = cpu === undefined || cpu === 0 ? '' : ` (gateway ${int(cpu)} µs CPU/conn ≈ ${int(1e6 / cpu)} conn/s per core)`
  const many = manyConnections(s)
  const judgedKb = many.kb ?? kb
  const measured = kb === undefined || rate === undefined ? undefined : `${fixed(kb, 2)} KB, ${int(rate)} conn/s${perCore}${many.text}`
  return check(4, 'idle connections: gateway RSS each (of the 9,900 when run, else the 2,000), connect rate (2,000), 9,900 in one process', '≤ 6 KB, ≥ 3,000 conn/s', measured,
    judgedKb !== undefined && rate !== undefined && judgedKb <= 6 && rate >= 3000 && many.pass)
}

/** The 9,900-connection run (full suite): it passes when every connection opened and stayed. */
function manyConnections (s: Summary): { text: string, pass: boolean, kb?: number } {
  const kb = value(s, 'idle-9900', 'gateway', 'kbPerConn')
  const rate = value(s, 'idle-9900', 'gateway', 'connPerSec')
  const failed = value(s, 'idle-9900', 'gateway', 'connectFailed')
  const disconnects = value(s, 'idle-9900', 'gateway', 'disconnects')
  if (kb === undefined || rate === undefined || failed === undefined) return { text: '', pass: true }
  return {
    text: `; 9,900: ${fixed(kb, 2)} KB, ${int(rate)} conn/s, ${int(failed)} failed, ${int(disconnects ?? 0)} disconnects`,
    pass: failed === 0 && disconnects === 0,
    kb
  }
}

function throughputTarget (s: Summary): TargetCheck {
  const ids = ['qos0-1to1', 'qos1-1to1', 'fanin-20to1']
  const ratios = ids.map(id => ratio(s, id, 'msgPerSec'))
  const measured = ratios.every(r => r === undefined)
    ? undefined
    : ids.map((id, i) => `${id} ${ratios[i] === undefined ? 'n/a' : times(ratios[i])}${relayNote(s, id, 'msgPerSec', times)}`).join(', ')
  return check(5, 'throughput, gateway vs direct (QoS 0, QoS 1, 20 → 1)', '≥ 1.0 × each', measured,
    ratios.every(r => r !== undefined && r >= 1.0))
}

/** Target 6: each run that was made (the echo, the opt-in soak) lost nothing and dropped no one. */
function echoTarget (s: Summary): TargetCheck {
  const runs = ([['echo-100', 'echo'], ['soak-5min', 'soak']] as const).flatMap(([scenario, name]) => {
    const lost = value(s, scenario, 'gateway', 'lost')
    const disconnects = value(s, scenario, 'gateway', 'disconnects')
    return lost === undefined || disconnects === undefined ? [] : [{ name, lost, disconnects }]
  })
  const measured = runs.length === 0 ? undefined : runs.map(r => `${r.name}: ${int(r.lost)} lost, ${int(r.disconnects)} disconnects`).join('; ')
  return check(6, "seed's 100 msg/s echo (and the 5-minute soak, when run) through the gateway", '0 lost, 0 disconnects', measured,
    runs.every(r => r.lost === 0 && r.disconnects === 0))
}

export function checkTargets (summary: Summary): TargetCheck[] {
  return [cpuTarget(summary), latencyTarget(summary), largeTarget(summary), idleTarget(summary), throughputTarget(summary), echoTarget(summary)]
}

/**
 * The suite's Markdown report: tables of medians with ratios (one per
 * endpoint: Mosquitto, then the reflector), then the targets.
 */
import { fixed, int, micros, table } from './format.js'
import type { MetricId, TargetId } from './suite-scenarios.js'
import type { SuiteResults, TargetCheck } from './suite-results.js'

export const METRIC_NAMES: Record<MetricId, string> = {
  msgPerSec: 'msg/s',
  mbPerSec: 'MB/s',
  p50: 'latency p50',
  p99: 'latency p99',
  p999: 'latency p99.9',
  lost: 'lost',
  disconnects: 'disconnects',
  gatewayCpu: 'gateway CPU µs/msg',
  brokerCpu: 'broker CPU µs/msg',
  gatewaySyscalls: 'gateway syscalls/msg',
  brokerSyscalls: 'broker syscalls/msg',
  toolCpu: 'load tool CPU µs/msg',
  kbPerConn: 'server RSS KB/conn',
  connPerSec: 'conn/s',
  handshakeP99: 'handshake p99',
  serverCpuPerConn: 'server CPU µs/conn',
  toolCpuPerConn: 'load tool CPU µs/conn',
  connectFailed: 'failed connects'
}

export function formatMetric (metric: MetricId, value: number | undefined): string {
  if (value === undefined) return '–'
  switch (metric) {
    case 'mbPerSec': return fixed(value, 1)
    case 'p50': case 'p99': case 'p999': case 'handshakeP99': return micros(value)
    case 'serverCpuPerConn': case 'toolCpuPerConn': return int(value)
    case 'gatewayCpu': case 'brokerCpu': case 'toolCpu': return fixed(value, 3)
    case 'gatewaySyscalls': case 'brokerSyscalls': return fixed(value, 3)
    case 'kbPerConn': return fixed(value, 2)
    default: return int(value)
  }
}

function ratioCell (value: number | undefined, base: number | undefined): string {
  if (value === undefined || base === undefined || base === 0) return '–'
  return `${fixed(value / base, 2)} ×`
}

/** One results table: a baseline column, then each other target with its ratio to the baseline. */
interface TableGroup {
  baseline: TargetId
  others: readonly TargetId[]
  header: readonly string[]
}

const MOSQUITTO_TABLE: TableGroup = {
  baseline: 'direct',
  others: ['gateway', 'relay', 'mosquitto-ws'],
  header: ['scenario', 'metric', 'direct (TCP)', 'gateway (ws)', 'gateway / direct', 'TCP relay', 'relay / direct', 'mosquitto ws', 'mosquitto ws / direct']
}

const REFLECTOR_TABLE: TableGroup = {
  baseline: 'reflector',
  others: ['gateway-reflector'],
  header: ['scenario', 'metric', 'direct (TCP)', 'gateway (ws)', 'gateway / direct']
}

function resultRows (results: SuiteResults, group: TableGroup): string[][] {
  const rows: string[][] = []
  const targets = [group.baseline, ...group.others]
  for (const scenario of results.scenarios) {
    const byTarget = results.summary[scenario.id]
    if (byTarget === undefined || !targets.some(t => byTarget[t] !== undefined)) continue
    scenario.metrics.forEach((metric, i) => {
      const cell = (t: TargetId): number | undefined => byTarget[t]?.[metric]
      const base = cell(group.baseline)
      rows.push([
        i === 0 ? scenario.title : '',
        METRIC_NAMES[metric],
        formatMetric(metric, base),
        ...group.others.flatMap(t => [formatMetric(metric, cell(t)), ratioCell(cell(t), base)])
      ])
    })
  }
  return rows
}

/** The reflector's table, when any scenario ran against it. */
function reflectorSection (results: SuiteResults): string[] {
  const rows = resultRows(results, REFLECTOR_TABLE)
  if (rows.length === 0) return []
  const gateway = results.reflector === undefined ? '' : ` The gateway in front of it is a second process with the same flags and \`--upstream ${results.reflector.url}\`.`
  return [
    '## Against the reflector',
    '',
    'The reflector (`bench/src/reflector.ts`) is not a broker: it forwards every PUBLISH to every subscribed connection, whole runs of packets per write,',
    `so it is never the bottleneck. "direct" is the load tool straight to it; "broker CPU" is the reflector's.${gateway}`,
    '',
    table(REFLECTOR_TABLE.header, rows),
    ''
  ]
}

/** What the relay column is, when it ran. */
function relayLine (results: SuiteResults): string[] {
  if (!results.runs.some(r => r.target === 'relay')) return []
  return ['"TCP relay" is socat copying bytes between the load tool (mqtt://) and the same Mosquitto, in its own processes where the gateway sits:',
    'no WebSocket, no MQTT, just the extra process on the path, so it shows what that alone costs on this machine.',
    'In its column, "gateway CPU" is the relay\'s (its forked children included).']
}

function passCell (pass: boolean | undefined): string {
  return pass === undefined ? 'n/a' : pass ? 'PASS' : 'FAIL'
}

export function targetsTable (targets: readonly TargetCheck[]): string {
  return table(['#', 'target', 'measured', 'limit', 'result'],
    targets.map(t => [String(t.id), t.name, t.measured, t.limit, passCell(t.pass)]))
}

/**
 * The load tool's own ceiling: the highest rate it drove in any run, and its
 * CPU per message on the QoS 0 gateway runs (one core's worth of tool).
 */
function toolCeiling (results: SuiteResults): string {
  let best: { rate: number, where: string } | undefined
  for (const run of results.runs) {
    const r = run.result
    if (r?.mode === 'messages' && (best === undefined || r.msgPerSec > best.rate)) best = { rate: r.msgPerSec, where: `${run.scenario}, ${run.target}` }
  }
  const cpu = results.summary['qos0-1to1']?.gateway?.toolCpu
  if (best === undefined) return ''
  const perCore = cpu === undefined || cpu === 0 ? '' : `; its CPU on the gateway runs of QoS 0 1 → 1 was ${fixed(cpu, 2)} µs/msg, ≈ ${int(1e6 / cpu)} msg/s per core`
  return `Load tool ceiling: it drove up to ${int(best.rate)} msg/s (${best.where})${perCore}.`
}

/** Other processes' CPU during the runs: results from a busy machine deserve a rerun. */
function background (results: SuiteResults): string {
  const loads = results.runs.map(r => r.backgroundCores).filter((v): v is number => v !== undefined)
  if (loads.length === 0) return ''
  const busy = results.runs.filter(r => (r.backgroundCores ?? 0) >= 0.2).length
  return `Background load (CPU of other processes during a run): mean ${fixed(loads.reduce((a, b) => a + b, 0) / loads.length, 2)} cores, max ${fixed(Math.max(...loads), 2)}; ${busy} of ${loads.length} runs at 0.2 cores or more.`
}

function failedRuns (results: SuiteResults): string {
  const failed = results.runs.filter(r => r.error !== undefined)
  if (failed.length === 0) return ''
  return ['Runs that failed (left out of the medians):', '', ...failed.map(r => `- ${r.scenario} ${r.target} run ${r.run}: ${r.error ?? ''}`), ''].join('\n')
}

/** The latency plot, when one was drawn (a file beside the .md). */
function plotSection (file: string | undefined): string[] {
  if (file === undefined) return []
  return ['## Latency by percentile', '', 'The open-loop 5,000 msg/s runs, each target\'s run with the median p99; the x axis gives each decade of the tail the same width.', '', `![latency by percentile](${file})`, '']
}

/** The report; `latencyPlot` names the plot file to link, when there is one. */
export function suiteMarkdown (results: SuiteResults, latencyPlot?: string): string {
  const m = results.machine
  const runs = Math.max(...results.scenarios.map(s => s.runs))
  return [
    `# Bench suite ${results.startedAt}${results.quick ? ' (quick)' : ''}`,
    '',
    `${m.cpus} × ${m.cpuModel}, Node ${m.node}, ${m.platform}; broker: ${results.broker}; gateway: \`${results.gatewayArgs.join(' ')}\`.`,
    `Medians of up to ${runs} alternating runs per target. Ratios are target / direct: above 1 is more msg/s, MB/s or latency than direct.`,
    ...relayLine(results),
    '',
    table(MOSQUITTO_TABLE.header, resultRows(results, MOSQUITTO_TABLE)),
    '',
    ...reflectorSection(results),
    toolCeiling(results),
    '',
    background(results),
    '',
    failedRuns(results),
    ...plotSection(latencyPlot),
    '## Targets',
    '',
    targetsTable(results.targets),
    ''
  ].join('\n')
}

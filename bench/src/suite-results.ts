/**
 * The suite's results file: every run's raw result, medians per scenario,
 * target and metric, and the six targets with pass/fail.
 */
import type { BenchResult } from './results.js'
import type { MetricId, SuiteScenario, TargetId } from './suite-scenarios.js'

export interface SuiteRun {
  scenario: string
  target: TargetId
  /** 1-based run number within the scenario. */
  run: number
  /** Gateway CPU µs per received message (runs through a gateway, messages scenarios). */
  gatewayCpu: number | undefined
  /** CPU µs per received message of the broker, or of the reflector on its targets. */
  brokerCpu: number | undefined
  /** Read and write system calls per received message, of the gateway and of the broker (absent in older files). */
  gatewaySyscalls?: number
  brokerSyscalls?: number
  /**
   * Cores kept busy during the run by processes other than the tool, the
   * gateway and the broker: a noisy neighbour on the shared machine.
   */
  backgroundCores: number | undefined
  /** The run's result, or why it could not run (e.g. clients refused). */
  result: BenchResult | undefined
  error?: string
}

/** Medians: scenario → target → metric → value. */
export type Summary = Record<string, Partial<Record<TargetId, Partial<Record<MetricId, number>>>>>

export interface TargetCheck {
  id: number
  name: string
  measured: string
  limit: string
  /** undefined when the scenario behind it did not run. */
  pass: boolean | undefined
}

export interface SuiteResults {
  version: 1
  startedAt: string
  finishedAt: string
  quick: boolean
  machine: { cpus: number, cpuModel: string, node: string, platform: string }
  /** "mosquitto" (a separate process) or "embedded" (the gateway's own broker). */
  broker: string
  gatewayArgs: string[]
  /** The reflector's URL and the flags of the gateway in front of it (absent in files from before it). */
  reflector?: { url: string, gatewayArgs: string[] }
  scenarios: SuiteScenario[]
  runs: SuiteRun[]
  summary: Summary
  targets: TargetCheck[]
}

export function metricOf (run: SuiteRun, metric: MetricId): number | undefined {
  const r = run.result
  if (r === undefined) return undefined
  if (metric === 'gatewayCpu') return run.gatewayCpu
  if (metric === 'brokerCpu') return run.brokerCpu
  if (metric === 'gatewaySyscalls') return run.gatewaySyscalls
  if (metric === 'brokerSyscalls') return run.brokerSyscalls
  if (metric === 'disconnects') return r.disconnects
  if (r.mode === 'connections') {
    if (metric === 'kbPerConn') return r.rss?.kbPerConnection
    if (metric === 'connPerSec') return r.connect.perSecond
    if (metric === 'connectFailed') return r.connect.failed
    if (metric === 'handshakeP99') return r.connect.handshakeUs.p99
    if (metric === 'serverCpuPerConn') return r.cpuPerConnection[0]?.us
    if (metric === 'toolCpuPerConn') return r.toolCpuPerConnection
    return undefined
  }
  switch (metric) {
    case 'msgPerSec': return r.msgPerSec
    case 'mbPerSec': return r.mbPerSec
    case 'p50': return r.latencyUs.p50
    case 'p99': return r.latencyUs.p99
    case 'p999': return r.latencyUs.p999
    case 'lost': return r.lost
    case 'toolCpu': return r.toolCpu.usPerMessage
    default: return undefined
  }
}

export function median (values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function summarizeRuns (scenarios: readonly SuiteScenario[], runs: readonly SuiteRun[]): Summary {
  const summary: Summary = {}
  for (const scenario of scenarios) {
    const byTarget: Summary[string] = {}
    for (const target of scenario.targets) {
      const mine = runs.filter(r => r.scenario === scenario.id && r.target === target)
      if (mine.length === 0) continue
      const values: Partial<Record<MetricId, number>> = {}
      for (const metric of scenario.metrics) {
        const m = median(mine.map(r => metricOf(r, metric)).filter((v): v is number => v !== undefined))
        if (m !== undefined) values[metric] = m
      }
      byTarget[target] = values
    }
    summary[scenario.id] = byTarget
  }
  return summary
}

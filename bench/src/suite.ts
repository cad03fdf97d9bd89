/**
 * `npm run bench`: the benchmark suite (bench/dist/bench/src/suite.js).
 *
 *   node bench/dist/bench/src/suite.js [--quick] [--only id,id] [--runs N]
 *   node bench/dist/bench/src/suite.js --compare a.json b.json
 *
 * Starts Mosquitto and the gateway on loopback, a TCP relay (socat) in front
 * of the same Mosquitto, and the reflector with a second gateway in front of
 * it; runs the fixed scenarios against direct TCP, the gateway and
 * Mosquitto's WebSocket listener (and, where a scenario fits, the relay, and
 * the reflector straight and through its gateway) in alternating
 * order; prints Markdown tables of medians with ratios and the targets, and
 * writes the tables and the raw JSON to bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { fixed, int, micros } from './format.js'
import { resolveBenchOptions } from './options.js'
import { resultsDir } from './paths.js'
import { readBusyMicros, readCpuMicros, readOpenFilesLimit } from './proc.js'
import type { BenchResult, CpuUse } from './results.js'
import { runScenario } from './run.js'
import { sleep } from './session.js'
import { compareMarkdown } from './suite-compare.js'
import { checkAlive, startEnvironment, stopEnvironment } from './suite-env.js'
import type { Environment, TargetInfo } from './suite-env.js'
import { latencyPlot } from './suite-plot.js'
import { suiteMarkdown } from './suite-report.js'
import type { SuiteResults, SuiteRun } from './suite-results.js'
import { summarizeRuns } from './suite-results.js'
import { pickScenarios, suiteScenarios } from './suite-scenarios.js'
import type { SuiteScenario, TargetId } from './suite-scenarios.js'
import { checkTargets } from './suite-targets.js'

const USAGE = `Usage: node bench/dist/bench/src/suite.js [--quick] [--only id,id] [--runs N]
       node bench/dist/bench/src/suite.js --compare a.json b.json

  --quick          shorter runs, one per target (about 2 minutes)
  --only IDS       run only these scenarios (comma-separated ids); soak-5min
                   (5 minutes at max rate, target 6) runs only when named
  --runs N         alternating runs per target for the repeated scenarios
  --compare A B    compare two result files from bench/results/ and exit
`

/** Pause between runs, so closing sockets and GC of one run do not land in the next. */
const SETTLE_MS = 500

interface SuiteFlags {
  quick: boolean
  only: string[] | undefined
  runs: number | undefined
}

/** Target order for run `run`: rotated each run so none always goes first. */
function rotation (targets: readonly TargetId[], run: number): TargetId[] {
  const k = run % targets.length
  return [...targets.slice(k), ...targets.slice(0, k)]
}

function pidsFor (scenario: SuiteScenario, target: TargetInfo): number[] {
  if (scenario.input.mode === 'connections') return [target.serverPid]
  return [...new Set([target.gatewayPid, target.brokerPid].filter(pid => pid !== undefined))]
}

function targetInfo (env: Environment, targetId: TargetId): TargetInfo {
  const target = env.targets.get(targetId)
  if (target === undefined) throw new Error(`no target ${targetId}`)
  return target
}

async function runOne (scenario: SuiteScenario, target: TargetInfo): Promise<BenchResult> {
  const warmUp = scenario.warmUp
  if (warmUp !== undefined) {
    await runScenario(resolveBenchOptions({ url: target.url, mode: 'connections', connections: warmUp.connections, connectRate: 0, hold: 0 }))
    await sleep(warmUp.settleMs)
  }
  return await runScenario(resolveBenchOptions({ ...scenario.input, url: target.url, pid: pidsFor(scenario, target) }))
}

/** CPU µs used so far by the machine, and by the suite's own processes. */
function cpuSample (env: Environment): { busy: number | undefined, ours: number } {
  const tool = process.cpuUsage()
  const children = env.services.reduce((sum, s) => sum + (readCpuMicros(s.pid) ?? 0), 0)
  return { busy: readBusyMicros(), ours: tool.user + tool.system + children }
}

function backgroundCores (before: ReturnType<typeof cpuSample>, after: ReturnType<typeof cpuSample>, seconds: number): number | undefined {
  if (before.busy === undefined || after.busy === undefined || seconds <= 0) return undefined
  const other = (after.busy - before.busy) - (after.ours - before.ours)
  return Math.max(0, Math.round(other / seconds / 1e4) / 100)
}

/** What the run measured of a watched process (`--pid`), if anything. */
function watched (result: BenchResult | undefined, pid: number | undefined): CpuUse | undefined {
  return result?.mode === 'messages' && pid !== undefined ? result.cpu.find(c => c.pid === pid) : undefined
}

/** Optional fields are left out rather than set to undefined (exactOptionalPropertyTypes). */
function syscalls (key: 'gatewaySyscalls' | 'brokerSyscalls', use: CpuUse | undefined): Partial<SuiteRun> {
  return use?.syscallsPerMessage === undefined ? {} : { [key]: use.syscallsPerMessage }
}

function describe (run: SuiteRun): string {
  const r = run.result
  if (r === undefined) return `FAILED: ${run.error ?? 'no result'}`
  if (r.mode === 'connections') {
    const rss = r.rss === undefined ? '' : `, ${fixed(r.rss.kbPerConnection, 2)} KB/conn`
    return `${int(r.connect.connected)} conn, ${int(r.connect.perSecond)} conn/s${rss}, ${r.disconnects} disconnects`
  }
  const cpu = run.gatewayCpu === undefined ? '' : `, ${run.target === 'relay' ? 'relay' : 'gateway'} ${fixed(run.gatewayCpu, 3)} µs/msg`
  return `${int(r.msgPerSec)} msg/s, ${fixed(r.mbPerSec, 1)} MB/s, p99 ${micros(r.latencyUs.p99)}, lost ${int(r.lost)}${cpu}`
}

async function warmUp (env: Environment, scenarios: readonly SuiteScenario[], quick: boolean): Promise<void> {
  const seconds = quick ? 0.5 : 1
  const targets = [...new Set(scenarios.flatMap(s => s.targets))]
  console.log(`warming up ${targets.join(', ')}`)
  for (const id of targets) {
    const target = env.targets.get(id)
    if (target === undefined) continue
    await runScenario(resolveBenchOptions({ url: target.url, mode: 'connections', connections: 100, hold: 0.2 }))
    await runScenario(resolveBenchOptions({ url: target.url, duration: seconds }))
  }
}

async function runAll (env: Environment, scenarios: readonly SuiteScenario[]): Promise<SuiteRun[]> {
  const runs: SuiteRun[] = []
  const total = scenarios.reduce((sum, s) => sum + s.runs * s.targets.length, 0)
  for (const scenario of scenarios) {
    for (let run = 0; run < scenario.runs; run++) {
      for (const target of rotation(scenario.targets, run)) {
        checkAlive(env)
        const started = Date.now()
        const cpuBefore = cpuSample(env)
        const info = targetInfo(env, target)
        const outcome = await runOne(scenario, info).then(
          result => ({ result, error: undefined }),
          (err: unknown) => ({ result: undefined, error: err instanceof Error ? err.message : String(err) }))
        const result = outcome.result
        const gateway = watched(result, info.gatewayPid)
        const broker = watched(result, info.brokerPid)
        const record: SuiteRun = {
          scenario: scenario.id,
          target,
          run: run + 1,
          gatewayCpu: gateway?.usPerMessage,
          brokerCpu: broker?.usPerMessage,
          ...syscalls('gatewaySyscalls', gateway),
          ...(info.brokerSyscallsCounted === false ? {} : syscalls('brokerSyscalls', broker)),
          backgroundCores: backgroundCores(cpuBefore, cpuSample(env), (Date.now() - started) / 1000),
          result,
          ...(outcome.error === undefined ? {} : { error: outcome.error })
        }
        runs.push(record)
        const n = String(runs.length).padStart(String(total).length)
        const noise = (record.backgroundCores ?? 0) >= 0.2 ? `, background load ${fixed(record.backgroundCores ?? 0, 2)} cores` : ''
        console.log(`[${n}/${total}] ${scenario.id.padEnd(14)} ${target.padEnd(17)} run ${run + 1}/${scenario.runs}: ${describe(record)} (${fixed((Date.now() - started) / 1000, 1)} s${noise})`)
        await sleep(SETTLE_MS)
      }
    }
  }
  return runs
}

/**
 * The lowest open-files limit among the processes a scenario loads: this one
 * (the load tool) and every child. Children inherit the suite's limit, but
 * /proc tells what each really got.
 */
function lowestOpenFilesLimit (env: Environment): { limit: number, who: string } | undefined {
  let lowest: { limit: number, who: string } | undefined
  const processes: [number | 'self', string][] = [['self', 'the load tool'], ...env.services.map((s): [number, string] => [s.pid, s.name])]
  for (const [pid, who] of processes) {
    const limit = readOpenFilesLimit(pid)
    if (limit !== undefined && (lowest === undefined || limit < lowest.limit)) lowest = { limit, who }
  }
  return lowest
}

/** Scenarios whose open files the machine allows; the others are skipped with a note. */
function fitsOpenFiles (scenarios: SuiteScenario[], env: Environment): SuiteScenario[] {
  const lowest = lowestOpenFilesLimit(env)
  return scenarios.filter(s => {
    if (s.openFiles === undefined || lowest === undefined || lowest.limit >= s.openFiles) return true
    console.log(`skipping ${s.id}: it needs ${int(s.openFiles)} open files per process, ${lowest.who} may have ${int(lowest.limit)} (ulimit -n)`)
    return false
  })
}

function selectScenarios (flags: SuiteFlags, env: Environment): SuiteScenario[] {
  const scenarios = pickScenarios(suiteScenarios(flags.quick), flags.only)
  return fitsOpenFiles(scenarios, env).map(s => ({
    ...s,
    runs: flags.runs !== undefined && s.runs > 1 ? flags.runs : s.runs,
    targets: s.targets.filter(t => env.targets.has(t))
  }))
}

/** bench/results/<timestamp>[-quick]: the stem of the files one run writes. */
function resultsBase (results: SuiteResults): string {
  const stamp = results.startedAt.replace(/[:.]/g, '-')
  return join(resultsDir(), `${stamp}${results.quick ? '-quick' : ''}`)
}

/** The latency plot's file name (beside the .md that links it), when there is a plot. */
function plotFile (base: string, plot: string | undefined): string | undefined {
  return plot === undefined ? undefined : `${basename(base)}-latency.svg`
}

function writeResults (base: string, results: SuiteResults, markdown: string, plot: string | undefined): void {
  mkdirSync(resultsDir(), { recursive: true })
  writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`)
  writeFileSync(`${base}.md`, markdown)
  const file = plotFile(base, plot)
  if (file !== undefined && plot !== undefined) writeFileSync(join(resultsDir(), file), plot)
}

async function runSuite (flags: SuiteFlags): Promise<number> {
  const startedAt = new Date().toISOString()
  console.log('starting broker and gateway')
  const env = await startEnvironment()
  const stopOnSignal = (): void => { void stopEnvironment(env).then(() => process.exit(130)) }
  process.once('SIGINT', stopOnSignal)
  process.once('SIGTERM', stopOnSignal)
  try {
    const relay = env.targets.get('relay')
    console.log(`broker: ${env.broker}; gateway: ${env.gateway.url} (pid ${env.gateway.service.pid}); ${relay === undefined ? 'no TCP relay (socat not installed)' : `TCP relay: ${relay.url}`}; reflector: ${env.reflector.url} with its own gateway at ${targetInfo(env, 'gateway-reflector').url}`)
    const scenarios = selectScenarios(flags, env)
    await warmUp(env, scenarios, flags.quick)
    const runs = await runAll(env, scenarios)
    const summary = summarizeRuns(scenarios, runs)
    const cpu = cpus()
    const results: SuiteResults = {
      version: 1,
      startedAt,
      finishedAt: new Date().toISOString(),
      quick: flags.quick,
      machine: { cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', node: process.version, platform: `${process.platform} ${process.arch}` },
      broker: env.broker,
      gatewayArgs: env.gatewayArgs,
      reflector: env.reflector,
      scenarios,
      runs,
      summary,
      targets: checkTargets(summary)
    }
    const base = resultsBase(results)
    const plot = latencyPlot(results, 'latency-5k')
    const markdown = suiteMarkdown(results, plotFile(base, plot))
    console.log(`\n${markdown}`)
    writeResults(base, results, markdown, plot)
    console.log(`results: ${base}.{md,json}${plot === undefined ? '' : `, latency plot: ${base}-latency.svg`}`)
    return 0
  } finally {
    process.removeListener('SIGINT', stopOnSignal)
    process.removeListener('SIGTERM', stopOnSignal)
    await stopEnvironment(env)
  }
}

export async function main (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string' },
      runs: { type: 'string' },
      compare: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) {
    console.log(USAGE)
    return 0
  }
  if (values.compare === true) {
    const [a, b] = positionals
    if (a === undefined || b === undefined || positionals.length !== 2) {
      console.error(`--compare takes two result files\n\n${USAGE}`)
      return 2
    }
    console.log(compareMarkdown(a, b))
    return 0
  }
  const runs = values.runs === undefined ? undefined : Number(values.runs)
  if (runs !== undefined && (!Number.isInteger(runs) || runs < 1 || runs > 50)) {
    console.error('--runs must be an integer from 1 to 50')
    return 2
  }
  return await runSuite({ quick: values.quick === true, only: values.only?.split(',').map(s => s.trim()), runs })
}

// Run when executed directly (node bench/dist/bench/src/suite.js), not when imported.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(code => { process.exitCode = code }, (err: unknown) => {
    console.error(err instanceof Error ? err.stack ?? err.message : String(err))
    process.exitCode = 1
  })
}

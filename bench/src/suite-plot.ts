/**
 * The latency picture of a suite run: one curve per target, latency against
 * percentile, the usual HdrHistogram plot. A table gives p50/p99/p99.9; the
 * curve shows where each target's tail leaves the others (every percentile
 * from 0 to 99.99 and the max), which a table of three numbers cannot.
 *
 * Plain SVG, written next to the results: no plotting dependency, and the
 * README and GitHub show it as an image.
 */
import type { SuiteResults, SuiteRun } from './suite-results.js'
import type { TargetId } from './suite-scenarios.js'

const WIDTH = 760
const HEIGHT = 420
const MARGIN = { left: 70, right: 180, top: 40, bottom: 50 }
/** Tail decades on the x axis: 0 % … 99.99 %. */
const DECADES = 4
/** Where the max sits, past 99.99 %. */
const MAX_AT = DECADES + 0.5

const COLORS: Record<TargetId, string> = {
  direct: '#1f77b4',
  gateway: '#d62728',
  relay: '#7f7f7f',
  'mosquitto-ws': '#2ca02c',
  reflector: '#9467bd',
  'gateway-reflector': '#ff7f0e'
}

const LABELS: Record<TargetId, string> = {
  direct: 'direct (TCP)',
  gateway: 'gateway (ws)',
  relay: 'TCP relay (socat)',
  'mosquitto-ws': 'mosquitto ws',
  reflector: 'reflector',
  'gateway-reflector': 'gateway → reflector'
}

interface Curve {
  target: TargetId
  points: [number, number][]
}

/** x of a percentile: decades of the tail, log10(1 / (1 − p)); the max sits one step past 99.99 %. */
function tailDecades (percentile: number): number {
  return percentile >= 100 ? MAX_AT : Math.min(DECADES, -Math.log10(1 - percentile / 100))
}

/** Of a target's runs, the one with the median p99, so the curve is a run the table's median speaks for. */
function medianRun (runs: readonly SuiteRun[]): SuiteRun | undefined {
  const usable = runs.filter(r => r.result?.mode === 'messages' && r.result.latencyUs.spectrum !== undefined)
  const sorted = [...usable].sort((a, b) => p99Of(a) - p99Of(b))
  return sorted[(sorted.length - 1) >> 1]
}

function p99Of (run: SuiteRun): number {
  return run.result?.mode === 'messages' ? run.result.latencyUs.p99 : 0
}

function curves (results: SuiteResults, scenarioId: string): Curve[] {
  const scenario = results.scenarios.find(s => s.id === scenarioId)
  if (scenario === undefined) return []
  return scenario.targets.flatMap((target): Curve[] => {
    const run = medianRun(results.runs.filter(r => r.scenario === scenarioId && r.target === target))
    const spectrum = run?.result?.mode === 'messages' ? run.result.latencyUs.spectrum : undefined
    return spectrum === undefined ? [] : [{ target, points: spectrum.map(([p, us]): [number, number] => [tailDecades(p), Math.max(1, us)]) }]
  })
}

/** Powers of ten that cover [low, high]. */
function decadeRange (low: number, high: number): [number, number] {
  return [Math.floor(Math.log10(low)), Math.max(Math.floor(Math.log10(low)) + 1, Math.ceil(Math.log10(high)))]
}

/** 10^e µs as an axis label: 10 µs, 1 ms, 100 ms, 1 s. */
function powerOfTen (e: number): string {
  if (e < 3) return `${10 ** e} µs`
  if (e < 6) return `${10 ** (e - 3)} ms`
  return `${10 ** (e - 6)} s`
}

function escapeXml (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/**
 * The SVG for one scenario's latency, or undefined when no run of it
 * recorded a spectrum (older result files, connections scenarios).
 */
export function latencyPlot (results: SuiteResults, scenarioId: string): string | undefined {
  const lines = curves(results, scenarioId)
  if (lines.length === 0) return undefined
  const values = lines.flatMap(c => c.points.map(([, us]) => us))
  const [yLow, yHigh] = decadeRange(Math.min(...values), Math.max(...values))
  const plotW = WIDTH - MARGIN.left - MARGIN.right
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom
  const x = (decades: number): number => MARGIN.left + decades / MAX_AT * plotW
  const y = (us: number): number => MARGIN.top + plotH - (Math.log10(us) - yLow) / (yHigh - yLow) * plotH
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`)
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`)
  const title = results.scenarios.find(s => s.id === scenarioId)?.title ?? scenarioId
  out.push(`<text x="${MARGIN.left}" y="22" font-size="14" font-weight="bold">${escapeXml(`Latency by percentile: ${title}`)}</text>`)
  for (let d = 0; d <= DECADES; d++) {
    const label = d === 0 ? '0 %' : `${(100 * (1 - 10 ** -d)).toFixed(Math.max(0, d - 2))} %`
    out.push(`<line x1="${x(d)}" y1="${MARGIN.top}" x2="${x(d)}" y2="${MARGIN.top + plotH}" stroke="#ddd"/>`)
    out.push(`<text x="${x(d)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${label}</text>`)
  }
  out.push(`<text x="${x(MAX_AT)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">max</text>`)
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle">percentile</text>`)
  for (let e = yLow; e <= yHigh; e++) {
    out.push(`<line x1="${MARGIN.left}" y1="${y(10 ** e)}" x2="${MARGIN.left + plotW}" y2="${y(10 ** e)}" stroke="#ddd"/>`)
    out.push(`<text x="${MARGIN.left - 6}" y="${y(10 ** e) + 4}" text-anchor="end">${powerOfTen(e)}</text>`)
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`)
  lines.forEach((curve, i) => {
    const color = COLORS[curve.target]
    const points = curve.points.map(([d, us]) => `${x(d).toFixed(1)},${y(us).toFixed(1)}`).join(' ')
    out.push(`<polyline data-target="${curve.target}" fill="none" stroke="${color}" stroke-width="2" points="${points}"/>`)
    const legendY = MARGIN.top + 10 + i * 20
    out.push(`<line x1="${WIDTH - MARGIN.right + 15}" y1="${legendY}" x2="${WIDTH - MARGIN.right + 40}" y2="${legendY}" stroke="${color}" stroke-width="2"/>`)
    out.push(`<text x="${WIDTH - MARGIN.right + 46}" y="${legendY + 4}">${escapeXml(LABELS[curve.target])}</text>`)
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

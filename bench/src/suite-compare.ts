/**
 * `--compare a.json b.json`: the medians of two suite results side by side,
 * with the change from a to b, and both sets of targets.
 */
import { readFileSync } from 'node:fs'
import { fixed, table } from './format.js'
import type { SuiteResults } from './suite-results.js'
import { METRIC_NAMES, formatMetric } from './suite-report.js'
import type { MetricId, TargetId } from './suite-scenarios.js'

export function loadResults (path: string): SuiteResults {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<SuiteResults>
  if (parsed.version !== 1 || parsed.summary === undefined || parsed.scenarios === undefined) {
    throw new Error(`${path} is not a bench suite result file (version 1)`)
  }
  return parsed as SuiteResults
}

function change (a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || a === 0) return '–'
  const pct = (b - a) / a * 100
  return `${pct >= 0 ? '+' : ''}${fixed(pct, 1)} %`
}

function compareRows (a: SuiteResults, b: SuiteResults): string[][] {
  const rows: string[][] = []
  for (const scenario of a.scenarios) {
    const sa = a.summary[scenario.id]
    const sb = b.summary[scenario.id]
    if (sa === undefined || sb === undefined) continue
    for (const metric of scenario.metrics) {
      for (const target of Object.keys(sa) as TargetId[]) {
        const va = sa[target]?.[metric]
        const vb = sb[target]?.[metric]
        if (va === undefined && vb === undefined) continue
        rows.push([scenario.id, METRIC_NAMES[metric as MetricId], target, formatMetric(metric, va), formatMetric(metric, vb), change(va, vb)])
      }
    }
  }
  return rows
}

function targetRows (a: SuiteResults, b: SuiteResults): string[][] {
  const verdict = (pass: boolean | undefined): string => pass === undefined ? 'n/a' : pass ? 'PASS' : 'FAIL'
  return a.targets.map((t, i) => {
    const other = b.targets[i]
    return [String(t.id), t.name, `${t.measured} (${verdict(t.pass)})`, other === undefined ? '–' : `${other.measured} (${verdict(other.pass)})`]
  })
}

export function compareMarkdown (pathA: string, pathB: string): string {
  const a = loadResults(pathA)
  const b = loadResults(pathB)
  return [
    `# Compare: a = ${pathA} (${a.startedAt}), b = ${pathB} (${b.startedAt})`,
    '',
    table(['scenario', 'metric', 'target', 'a', 'b', 'change'], compareRows(a, b)),
    '',
    '## Targets',
    '',
    table(['#', 'target', 'a', 'b'], targetRows(a, b)),
    ''
  ].join('\n')
}

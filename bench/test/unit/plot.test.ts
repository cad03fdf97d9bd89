/**
 * The suite's latency plot: one curve per target from the run with the
 * median p99, latency rising along the percentile axis; nothing drawn
 * without spectra (older result files).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createHistogram, recordMicros, summarize } from '../../src/latency.js'
import type { MessagesResult } from '../../src/results.js'
import { latencyPlot } from '../../src/suite-plot.js'
import { suiteMarkdown } from '../../src/suite-report.js'
import type { SuiteResults, SuiteRun } from '../../src/suite-results.js'
import { suiteScenarios } from '../../src/suite-scenarios.js'
import type { TargetId } from '../../src/suite-scenarios.js'

/** A run whose latencies are 1…1000 µs times `scale`. */
function run (target: TargetId, n: number, scale: number, withSpectrum = true): SuiteRun {
  const h = createHistogram()
  for (let i = 1; i <= 1000; i++) recordMicros(h, i * scale)
  const latencyUs = summarize(h)
  if (!withSpectrum) delete latencyUs.spectrum
  const result = { mode: 'messages', latencyUs } as unknown as MessagesResult
  return { scenario: 'latency-5k', target, run: n, gatewayCpu: undefined, brokerCpu: undefined, backgroundCores: 0, result }
}

function results (runs: SuiteRun[]): SuiteResults {
  return {
    version: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    quick: false,
    machine: { cpus: 2, cpuModel: 'test', node: 'v20', platform: 'linux x64' },
    broker: 'mosquitto',
    gatewayArgs: [],
    scenarios: suiteScenarios(false).filter(s => s.id === 'latency-5k'),
    runs,
    summary: {},
    targets: []
  }
}

function polyline (svg: string, target: TargetId): [number, number][] {
  const match = new RegExp(`<polyline data-target="${target}"[^>]* points="([^"]+)"`).exec(svg)
  assert.ok(match !== null, `a curve for ${target}`)
  return (match[1] ?? '').split(' ').map(p => p.split(',').map(Number) as [number, number])
}

describe('latency plot', () => {
  test('a curve per target, latency rising with the percentile', () => {
    const svg = latencyPlot(results([run('direct', 1, 1), run('gateway', 1, 2), run('relay', 1, 1.5)]), 'latency-5k')
    assert.ok(svg !== undefined)
    assert.match(svg, /^<svg /)
    for (const target of ['direct', 'gateway', 'relay'] as const) {
      const points = polyline(svg, target)
      assert.equal(points.length, 18, '0 … 99.99 % in quarter decades, and the max')
      for (let i = 1; i < points.length; i++) {
        assert.ok(points[i]![0] > points[i - 1]![0], 'x grows')
        assert.ok(points[i]![1] <= points[i - 1]![1], 'higher latency is drawn higher (smaller y)')
      }
    }
    // Twice the latency everywhere: the gateway's curve lies above direct's at every point.
    const direct = polyline(svg, 'direct')
    polyline(svg, 'gateway').forEach(([, y], i) => assert.ok(y < direct[i]![1]))
    assert.match(svg, /gateway \(ws\)/)
    assert.match(svg, />99\.9 %</)
  })

  test("each target's curve is its run with the median p99", () => {
    const three = [run('gateway', 1, 1), run('gateway', 2, 10), run('gateway', 3, 3)]
    const svg = latencyPlot(results(three), 'latency-5k')
    const alone = latencyPlot(results([run('gateway', 1, 3)]), 'latency-5k')
    assert.ok(svg !== undefined && alone !== undefined)
    assert.deepEqual(polyline(svg, 'gateway'), polyline(alone, 'gateway'))
  })

  test('no plot without spectra, and the report links the plot only when there is one', () => {
    assert.equal(latencyPlot(results([run('gateway', 1, 1, false)]), 'latency-5k'), undefined)
    assert.equal(latencyPlot(results([]), 'latency-5k'), undefined)
    const r = results([run('gateway', 1, 1)])
    assert.match(suiteMarkdown(r, 'x-latency.svg'), /!\[latency by percentile\]\(x-latency\.svg\)/)
    assert.doesNotMatch(suiteMarkdown(r), /latency by percentile/)
  })
})

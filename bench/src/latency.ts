/** Latency histograms in microseconds (HdrHistogram, 3 significant digits). */
import { build } from 'hdr-histogram-js'
import type { Histogram } from 'hdr-histogram-js'

export type { Histogram }

export interface LatencySummary {
  count: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  mean: number
  /** [percentile, µs] from 0 to 99.99 in quarter decades of the tail, then 100 (the max): for plots. */
  spectrum?: [number, number][]
}

/**
 * 100 × (1 − 10^(−k/4)) for k = 0…16: 0, 43.8, 68.4, 82.2, 90, …, 99.99 %.
 * Evenly spaced on the usual latency plot's axis, where each decade of the
 * tail (90, 99, 99.9 %) gets the same width.
 */
export const SPECTRUM_PERCENTILES: readonly number[] = Array.from({ length: 17 }, (_, k) => Number((100 * (1 - 10 ** (-k / 4))).toFixed(4)))

/** One hour: anything slower is recorded as one hour. */
const HIGHEST_US = 3_600_000_000

export function createHistogram (): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3, autoResize: false })
}

export function recordMicros (histogram: Histogram, micros: number): void {
  histogram.recordValue(micros < 0 ? 0 : micros > HIGHEST_US ? HIGHEST_US : Math.round(micros))
}

export function summarize (histogram: Histogram): LatencySummary {
  if (histogram.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 }
  return {
    count: histogram.totalCount,
    p50: histogram.getValueAtPercentile(50),
    p90: histogram.getValueAtPercentile(90),
    p99: histogram.getValueAtPercentile(99),
    p999: histogram.getValueAtPercentile(99.9),
    max: histogram.maxValue,
    mean: Math.round(histogram.mean),
    // A bucket's top can exceed the largest value recorded: clamp to it.
    spectrum: [...SPECTRUM_PERCENTILES.map((p): [number, number] => [p, Math.min(histogram.getValueAtPercentile(p), histogram.maxValue)]), [100, histogram.maxValue]]
  }
}

/** Number formatting shared by the summary, the progress line and the suite tables. */

export function int (value: number): string {
  return Math.round(value).toLocaleString('en-US')
}

/** µs as a short human duration: 850 µs, 1.25 ms, 2.10 s. */
export function micros (us: number): string {
  if (us < 1000) return `${Math.round(us)} µs`
  if (us < 1_000_000) return `${(us / 1000).toFixed(2)} ms`
  return `${(us / 1e6).toFixed(2)} s`
}

export function fixed (value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** A Markdown / plain table with columns padded to line up. */
export function table (header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  return [line(header), `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

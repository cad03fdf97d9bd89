/**
 * The admin listener's status page: one self-contained HTML document (inline
 * CSS, inline script, SVG charts drawn by the script), no framework and no
 * external resource. It polls `/api/status` every sample interval.
 *
 * Client ids and addresses come from the network: the script only ever puts
 * them in `textContent`, and the Content-Security-Policy allows this one
 * script and style, by hash, and requests to this origin only. The live
 * connections table and its trace panel are trace/page.ts's fragments.
 */
import { createHash } from 'node:crypto'
import { traceBody, traceScript, traceStyle } from '../trace/page.js'

const style = `
:root { color-scheme: light; --fg: #1d2430; --muted: #5f6b7a; --line: #e3e7ed; --bg: #f6f7f9; --card: #fff;
  --to: #2563eb; --from: #ea7a12; --ok: #17803d; --bad: #c0262d; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 16px; padding: 14px 24px; background: var(--card); border-bottom: 1px solid var(--line); }
h1 { margin: 0; font-size: 18px; }
h2 { margin: 0 0 8px; font-size: 15px; }
.muted { color: var(--muted); }
.badge { padding: 2px 10px; border-radius: 999px; font-weight: 600; font-size: 12px; color: #fff; background: var(--muted); }
.badge.ok { background: var(--ok); }
.badge.bad { background: var(--bad); }
#updated { margin-left: auto; }
main { padding: 16px 24px 32px; max-width: 1400px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; margin-bottom: 16px; }
.tile, figure, .closes { background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
.tile { padding: 10px 14px; }
.tile .label { color: var(--muted); font-size: 12px; }
.tile .value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 12px; margin-bottom: 16px; }
figure { margin: 0; padding: 10px 14px 6px; }
figcaption { display: flex; gap: 14px; align-items: baseline; font-weight: 600; }
.key { font-weight: 400; font-size: 12px; color: var(--muted); }
.key::before { content: ""; display: inline-block; width: 14px; height: 3px; margin: 0 5px 3px 0; vertical-align: middle; background: currentColor; }
.key.to { color: var(--to); }
.key.from { color: var(--from); }
.key.from::before { background: repeating-linear-gradient(90deg, currentColor 0 5px, transparent 5px 8px); }
svg { display: block; width: 100%; height: 170px; }
svg text { font-size: 11px; fill: var(--muted); font-variant-numeric: tabular-nums; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .series { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg .series.to { stroke: var(--to); }
svg .series.from { stroke: var(--from); stroke-dasharray: 5 3; }
svg .empty { font-size: 13px; }
.closes { padding: 12px 14px; overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 10px 5px 0; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
td.client { max-width: 280px; overflow: hidden; text-overflow: ellipsis; }
td.num, th.num { text-align: right; }
tbody tr:last-child td { border-bottom: 0; }
${traceStyle}`

const script = `
'use strict'
const SVG = 'http://www.w3.org/2000/svg'
const $ = (id) => document.getElementById(id)

function count (n) {
  if (n >= 1e9) return (n / 1e9).toFixed(n >= 1e10 ? 0 : 1) + 'G'
  if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + 'M'
  if (n >= 1e3) return (n / 1e3).toFixed(n >= 1e4 ? 0 : 1) + 'k'
  return String(Math.round(n * 10) / 10)
}
function bytes (n) {
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(n >= 100 || Number.isInteger(n) ? 0 : 1)) + ' ' + units[i]
}
function duration (ms) {
  if (ms < 1000) return Math.round(ms) + ' ms'
  const s = ms / 1000
  if (s < 60) return s.toFixed(1) + ' s'
  const m = Math.floor(s / 60)
  if (m < 60) return m + ' min ' + Math.floor(s % 60) + ' s'
  const h = Math.floor(m / 60)
  if (h < 48) return h + ' h ' + (m % 60) + ' min'
  return Math.floor(h / 24) + ' d ' + (h % 24) + ' h'
}
function clock (t) {
  return new Date(t).toLocaleTimeString([], { hour12: false })
}
/** The smallest 1, 2, 2.5 or 5 times a power of ten at or above x. */
function nice (x) {
  const p = Math.pow(10, Math.floor(Math.log10(x)))
  for (const f of [1, 2, 2.5, 5]) if (f * p >= x) return f * p
  return 10 * p
}
/** Y axes: a grid step from a raw one (a quarter of the largest value), and a label format. */
const AXES = {
  // Whole connections: never a grid line at 1.25.
  connections: { format: count, step: (raw) => raw > 0 ? Math.max(1, Math.ceil(nice(raw))) : 1 },
  rate: { format: count, step: (raw) => raw > 0 ? nice(raw) : 1 },
  // Round numbers of B, KiB, MiB or GiB.
  bytes: {
    format: bytes,
    step: (raw) => {
      if (!(raw > 0)) return 1024
      const unit = Math.pow(1024, Math.max(0, Math.min(3, Math.floor(Math.log(raw) / Math.log(1024)))))
      return nice(raw / unit) * unit
    }
  }
}
function el (name, attrs, text) {
  const node = document.createElementNS(SVG, name)
  for (const k in attrs) node.setAttribute(k, attrs[k])
  if (text !== undefined) node.textContent = text
  return node
}

/** A line chart of series [{ key, values: [[time, value]] }] over [t0, t1]. */
function drawChart (svg, series, t0, t1, axis) {
  const width = svg.clientWidth || 600
  const height = svg.clientHeight || 170
  const left = 58, right = 8, top = 8, bottom = 20
  const w = width - left - right, h = height - top - bottom
  svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height)
  svg.replaceChildren()
  let max = 0
  for (const s of series) for (const [, v] of s.values) max = Math.max(max, v)
  const step = axis.step(max / 4)
  // A little headroom: a peak on the top grid line would merge with it.
  const lines = Math.max(1, Math.ceil(max * 1.05 / step))
  const x = (t) => left + (t - t0) / (t1 - t0) * w
  const y = (v) => top + h - v / (step * lines) * h
  for (let i = 0; i <= lines; i++) {
    svg.append(el('line', { class: 'grid', x1: left, x2: left + w, y1: y(i * step), y2: y(i * step) }))
    svg.append(el('text', { x: left - 6, y: y(i * step) + 4, 'text-anchor': 'end' }, axis.format(i * step)))
  }
  const every = [5, 10, 15, 30, 60, 120, 300, 600].find((s) => (t1 - t0) / 1000 / s <= 6) || 600
  const ticks = Math.floor((t1 - t0) / 1000 / every)
  for (let i = 0; i <= ticks; i++) {
    const ago = i * every
    const anchor = i === 0 ? 'end' : ago * 1000 >= t1 - t0 ? 'start' : 'middle'
    const label = i === 0 ? 'now' : ago % 60 === 0 ? '-' + ago / 60 + ' min' : '-' + ago + ' s'
    svg.append(el('text', { x: x(t1 - ago * 1000), y: height - 4, 'text-anchor': anchor }, label))
  }
  const points = series.reduce((n, s) => n + s.values.length, 0)
  if (points === 0) {
    svg.append(el('text', { class: 'empty', x: left + w / 2, y: top + h / 2, 'text-anchor': 'middle' }, 'collecting samples…'))
    return
  }
  for (const s of series) {
    const d = s.values.map(([t, v]) => x(t).toFixed(1) + ',' + y(v).toFixed(1)).join(' ')
    svg.append(el('polyline', { class: 'series ' + s.key, points: d }))
  }
}

function renderTiles (status) {
  const last = status.samples[status.samples.length - 1]
  const rate = (key, format) => last === undefined ? '–' : format(last[key]) + '/s'
  $('t-connections').textContent = count(status.current.connections)
  $('t-msg-to').textContent = rate('packetsToClientsPerSecond', count)
  $('t-msg-from').textContent = rate('packetsFromClientsPerSecond', count)
  $('t-bytes-to').textContent = rate('bytesToClientsPerSecond', bytes)
  $('t-bytes-from').textContent = rate('bytesFromClientsPerSecond', bytes)
  $('t-buffered').textContent = bytes(status.current.bufferedBytes)
}

function renderHeader (status) {
  $('upstream').textContent = status.upstream === 'embedded' ? 'embedded broker' : 'upstream ' + status.upstream
  const badge = $('ready')
  badge.textContent = status.readiness.ready ? 'ready' : 'not ready: ' + status.readiness.reason
  badge.title = status.readiness.ready ? '' : status.readiness.detail
  badge.className = 'badge ' + (status.readiness.ready ? 'ok' : 'bad')
  $('updated').textContent = 'up ' + duration(status.now - status.startedAt) + ' · updated ' + clock(status.now)
}

function renderCharts (status) {
  const t1 = status.now
  const t0 = t1 - status.windowMs
  const pick = (key) => status.samples.map((s) => [s.time, s[key]])
  drawChart($('c-connections'), [{ key: 'to', values: pick('connections') }], t0, t1, AXES.connections)
  drawChart($('c-messages'), [
    { key: 'to', values: pick('packetsToClientsPerSecond') },
    { key: 'from', values: pick('packetsFromClientsPerSecond') }
  ], t0, t1, AXES.rate)
  drawChart($('c-bytes'), [
    { key: 'to', values: pick('bytesToClientsPerSecond') },
    { key: 'from', values: pick('bytesFromClientsPerSecond') }
  ], t0, t1, AXES.bytes)
}

function renderCloses (closes) {
  const rows = closes.map((c) => {
    const tr = document.createElement('tr')
    const cells = [
      [clock(c.time), ''],
      [c.clientId === null ? '—' : c.clientId, 'client'],
      [c.remoteAddress, ''],
      [c.broker === null ? '—' : c.broker, ''],
      [c.closedBy, ''],
      [c.reason + (c.closeCode === null ? '' : ' (' + c.closeCode + ')'), ''],
      [duration(c.durationMs), 'num']
    ]
    for (const [text, cls] of cells) {
      const td = document.createElement('td')
      td.textContent = text
      if (cls !== '') td.className = cls
      if (cls === 'client') td.title = text
      tr.append(td)
    }
    return tr
  })
  $('closes').replaceChildren(...rows)
  $('no-closes').hidden = rows.length > 0
  $('closes-count').textContent = rows.length === 0 ? '' : '(' + rows.length + ')'
}

let last
function render (status) {
  last = status
  renderHeader(status)
  renderTiles(status)
  renderCharts(status)
  renderCloses(status.closes)
}

async function poll () {
  let wait = 2000
  try {
    const res = await fetch('api/status', { cache: 'no-store' })
    if (!res.ok) throw new Error('HTTP ' + res.status)
    const status = await res.json()
    wait = status.sampleIntervalMs
    render(status)
  } catch (err) {
    const badge = $('ready')
    badge.textContent = 'no answer from the gateway'
    badge.title = String(err)
    badge.className = 'badge bad'
  }
  setTimeout(poll, wait)
}
addEventListener('resize', () => { if (last !== undefined) renderCharts(last) })
poll()
${traceScript}`

const body = `
<header>
  <h1>mqtt-ws-gateway</h1>
  <span id="upstream" class="muted"></span>
  <span id="ready" class="badge">loading…</span>
  <span id="updated" class="muted"></span>
</header>
<main>
  <section class="tiles">
    <div class="tile"><div class="label">Connections</div><div class="value" id="t-connections">–</div></div>
    <div class="tile"><div class="label">Messages to clients</div><div class="value" id="t-msg-to">–</div></div>
    <div class="tile"><div class="label">Messages from clients</div><div class="value" id="t-msg-from">–</div></div>
    <div class="tile"><div class="label">Bytes to clients</div><div class="value" id="t-bytes-to">–</div></div>
    <div class="tile"><div class="label">Bytes from clients</div><div class="value" id="t-bytes-from">–</div></div>
    <div class="tile"><div class="label">Buffered now</div><div class="value" id="t-buffered">–</div></div>
  </section>
  <section class="charts">
    <figure><figcaption>Connections</figcaption><svg id="c-connections" role="img" aria-label="connections over time"></svg></figure>
    <figure><figcaption>Messages/s <span class="key to">to clients</span><span class="key from">from clients</span></figcaption>
      <svg id="c-messages" role="img" aria-label="MQTT packets per second over time"></svg></figure>
    <figure><figcaption>Bytes/s <span class="key to">to clients</span><span class="key from">from clients</span></figcaption>
      <svg id="c-bytes" role="img" aria-label="bytes per second over time"></svg></figure>
  </section>${traceBody}
  <section class="closes">
    <h2>Last closes <span id="closes-count" class="muted"></span></h2>
    <table>
      <thead><tr><th>Time</th><th>Client id</th><th>Remote address</th><th>Broker</th><th>Closed by</th><th>Reason</th><th class="num">Duration</th></tr></thead>
      <tbody id="closes"></tbody>
    </table>
    <p id="no-closes" class="muted">No connection has closed yet.</p>
  </section>
</main>
`

function sha256 (text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`
}

export const statusPage = {
  html: `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mqtt-ws-gateway status</title>
<link rel="icon" href="data:,">
<style>${style}</style>
</head>
<body>${body}<script>${script}</script>
</body>
</html>
`,
  csp: [
    "default-src 'none'",
    `script-src ${sha256(script)}`,
    `style-src ${sha256(style)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join('; ')
} as const

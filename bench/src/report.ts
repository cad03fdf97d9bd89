/** The end-of-run summary of the CLI and its live progress line. */
import { fixed, int, micros, table } from './format.js'
import type { BenchResult, ConnectStats, ConnectionsResult, MessagesResult } from './results.js'
import type { Progress } from './run.js'

function connectRows (c: ConnectStats): string[][] {
  const rows = [
    ['connections', `${int(c.connected)} of ${int(c.attempted)}${c.failed > 0 ? ` (${int(c.failed)} failed)` : ''}`],
    ['connect rate', `${int(c.perSecond)} conn/s`],
    ['handshake p50 / p99 / max', `${micros(c.handshakeUs.p50)} / ${micros(c.handshakeUs.p99)} / ${micros(c.handshakeUs.max)}`]
  ]
  if (c.errors.length > 0) rows.push(['connect errors', c.errors.join('; ')])
  return rows
}

function messagesRows (r: MessagesResult): string[][] {
  const s = r.scenario
  const l = r.latencyUs
  const load = s.rate > 0 ? `${int(s.rate)} msg/s open loop` : `max rate, window ${int(s.inflight)}/publisher`
  const rows = [
    ['target', r.url],
    ['scenario', `${s.publishers} pub → ${s.echo ? 'self (echo)' : `${s.subscribers} sub`}, ${s.topics}, QoS ${s.qos}, ${int(s.payload)} B, MQTT ${s.mqtt}, ${load}`],
    ['elapsed', `${fixed(r.elapsedS, 2)} s`],
    ['sent / received', `${int(r.sent)} / ${int(r.received)} (expected ${int(r.expected)})`],
    ['lost / duplicated / out of order', `${int(r.lost)} / ${int(r.duplicated)} / ${int(r.outOfOrder)}`],
    ['throughput', `${int(r.msgPerSec)} msg/s, ${fixed(r.mbPerSec, 2)} MB/s`],
    ['latency p50 / p90 / p99', `${micros(l.p50)} / ${micros(l.p90)} / ${micros(l.p99)}`],
    ['latency p99.9 / max', `${micros(l.p999)} / ${micros(l.max)}`],
    ['unexpected disconnects', `${r.disconnects}${r.disconnectReasons.length > 0 ? ` (${r.disconnectReasons.join('; ')})` : ''}`],
    ...connectRows(r.connect),
    ['tool CPU', `${fixed(r.toolCpu.usPerMessage, 2)} µs/msg`]
  ]
  if (r.skipped > 0) rows.push(['skipped (tool backed up)', int(r.skipped)])
  if (r.rejected > 0) rows.push(['rejected by server', int(r.rejected)])
  if (r.foreign > 0) rows.push(['foreign PUBLISHes (no bench header)', int(r.foreign)])
  for (const c of r.cpu) {
    const calls = c.syscallsPerMessage === undefined ? '' : `, ${fixed(c.syscallsPerMessage, 3)} read/write syscalls/msg`
    rows.push([`pid ${c.pid} CPU`, `${fixed(c.usPerMessage, 3)} µs/msg (${fixed(c.cpuUs / 1e6, 2)} s)${calls}`])
  }
  return rows
}

function connectionsRows (r: ConnectionsResult): string[][] {
  const rows = [
    ['target', r.url],
    ['scenario', `${int(r.connections)} idle connections, MQTT ${r.mqtt}, held ${r.holdS} s`],
    ...connectRows(r.connect),
    ['unexpected disconnects', `${r.disconnects}${r.disconnectReasons.length > 0 ? ` (${r.disconnectReasons.join('; ')})` : ''}`],
    ['tool CPU per connection', micros(r.toolCpuPerConnection)]
  ]
  for (const c of r.cpuPerConnection) rows.push([`pid ${c.pid} CPU per connection`, micros(c.us)])
  if (r.rss !== undefined) {
    rows.push([`pid ${r.rss.pid} RSS before / after`, `${int(r.rss.beforeKb)} KB / ${int(r.rss.afterKb)} KB`])
    rows.push(['RSS per connection', `${fixed(r.rss.kbPerConnection, 2)} KB`])
  }
  return rows
}

export function formatSummary (result: BenchResult): string {
  const rows = result.mode === 'messages' ? messagesRows(result) : connectionsRows(result)
  return table(['metric', 'value'], rows)
}

export function formatProgress (p: Progress): string {
  const left = p.remainingS === undefined ? '' : `, ${Math.ceil(p.remainingS)} s left`
  if (p.mode === 'connections') return `${p.phase}: ${int(p.connected)} connected, ${p.disconnects} disconnects${left}`
  return `${int(p.rate)} msg/s, p99 ${micros(p.p99Us)}, ${int(p.received)} received, ${p.disconnects} disconnects${left}`
}

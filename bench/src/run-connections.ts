/**
 * A connections run: open C idle MQTT connections at `--connect-rate`, hold
 * them for `--hold` seconds, and report connect rate, handshake latency,
 * disconnects and, with `--pid`, that process's resident memory per
 * connection (VmRSS at the end of the hold minus before the first connect).
 */
import type { BenchClient } from './client.js'
import { openPool } from './connect-pool.js'
import type { BenchOptions } from './options.js'
import { readCpuMicros, readRssKb } from './proc.js'
import type { ConnectionsResult } from './results.js'
import { LossLog, closeAll, connectStats, keepAlive, openClient, runId, sleep } from './session.js'

export interface ConnectionsProgress {
  mode: 'connections'
  phase: 'connecting' | 'holding'
  connected: number
  disconnects: number
  /** Seconds left of the hold (while holding). */
  remainingS: number | undefined
}

export interface ConnectionsHooks {
  onProgress?: (progress: ConnectionsProgress) => void
}

function perConnection (cpuUs: number, connections: number): number {
  return connections > 0 ? Math.round(cpuUs / connections) : 0
}

export async function runConnections (options: BenchOptions, hooks: ConnectionsHooks = {}): Promise<ConnectionsResult> {
  const id = runId()
  const losses = new LossLog()
  const opened: BenchClient[] = []
  const pid = options.pids[0]
  const rssBefore = pid === undefined ? undefined : readRssKb(pid)
  let phase: ConnectionsProgress['phase'] = 'connecting'
  let holdEndsAt = 0
  const progress = hooks.onProgress === undefined
    ? undefined
    : setInterval(() => hooks.onProgress?.({
      mode: 'connections',
      phase,
      connected: opened.length - losses.count,
      disconnects: losses.count,
      remainingS: phase === 'holding' ? Math.max(0, (holdEndsAt - Date.now()) / 1000) : undefined
    }), 1000)
  const stopPings = keepAlive(() => opened, options.keepalive)
  try {
    const cpuBefore = options.pids.map(readCpuMicros)
    const toolBefore = process.cpuUsage()
    const pool = await openPool(options.connections, async i => {
      const client = await openClient(options, `bench-${id}-c${i}`)
      client.role = { onLost: (_c, reason) => losses.add(reason) }
      opened.push(client)
      return client
    }, { rate: options.connectRate, concurrency: options.connectConcurrency })
    const toolCpu = process.cpuUsage(toolBefore)
    const cpuAfter = options.pids.map(readCpuMicros)
    phase = 'holding'
    holdEndsAt = Date.now() + options.hold * 1000
    await sleep(options.hold * 1000)
    const rssAfter = pid === undefined ? undefined : readRssKb(pid)
    const connect = connectStats(pool)
    return {
      mode: 'connections',
      url: options.target.url,
      mqtt: options.version === 5 ? '5' : '3.1.1',
      connections: options.connections,
      connect,
      holdS: options.hold,
      disconnects: losses.count,
      disconnectReasons: losses.reasons,
      toolCpuPerConnection: perConnection(toolCpu.user + toolCpu.system, connect.connected),
      cpuPerConnection: options.pids.flatMap((p, i) => {
        const before = cpuBefore[i]
        const after = cpuAfter[i]
        return before === undefined || after === undefined ? [] : [{ pid: p, us: perConnection(after - before, connect.connected) }]
      }),
      rss: pid === undefined || rssBefore === undefined || rssAfter === undefined
        ? undefined
        : { pid, beforeKb: rssBefore, afterKb: rssAfter, kbPerConnection: connect.connected > 0 ? Math.round((rssAfter - rssBefore) / connect.connected * 100) / 100 : 0 }
    }
  } finally {
    clearInterval(progress)
    stopPings()
    await closeAll(opened)
  }
}

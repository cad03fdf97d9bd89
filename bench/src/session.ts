/**
 * Things both run modes share: opening a client from the options, summing up
 * a pool of opens, keep-alive pings, and closing everything within a bound.
 */
import { randomBytes } from 'node:crypto'
import { BenchClient } from './client.js'
import type { PoolResult } from './connect-pool.js'
import { createHistogram, recordMicros, summarize } from './latency.js'
import type { BenchOptions } from './options.js'
import type { ConnectStats } from './results.js'

/** How long a clean close may take before the socket is destroyed. */
export const CLOSE_TIMEOUT_MS = 2000

/** A short random id, so clients and topics of concurrent runs never meet. */
export function runId (): string {
  return randomBytes(4).toString('hex')
}

export function openClient (options: BenchOptions, clientId: string): Promise<BenchClient> {
  return BenchClient.open({
    target: options.target,
    batch: options.wsBatch,
    version: options.version,
    clientId,
    keepalive: options.keepalive,
    username: options.username,
    password: options.password,
    timeoutMs: options.timeoutMs
  })
}

/** Connect statistics over pools opened one after the other (e.g. subscribers, then publishers). */
export function connectStats (...pools: PoolResult<BenchClient>[]): ConnectStats {
  const histogram = createHistogram()
  let connected = 0
  for (const client of pools.flatMap(p => p.opened)) {
    if (client === undefined) continue
    connected++
    recordMicros(histogram, client.handshakeUs)
  }
  const startedUs = Math.min(...pools.map(p => p.startedUs))
  const seconds = (Math.max(...pools.map(p => p.lastOpenedUs)) - startedUs) / 1e6
  const stats: ConnectStats = {
    attempted: pools.reduce((sum, p) => sum + p.opened.length, 0),
    connected,
    failed: pools.reduce((sum, p) => sum + p.failed, 0),
    perSecond: connected > 0 && seconds > 0 ? Math.round(connected / seconds) : 0,
    handshakeUs: summarize(histogram),
    errors: pools.flatMap(p => p.errors)
  }
  histogram.destroy()
  return stats
}

/**
 * Sends a PINGREQ on every client each half keep-alive, so a broker never
 * drops a client that only receives. Returns a stop function.
 */
export function keepAlive (clients: () => Iterable<BenchClient>, keepaliveS: number): () => void {
  if (keepaliveS === 0) return () => {}
  const timer = setInterval(() => {
    for (const client of clients()) client.ping()
  }, keepaliveS * 500)
  timer.unref()
  return () => clearInterval(timer)
}

export async function closeAll (clients: Iterable<BenchClient | undefined>): Promise<void> {
  const closing: Promise<void>[] = []
  for (const client of clients) if (client !== undefined) closing.push(client.close(CLOSE_TIMEOUT_MS))
  await Promise.all(closing)
}

/** Records why clients were lost: a count and the first few distinct reasons. */
export class LossLog {
  count = 0
  readonly reasons: string[] = []

  add (reason: string): void {
    this.count++
    if (this.reasons.length < 5 && !this.reasons.includes(reason)) this.reasons.push(reason)
  }
}

/** Resolves when `done()` holds or after `timeoutMs`, checking every `everyMs`. */
export function waitUntil (done: () => boolean, timeoutMs: number, everyMs = 5): Promise<void> {
  return new Promise(resolve => {
    if (done()) {
      resolve()
      return
    }
    const deadline = Date.now() + timeoutMs
    const timer = setInterval(() => {
      if (done() || Date.now() >= deadline) {
        clearInterval(timer)
        resolve()
      }
    }, everyMs)
  })
}

export function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

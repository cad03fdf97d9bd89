/**
 * What the status page shows: a sample of the gateway's traffic every few
 * seconds over the last minutes, and the most recent closes. Both live in
 * ring buffers, so memory stays fixed; samples come from `gateway.stats()`
 * on an unref'd timer and closes from the close event, never per packet.
 */
import type { CloseInitiator, CloseReason } from '../errors.js'
import { subscribe } from '../events.js'
import type { GatewayRef } from '../events.js'
import type { GatewayStats } from '../gateway.js'
import { RingBuffer } from './ring-buffer.js'

export interface StatusSource extends GatewayRef {
  stats (): GatewayStats
}

/** One point of the charts: rates over the interval that ends at `time`. */
export interface StatusSample {
  /** Milliseconds since the epoch. */
  time: number
  connections: number
  packetsFromClientsPerSecond: number
  packetsToClientsPerSecond: number
  bytesFromClientsPerSecond: number
  bytesToClientsPerSecond: number
  bufferedBytes: number
}

export interface RecentClose {
  time: number
  connectionId: number
  clientId: string | null
  remoteAddress: string
  /** The broker it was bridged to (`embedded` for the embedded one). */
  broker: string | null
  closedBy: CloseInitiator
  reason: CloseReason
  closeCode: number | null
  durationMs: number
}

export interface StatusTimings {
  /** Milliseconds between samples (2 s). */
  sampleIntervalMs?: number
  /** How far back the samples go (5 min). */
  windowMs?: number
  /** How many closes are kept (50). */
  closes?: number
}

export interface StatusHistory {
  sampleIntervalMs: number
  /** How far back the samples go. */
  windowMs: number
  /** Oldest first. */
  samples: StatusSample[]
  /** Newest first. */
  closes: RecentClose[]
}

export class StatusRecorder {
  readonly sampleIntervalMs: number
  readonly windowMs: number
  private readonly source: StatusSource
  private readonly samples: RingBuffer<StatusSample>
  private readonly closes: RingBuffer<RecentClose>
  private timer: NodeJS.Timeout | undefined
  private unsubscribe: (() => void) | undefined
  private last: { at: number, stats: GatewayStats } | undefined

  constructor (source: StatusSource, timings: StatusTimings = {}) {
    this.source = source
    this.sampleIntervalMs = timings.sampleIntervalMs ?? 2000
    this.windowMs = timings.windowMs ?? 300_000
    this.samples = new RingBuffer(Math.max(1, Math.round(this.windowMs / this.sampleIntervalMs)))
    this.closes = new RingBuffer(timings.closes ?? 50)
  }

  start (): void {
    this.last = { at: performance.now(), stats: this.source.stats() }
    this.timer = setInterval(this.sample, this.sampleIntervalMs).unref()
    this.unsubscribe = subscribe(this.source, {
      close: (e) => this.closes.push({
        time: Date.now(),
        connectionId: e.connectionId,
        clientId: e.clientId ?? null,
        remoteAddress: e.remoteAddress,
        broker: e.broker ?? null,
        closedBy: e.initiator,
        reason: e.reason,
        closeCode: e.closeCode ?? null,
        durationMs: Math.round(e.durationMs)
      })
    })
  }

  stop (): void {
    clearInterval(this.timer)
    this.unsubscribe?.()
  }

  history (): StatusHistory {
    return { sampleIntervalMs: this.sampleIntervalMs, windowMs: this.windowMs, samples: this.samples.toArray(), closes: this.closes.toArray().reverse() }
  }

  private readonly sample = (): void => {
    const at = performance.now()
    const stats = this.source.stats()
    const last = this.last ?? { at, stats }
    // The timer may fire late under load: rates use the real elapsed time.
    const seconds = Math.max((at - last.at) / 1000, 0.001)
    // One decimal: a sensor fleet may well send 0.5 messages/s.
    const rate = (now: number, before: number): number => Math.round(Math.max(0, now - before) / seconds * 10) / 10
    this.samples.push({
      time: Date.now(),
      connections: stats.connections,
      packetsFromClientsPerSecond: rate(stats.packetsFromClients, last.stats.packetsFromClients),
      packetsToClientsPerSecond: rate(stats.packetsToClients, last.stats.packetsToClients),
      bytesFromClientsPerSecond: rate(stats.bytesFromClients, last.stats.bytesFromClients),
      bytesToClientsPerSecond: rate(stats.bytesToClients, last.stats.bytesToClients),
      bufferedBytes: stats.bufferedBytes
    })
    this.last = { at, stats }
  }
}

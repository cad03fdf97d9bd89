/**
 * Limits per source address, applied before any upstream resource is used:
 * concurrent connections, and a connect rate as a token bucket (a steady
 * `ratePerSecond` with bursts of up to `burst`).
 */

interface Entry {
  active: number
  tokens: number
  refilledAt: number
}

export type IpVerdict = { ok: true } | { ok: false, reason: 'limit_ip' | 'limit_rate', retryAfterSeconds: number }

const SWEEP_MS = 60_000

export class IpLimits {
  private readonly maxActive: number
  private readonly ratePerSecond: number
  private readonly burst: number
  private readonly entries = new Map<string, Entry>()
  private readonly sweeper: NodeJS.Timeout | undefined

  /** 0 turns a limit off. */
  constructor (maxActive: number, ratePerSecond: number, burst: number) {
    this.maxActive = maxActive
    this.ratePerSecond = ratePerSecond
    this.burst = Math.max(1, burst)
    const enabled = maxActive > 0 || ratePerSecond > 0
    this.sweeper = enabled ? setInterval(() => this.sweep(), SWEEP_MS).unref() : undefined
  }

  get enabled (): boolean {
    return this.sweeper !== undefined
  }

  /** Counts a new connection from `ip`, or says why it may not open. */
  acquire (ip: string, now = performance.now()): IpVerdict {
    if (!this.enabled) return { ok: true }
    const entry = this.entry(ip, now)
    if (this.maxActive > 0 && entry.active >= this.maxActive) {
      return { ok: false, reason: 'limit_ip', retryAfterSeconds: 5 }
    }
    if (this.ratePerSecond > 0) {
      if (entry.tokens < 1) {
        return { ok: false, reason: 'limit_rate', retryAfterSeconds: Math.ceil((1 - entry.tokens) / this.ratePerSecond) }
      }
      entry.tokens -= 1
    }
    entry.active++
    return { ok: true }
  }

  /** A connection counted by `acquire` has ended (or never opened). */
  release (ip: string): void {
    const entry = this.entries.get(ip)
    if (entry !== undefined && entry.active > 0) entry.active--
  }

  stop (): void {
    clearInterval(this.sweeper)
  }

  private entry (ip: string, now: number): Entry {
    let entry = this.entries.get(ip)
    if (entry === undefined) {
      entry = { active: 0, tokens: this.burst, refilledAt: now }
      this.entries.set(ip, entry)
    } else if (this.ratePerSecond > 0) {
      entry.tokens = Math.min(this.burst, entry.tokens + (now - entry.refilledAt) / 1000 * this.ratePerSecond)
      entry.refilledAt = now
    }
    return entry
  }

  /** Forgets addresses with no connection and a full bucket: memory stays bounded by live clients. */
  private sweep (now = performance.now()): void {
    for (const [ip, entry] of this.entries) {
      const refilled = entry.tokens + (now - entry.refilledAt) / 1000 * this.ratePerSecond
      if (entry.active === 0 && (this.ratePerSecond === 0 || refilled >= this.burst)) this.entries.delete(ip)
    }
  }
}

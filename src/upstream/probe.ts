/**
 * Is the upstream broker reachable? A TCP connect every few seconds (and one
 * at start), closed as soon as it opens: for /readyz, never per request and
 * never per client. It uses the same connect as a client's upstream, so its
 * verdict matches what the next upgrade would get.
 */
import type { UpgradeRejection } from '../errors.js'
import { UpstreamConnectError } from '../errors.js'
import type { Upstream } from './upstream.js'

export type ProbeState =
  | { reachable: true, checkedAt: number }
  | { reachable: false, checkedAt: number | undefined, reason: UpgradeRejection | 'upstream_unchecked', detail: string }

export class UpstreamProbe {
  private readonly upstream: Upstream
  private readonly intervalMs: number
  private readonly abort = new AbortController()
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  state: ProbeState = { reachable: false, checkedAt: undefined, reason: 'upstream_unchecked', detail: 'not checked yet' }

  constructor (upstream: Upstream, intervalMs: number) {
    this.upstream = upstream
    this.intervalMs = intervalMs
  }

  /** Checks once, then every `intervalMs` (a timer that does not keep the process alive). */
  async start (): Promise<void> {
    await this.check()
    if (this.abort.signal.aborted) return
    this.timer = setInterval(() => { void this.check() }, this.intervalMs).unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.abort.abort()
  }

  /** One connect at a time: a check still waiting on a slow broker is not doubled. */
  private check (): Promise<void> {
    this.running ??= this.connectOnce().finally(() => { this.running = undefined })
    return this.running
  }

  private async connectOnce (): Promise<void> {
    try {
      const link = await this.upstream.connect(this.abort.signal)
      link.stream.destroy()
      if (!this.abort.signal.aborted) this.state = { reachable: true, checkedAt: Date.now() }
    } catch (err) {
      if (this.abort.signal.aborted) return
      const reason = err instanceof UpstreamConnectError ? err.reason : 'upstream_unreachable'
      this.state = { reachable: false, checkedAt: Date.now(), reason, detail: (err as Error).message }
    }
  }
}

/**
 * Idle pings: the cure for the 20-second drop.
 *
 * A transport ping is sent only when the connection has been silent in both
 * directions for a whole period, so a busy connection is never pinged and can
 * never time out on a pong queued behind its data. After a ping, any frame
 * from the client (not only the pong) proves it alive; if nothing at all
 * arrives within one more period, the client is gone. MQTT keep-alive stays
 * end to end and is enforced by the broker [MQTT-3.1.2-24].
 *
 * The pinger owns no timer: it asks its host to look again after a delay
 * (one of the connection's deadlines), re-armed only when it fires, so the
 * data path just records timestamps.
 */

export interface IdlePingHost {
  /** performance.now() of the last bytes read from the client. */
  readonly lastInbound: number
  /** performance.now() of the last bytes written to the client. */
  readonly lastOutbound: number
  sendPing (): void
  onIdleTimeout (): void
  /** Call `check()` again in `ms`. */
  scheduleIdleCheck (ms: number): void
}

export class IdlePinger {
  private readonly host: IdlePingHost
  private readonly periodMs: number
  private pingSentAt = 0

  constructor (host: IdlePingHost, periodMs: number) {
    this.host = host
    this.periodMs = periodMs
  }

  start (): void {
    this.host.scheduleIdleCheck(this.periodMs)
  }

  check (): void {
    const now = performance.now()
    const { lastInbound, lastOutbound } = this.host
    if (this.pingSentAt > 0) {
      if (lastInbound >= this.pingSentAt) {
        this.pingSentAt = 0
      } else if (now - this.pingSentAt >= this.periodMs) {
        this.host.onIdleTimeout()
        return
      } else {
        this.host.scheduleIdleCheck(this.pingSentAt + this.periodMs - now)
        return
      }
    }
    const silentFor = now - Math.max(lastInbound, lastOutbound)
    if (silentFor >= this.periodMs) {
      this.pingSentAt = now
      this.host.sendPing()
      this.host.scheduleIdleCheck(this.periodMs)
    } else {
      this.host.scheduleIdleCheck(this.periodMs - silentFor)
    }
  }
}

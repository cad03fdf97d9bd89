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
 * One unref'd timer per connection, re-armed only when it fires: the data
 * path just records timestamps.
 */

export interface IdlePingHost {
  /** performance.now() of the last bytes read from the client. */
  readonly lastInbound: number
  /** performance.now() of the last bytes written to the client. */
  readonly lastOutbound: number
  sendPing (): void
  onIdleTimeout (): void
}

export class IdlePinger {
  private readonly host: IdlePingHost
  private readonly periodMs: number
  private timer: NodeJS.Timeout | undefined
  private pingSentAt = 0

  constructor (host: IdlePingHost, periodMs: number) {
    this.host = host
    this.periodMs = periodMs
  }

  start (): void {
    this.arm(this.periodMs)
  }

  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private arm (delayMs: number): void {
    this.timer = setTimeout(IdlePinger.fire, Math.max(1, Math.ceil(delayMs)), this)
    this.timer.unref()
  }

  /** One timer callback for every connection's pinger, not a closure each. */
  private static fire (pinger: IdlePinger): void {
    pinger.check()
  }

  private check (): void {
    const now = performance.now()
    const { lastInbound, lastOutbound } = this.host
    if (this.pingSentAt > 0) {
      if (lastInbound >= this.pingSentAt) {
        this.pingSentAt = 0
      } else if (now - this.pingSentAt >= this.periodMs) {
        this.timer = undefined
        this.host.onIdleTimeout()
        return
      } else {
        this.arm(this.pingSentAt + this.periodMs - now)
        return
      }
    }
    const silentFor = now - Math.max(lastInbound, lastOutbound)
    if (silentFor >= this.periodMs) {
      this.pingSentAt = now
      this.host.sendPing()
      this.arm(this.periodMs)
    } else {
      this.arm(this.periodMs - silentFor)
    }
  }
}

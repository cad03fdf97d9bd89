/**
 * Every deadline of one connection on one timer.
 *
 * A connection waits on up to six things at once — its CONNECT, the
 * broker's CONNACK, a peer's drain, the answer to a close, its token's
 * expiry, the next idle-ping check — and each has a time by which it must
 * have happened. Instead of a timer each, the connection keeps the due times
 * and one unref'd timer armed for the earliest; when it fires, every
 * deadline that is due is handed to the owner, and the timer is armed for
 * the next. Setting a later deadline while an earlier one is armed costs no
 * timer call at all.
 */

export const Deadline = {
  /** The client's CONNECT (--first-packet-timeout). */
  connect: 0,
  /** The broker's CONNACK (--connack-timeout). */
  connack: 1,
  /** A peer's full write buffer to drain (--drain-timeout). */
  drain: 2,
  /** The client's answer to our close frame, or both sockets to close (--close-timeout). */
  close: 3,
  /** The token's exp (+ --jwt-clock-tolerance). */
  token: 4,
  /** The idle pinger's next look at the connection (--ws-ping-idle). */
  idle: 5
} as const

export type DeadlineKind = typeof Deadline[keyof typeof Deadline]

const KINDS = 6
const NONE = Infinity
// setTimeout fires at once past 2^31 - 1 ms (~24.8 days): far deadlines re-arm.
const MAX_TIMER_MS = 2 ** 31 - 1

export interface DeadlineOwner {
  /** `kind`'s time has come (it is cleared before this call). */
  onDeadline (kind: DeadlineKind): void
}

export class Deadlines {
  private readonly owner: DeadlineOwner
  /** performance.now() by which each kind is due; Infinity when unset. */
  private readonly due: number[] = new Array<number>(KINDS).fill(NONE)
  private timer: NodeJS.Timeout | undefined
  /** When the armed timer fires (Infinity when none is armed). */
  private armedFor = NONE

  constructor (owner: DeadlineOwner) {
    this.owner = owner
  }

  /** `kind` is due `ms` from now (replacing any earlier setting of it). */
  set (kind: DeadlineKind, ms: number): void {
    const at = performance.now() + ms
    this.due[kind] = at
    if (at < this.armedFor) this.arm(at)
  }

  clear (kind: DeadlineKind): void {
    this.due[kind] = NONE
    // The armed timer may now fire for nothing; it then re-arms for the next.
  }

  isSet (kind: DeadlineKind): boolean {
    return this.due[kind] !== NONE
  }

  /** Clears everything and stops the timer. */
  stop (): void {
    this.due.fill(NONE)
    clearTimeout(this.timer)
    this.timer = undefined
    this.armedFor = NONE
  }

  private arm (at: number): void {
    clearTimeout(this.timer)
    this.armedFor = at
    const delay = Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(at - performance.now())))
    this.timer = setTimeout(Deadlines.fire, delay, this).unref()
  }

  /** One timer callback for every connection, not a closure each. */
  private static fire (deadlines: Deadlines): void {
    deadlines.expire()
  }

  private expire (): void {
    this.timer = undefined
    // Deadlines the handlers set meanwhile arm nothing: the earliest of all
    // is armed once, below.
    this.armedFor = -Infinity
    // Timers are kept in whole milliseconds: allow for the rounding.
    const now = performance.now() + 1
    for (let kind = 0; kind < KINDS; kind++) {
      if ((this.due[kind] as number) <= now) {
        this.due[kind] = NONE
        this.owner.onDeadline(kind as DeadlineKind)
      }
    }
    this.armedFor = NONE
    let next = NONE
    for (let kind = 0; kind < KINDS; kind++) next = Math.min(next, this.due[kind] as number)
    if (next !== NONE) this.arm(next)
  }
}

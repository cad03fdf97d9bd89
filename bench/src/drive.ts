/**
 * The two ways publishers are driven.
 *
 * Closed loop (max rate): each publisher keeps up to `window` messages in
 * flight end to end and tops up after every socket read that moved the
 * window, one write per publisher per event-loop turn.
 *
 * Open loop (--rate): one timer; each tick sends the number of messages due
 * since the start, whatever the system under test does, so a slow server
 * shows up as latency, not as a lower send rate. A backed-up socket is not
 * fed; what falls more than a second behind is skipped and reported.
 */
import { nowMicros } from './payload.js'
import type { Publisher } from './publisher.js'

/** A socket holding more than this is backed up: the open loop stops feeding it. */
const MAX_BUFFERED = 4 * 1024 * 1024
/** No delivery or ack for this long with messages in flight: write them off as lost. */
const STALL_US = 1_000_000
const STALL_CHECK_MS = 100

export interface Driver {
  start: () => void
  /** Stops sending; nothing is sent after this returns. */
  stop: () => void
  /** Something moved (a read, an ack, a drain): try to send. */
  wake: () => void
  /** Open loop: messages not sent because the socket stayed backed up. */
  readonly skipped: number
}


export class ClosedLoop implements Driver {
  readonly skipped = 0
  private readonly publishers: readonly Publisher[]
  private readonly window: number
  private running = false
  private scheduled = false
  private stallTimer: NodeJS.Timeout | undefined
  private readonly progress: { mark: number, at: number }[]

  constructor (publishers: readonly Publisher[], window: number) {
    this.publishers = publishers
    this.window = window
    this.progress = publishers.map(() => ({ mark: 0, at: 0 }))
  }

  start (): void {
    this.running = true
    const now = nowMicros()
    for (const p of this.progress) p.at = now
    this.stallTimer = setInterval(() => this.checkStalls(), STALL_CHECK_MS)
    this.pump()
  }

  stop (): void {
    this.running = false
    clearInterval(this.stallTimer)
  }

  wake (): void {
    if (this.scheduled || !this.running) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      if (this.running) this.pump()
    })
  }

  private pump (): void {
    const now = nowMicros()
    for (const p of this.publishers) {
      let room = p.client.writable && !p.done ? p.room(this.window) : 0
      // Top up in chunks of a quarter window, not message by message: fewer,
      // larger writes keep the tool's syscalls per message low.
      if (room < Math.min(Math.ceil(p.capacity(this.window) / 4), p.limit - p.sent)) continue
      while (room > 0 && p.client.writable) {
        const sent = p.send(room, now)
        if (sent === 0) break
        room -= sent
      }
    }
  }

  /** Messages lost on the way would shut a window for good; after a stall, write them off. */
  private checkStalls (): void {
    const now = nowMicros()
    this.publishers.forEach((p, i) => {
      const state = this.progress[i]!
      const mark = p.delivered + p.acked + p.rejected
      if (mark !== state.mark || p.outstanding === 0) {
        state.mark = mark
        state.at = now
      } else if (now - state.at > STALL_US) {
        p.forgiven += p.outstanding
        state.at = now
        this.wake()
      }
    })
  }
}

export class OpenLoop implements Driver {
  skipped = 0
  private readonly publishers: readonly Publisher[]
  private readonly rate: number
  private readonly backlog: number[]
  private readonly maxBacklog: number
  private timer: NodeJS.Timeout | undefined
  private startedAt = 0
  private scheduledCount = 0
  private nextPublisher = 0

  constructor (publishers: readonly Publisher[], rate: number) {
    this.publishers = publishers
    this.rate = rate
    this.backlog = publishers.map(() => 0)
    this.maxBacklog = Math.max(1, Math.ceil(rate / Math.max(1, publishers.length)))
  }

  start (): void {
    this.startedAt = nowMicros()
    // A tick per message at low rates, else every millisecond (Node's timer floor).
    const tickMs = Math.min(10, Math.max(1, Math.floor(1000 / this.rate)))
    this.timer = setInterval(() => this.tick(), tickMs)
    this.tick()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  wake (): void {}

  private tick (): void {
    const now = nowMicros()
    const due = Math.floor(this.rate * (now - this.startedAt) / 1e6) - this.scheduledCount
    if (due > 0) this.share(due)
    this.publishers.forEach((p, i) => this.feed(p, i, now))
  }

  /** Spreads `due` messages over the publishers, starting where the last tick stopped. */
  private share (due: number): void {
    this.scheduledCount += due
    const n = this.publishers.length
    const base = Math.floor(due / n)
    const extra = due % n
    for (let k = 0; k < n; k++) {
      const i = (this.nextPublisher + k) % n
      this.backlog[i]! += base + (k < extra ? 1 : 0)
    }
    this.nextPublisher = (this.nextPublisher + extra) % n
  }

  private feed (p: Publisher, i: number, now: number): void {
    let backlog = this.backlog[i]!
    if (p.done) backlog = 0
    // The open loop ignores the socket's small high-water mark (a late send
    // is what it measures) but stops at MAX_BUFFERED so memory stays bounded.
    while (backlog > 0 && p.client.usable && p.client.buffered < MAX_BUFFERED) {
      const sent = p.send(backlog, now)
      if (sent === 0) break
      backlog -= sent
    }
    if (backlog > this.maxBacklog) {
      this.skipped += backlog - this.maxBacklog
      backlog = this.maxBacklog
    }
    this.backlog[i] = backlog
  }
}

/**
 * One viewer of a trace (an HTTP stream, the trace file), behind a bounded
 * queue. Events go straight to the viewer's stream while it keeps up; when
 * its buffer is full they wait in the queue (at most `maxEvents` and
 * `maxBytes`); past that they are dropped and counted, and the viewer is
 * told how many once it catches up. A viewer that stays stalled for
 * `stallMs` is cut off with a last line saying how many it lost. So a slow
 * viewer never slows the traced client nor grows the gateway's memory: the
 * gateway holds at most the queue plus its stream's high-water mark.
 */

/** Where a subscriber's lines go: an HTTP response, or the rotating file. */
export interface Outlet {
  /** False when the outlet's buffer is full: wait for `onDrain`. */
  write (chunk: string): boolean
  onDrain (callback: () => void): void
  /** Writes `last` (if any) and ends; a stream not done within a grace period is destroyed. */
  end (last?: string): void
}

export interface QueueLimits {
  maxEvents: number
  maxBytes: number
  /** Milliseconds a viewer may stay stalled before it is cut off; undefined: never (the file). */
  stallMs: number | undefined
}

/** How lines are framed: NDJSON, or Server-Sent Events. */
export type Framing = 'ndjson' | 'sse'

export function frame (framing: Framing, json: string): string {
  return framing === 'sse' ? `data: ${json}\n\n` : `${json}\n`
}

export class Subscriber {
  readonly framing: Framing
  readonly wantsText: boolean
  /** Who is watching, for the trace list: `127.0.0.1 (ndjson)`, `file`. */
  readonly label: string
  private readonly outlet: Outlet
  private readonly limits: QueueLimits
  private queue: string[] = []
  private queuedBytes = 0
  private congested = false
  private stalledSince = 0
  /** Dropped since the viewer was last told. */
  private droppedUntold = 0
  /** Dropped in all. */
  dropped = 0
  delivered = 0
  closed = false
  /** The trace file: one subscriber for every trace, which a trace's end must not close. */
  shared = false
  onClosed: ((subscriber: Subscriber, why: 'cut_off' | 'ended') => void) | undefined

  constructor (outlet: Outlet, framing: Framing, limits: QueueLimits, label: string, wantsText = false) {
    this.outlet = outlet
    this.framing = framing
    this.limits = limits
    this.label = label
    this.wantsText = wantsText
  }

  /** Offers one event (its JSON); never blocks, never queues past the limits. */
  push (json: string, now: number): void {
    if (this.closed) return
    if (!this.congested) {
      this.send(json, now)
      return
    }
    if (this.limits.stallMs !== undefined && now - this.stalledSince > this.limits.stallMs) {
      this.dropOne()
      this.cutOff()
      return
    }
    if (this.queue.length >= this.limits.maxEvents || this.queuedBytes + json.length > this.limits.maxBytes) {
      this.dropOne()
      return
    }
    this.queue.push(json)
    this.queuedBytes += json.length
  }

  get queued (): number {
    return this.queue.length
  }

  /** Ends the stream with `last` (the trace's end event), after what is queued; a shared one only gets `last`. */
  end (last: string | undefined): void {
    if (this.shared) {
      if (last !== undefined) this.push(last, performance.now())
      return
    }
    if (this.closed) return
    this.closed = true
    const tail = this.queue.map((json) => frame(this.framing, json)).join('') + this.droppedNotice() +
      (last === undefined ? '' : frame(this.framing, last))
    this.queue = []
    this.outlet.end(tail === '' ? undefined : tail)
    this.onClosed?.(this, 'ended')
  }

  /** The viewer went away (its socket closed): forget it. */
  gone (): void {
    if (this.closed) return
    this.closed = true
    this.queue = []
    this.onClosed?.(this, 'ended')
  }

  private send (json: string, now: number): void {
    const notice = this.droppedNotice()
    const ok = this.outlet.write(notice + frame(this.framing, json))
    this.delivered++
    if (!ok) this.stall(now)
  }

  private stall (now: number): void {
    this.congested = true
    this.stalledSince = now
    this.outlet.onDrain(this.onDrain)
  }

  private readonly onDrain = (): void => {
    if (this.closed) return
    this.congested = false
    let chunk = ''
    for (const json of this.queue) chunk += frame(this.framing, json)
    this.delivered += this.queue.length
    this.queue = []
    this.queuedBytes = 0
    chunk += this.droppedNotice()
    if (chunk !== '' && !this.outlet.write(chunk)) this.stall(performance.now())
  }

  private dropOne (): void {
    this.dropped++
    this.droppedUntold++
  }

  /** A line telling the viewer how many events it lost since it was last told, or ''. */
  private droppedNotice (): string {
    if (this.droppedUntold === 0) return ''
    const line = frame(this.framing, JSON.stringify({ type: 'dropped', dir: 'gateway', count: this.droppedUntold, total: this.dropped, detail: 'the viewer did not keep up: events lost' }))
    this.droppedUntold = 0
    return line
  }

  private cutOff (): void {
    this.closed = true
    const last = JSON.stringify({
      type: 'cut_off',
      dir: 'gateway',
      dropped: this.dropped,
      detail: `viewer stalled for more than ${this.limits.stallMs ?? 0} ms: cut off after ${this.dropped} events lost`
    })
    this.queue = []
    this.droppedUntold = 0
    this.outlet.end(frame(this.framing, last))
    this.onClosed?.(this, 'cut_off')
  }
}

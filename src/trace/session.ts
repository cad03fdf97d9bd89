/**
 * One running trace: its filter, its viewers (each behind a bounded queue),
 * the connections it follows, and its end (a duration, a stop request, its
 * last viewer leaving, or the gateway closing). Events reach it from the
 * connections it watches (watch.ts); it numbers them and hands each viewer
 * one line.
 */
import { describeFilter, TraceFilter } from './filters.js'
import type { TraceFilterSpec } from './filters.js'
import { describeEvent } from './format.js'
import { TraceEvent } from './event.js'
import type { Subscriber } from './subscriber.js'

/** Who asked for a trace: the admin client's address, and the name of its token if it used one. */
export interface Requester {
  address: string
  token: string | undefined
}

export interface SessionSettings {
  /** Bytes of each PUBLISH payload shown; 0: sizes only. */
  payloadBytes: number
  durationMs: number
  /** Runs on without viewers (into the trace file) until its duration or a stop. */
  detached: boolean
}

export type EndReason = 'duration' | 'stopped' | 'viewer_gone' | 'viewer_cut_off' | 'connection_closed' | 'gateway_closing'

/** How many "not traced: limit" events a trace gets before it only counts them. */
const LIMIT_EVENTS = 10

export class TraceSession {
  readonly id: number
  readonly filter: TraceFilter
  readonly settings: SessionSettings
  readonly by: Requester
  readonly startedAt = Date.now()
  readonly endsAt: number
  /** Connections this trace follows now, and all it followed. */
  readonly connections = new Set<number>()
  tracedTotal = 0
  /** Matching connections not traced because of --max-traced-connections. */
  skipped = 0
  private readonly subscribers = new Set<Subscriber>()
  private seq = 0
  /** Events lost by viewers that have left. */
  private droppedByGone = 0
  ended: EndReason | undefined
  timer: NodeJS.Timeout | undefined

  constructor (id: number, spec: TraceFilterSpec, settings: SessionSettings, by: Requester) {
    this.id = id
    this.filter = new TraceFilter(spec)
    this.settings = settings
    this.by = by
    this.endsAt = this.startedAt + settings.durationMs
  }

  get description (): string {
    return describeFilter(this.filter.spec)
  }

  /** Viewers that are not the shared trace file. */
  get viewers (): number {
    let n = 0
    for (const s of this.subscribers) if (s.label !== 'file') n++
    return n
  }

  get events (): number {
    return this.seq
  }

  add (subscriber: Subscriber): void {
    this.subscribers.add(subscriber)
  }

  remove (subscriber: Subscriber): void {
    if (this.subscribers.delete(subscriber)) this.droppedByGone += subscriber.dropped
  }

  /** The event that opens every trace. */
  startEvent (): TraceEvent {
    return new TraceEvent({
      type: 'trace_start',
      dir: 'gateway',
      filter: this.description,
      criteria: this.filter.spec,
      payloadBytes: this.settings.payloadBytes,
      durationMs: this.settings.durationMs,
      detached: this.settings.detached,
      by: this.by.token === undefined ? this.by.address : `${this.by.address} (token ${this.by.token})`
    })
  }

  emit (event: TraceEvent): void {
    if (this.ended !== undefined) return
    const json = this.stamp(event)
    let text: string | undefined
    const now = performance.now()
    for (const subscriber of this.subscribers) {
      if (!subscriber.wantsText) {
        subscriber.push(json, now)
        continue
      }
      text ??= `${json.slice(0, -1)},"text":${JSON.stringify(describeEvent(JSON.parse(json) as Record<string, unknown>))}}`
      subscriber.push(text, now)
    }
  }

  /** A matching connection left untraced: said for the first few, counted for all. */
  limitReached (conn: number, max: number): void {
    this.skipped++
    if (this.skipped > LIMIT_EVENTS) return
    const more = this.skipped === LIMIT_EVENTS ? ' (further ones are only counted)' : ''
    this.emit(new TraceEvent({ type: 'limit', dir: 'gateway', conn, detail: `connection #${conn} matches, but ${max} connections are traced already (--max-traced-connections): not traced${more}` }))
  }

  /** Ends the trace: every viewer gets what is queued, then the end event. */
  end (reason: EndReason): void {
    if (this.ended !== undefined) return
    clearTimeout(this.timer)
    const last = this.stamp(new TraceEvent({
      type: 'trace_end',
      dir: 'gateway',
      reason,
      events: this.seq + 1,
      connections: this.tracedTotal,
      skipped: this.skipped,
      dropped: this.dropped
    }))
    this.ended = reason
    for (const subscriber of [...this.subscribers]) {
      subscriber.end(subscriber.wantsText ? `${last.slice(0, -1)},"text":${JSON.stringify(describeEvent(JSON.parse(last) as Record<string, unknown>))}}` : last)
    }
    this.subscribers.clear()
  }

  /** Events lost by this trace's viewers, in all. */
  get dropped (): number {
    let n = this.droppedByGone
    for (const s of this.subscribers) n += s.dropped
    return n
  }

  /** What the trace list shows. */
  summary (): Record<string, unknown> {
    return {
      id: this.id,
      filter: this.description,
      criteria: this.filter.spec,
      startedAt: new Date(this.startedAt).toISOString(),
      endsAt: new Date(this.endsAt).toISOString(),
      by: this.by,
      payloadBytes: this.settings.payloadBytes,
      detached: this.settings.detached,
      connections: [...this.connections],
      tracedTotal: this.tracedTotal,
      skipped: this.skipped,
      events: this.seq,
      viewers: [...this.subscribers].map((s) => ({ viewer: s.label, delivered: s.delivered, queued: s.queued, dropped: s.dropped }))
    }
  }

  private stamp (event: TraceEvent): string {
    this.seq++
    return `{"trace":${this.id},"seq":${this.seq},${event.tail}`
  }
}

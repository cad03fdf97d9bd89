/**
 * A trace event: what happened, on which connection, which way, and when.
 *
 * `mono` is a monotonic clock (performance.now(), milliseconds since the
 * process started, to the microsecond): differences between events are
 * exact whatever the wall clock does; `time` is the wall clock, to match log
 * lines. `dir` is `client->broker` and `broker->client` for MQTT packets,
 * `client->gateway` and `gateway->client` for WebSocket control frames
 * (which end at the gateway), `gateway` for what the gateway itself saw or
 * did (the handshake, backpressure, takeover, the close).
 *
 * An event is built once per connection and serialized once, whatever the
 * number of traces that watch it; each trace adds its own id and sequence.
 */

export type Direction = 'client->broker' | 'broker->client' | 'client->gateway' | 'gateway->client' | 'gateway'

export interface EventBody {
  type: string
  dir: Direction
  conn?: number
  client?: string | null
  [field: string]: unknown
}

/** A moment, on both clocks. */
export interface Instant {
  mono: number
  time: string
}

/** Now; or the wall-clock time of an earlier monotonic instant `mono`. */
export function instant (mono = performance.now()): Instant {
  return { mono: Math.round(mono * 1000) / 1000, time: new Date(Date.now() - (performance.now() - mono)).toISOString() }
}

export class TraceEvent {
  readonly body: EventBody & Instant
  private serialized: string | undefined

  /** `at`: when it happened (now by default); events of one moment share it. */
  constructor (body: EventBody, at: Instant = instant()) {
    // Field order: when and which connection first, then what.
    this.body = { ...at, ...body }
  }

  /** The body as JSON, without the opening brace: each trace prefixes its own fields. */
  get tail (): string {
    this.serialized ??= JSON.stringify(this.body).slice(1)
    return this.serialized
  }
}

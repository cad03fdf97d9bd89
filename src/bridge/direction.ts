/**
 * One direction of a connection's traffic, seen from the side it writes to:
 * towards the broker, or towards the client. The same class serves both.
 *
 * Writes are corked on the first write of an event-loop turn and uncorked
 * once at its end (the cure for stop-and-wait: one writev per socket per
 * turn). After each write the sink's buffer is held against the high-water
 * mark; past it the direction is slow until the sink drains, and its host
 * stops reading whatever feeds it [backpressure is one visible line].
 */
import type { WriteSink } from '../io/sink.js'

/** What a direction writes to: a socket, an in-process stream, or a client channel. */
export type DirectionSink = WriteSink

export interface DirectionHost {
  /** Asks for `flushTurn()` at the end of this turn (once per turn, however often asked). */
  scheduleFlush (): void
  /** The sink's buffer went over the high-water mark. */
  onSlow (direction: Direction): void
  /** The sink drained below it again. */
  onDrained (direction: Direction): void
}

const kDirection = Symbol('direction')
type Tagged = DirectionSink & { [kDirection]?: Direction }

export class Direction {
  /** Who reads from this direction's sink: its buffer filling means that side is slow. */
  readonly towards: 'client' | 'broker'
  private readonly host: DirectionHost
  private readonly highWaterMark: number
  private sink: DirectionSink | undefined
  private corked = false
  /** The sink's buffer is over the high-water mark and has not drained yet. */
  slow = false

  constructor (towards: 'client' | 'broker', host: DirectionHost, highWaterMark: number) {
    this.towards = towards
    this.host = host
    this.highWaterMark = highWaterMark
  }

  /** The sink, once known (the broker is connected late with --upstream-strategy hash). */
  attach (sink: DirectionSink): void {
    this.sink = sink
    ;(sink as Tagged)[kDirection] = this
  }

  /** Call before writing to the sink: corks it on the turn's first write. */
  cork (): void {
    if (this.corked || this.sink === undefined) return
    this.corked = true
    this.sink.cork()
    this.host.scheduleFlush()
  }

  /** Call after writing to the sink: notices a buffer over the mark. */
  checkBuffer (): void {
    const sink = this.sink
    if (this.slow || sink === undefined || sink.writableLength <= this.highWaterMark) return
    this.slow = true
    sink.once('drain', Direction.drained)
    this.host.onSlow(this)
  }

  /** The end of the turn: what was batched goes out. */
  flush (): void {
    if (!this.corked) return
    this.corked = false
    this.sink?.uncork()
  }

  /** One 'drain' listener for every direction, not a closure each; `this` is the sink. */
  private static drained (this: Tagged): void {
    const direction = this[kDirection]
    if (direction === undefined) return
    direction.slow = false
    direction.host.onDrained(direction)
  }
}

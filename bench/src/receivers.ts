/**
 * What all subscribers of a run received: counts, loss bookkeeping per
 * (subscriber, publisher) pair, and end-to-end latency from the send time in
 * each payload.
 */
import type { Histogram } from './latency.js'
import { createHistogram, recordMicros } from './latency.js'
import { PAYLOAD_HEADER_SIZE, PUBLISHER_AT, SENT_AT, SEQ_AT } from './payload.js'
import type { Publisher } from './publisher.js'
import { Arrival, SeqTrack } from './seq-track.js'

export class Receivers {
  /** Distinct messages received, summed over subscribers. */
  received = 0
  duplicates = 0
  outOfOrder = 0
  /** Payload bytes of the distinct messages. */
  bytes = 0
  /** PUBLISHes that did not carry a bench payload of this run. */
  foreign = 0
  /** Time of the last distinct arrival, µs. */
  lastArrival = 0
  readonly latency: Histogram = createHistogram()
  private readonly publishers: readonly Publisher[]
  private readonly tracks: (SeqTrack | undefined)[][]

  constructor (publishers: readonly Publisher[], subscribers: number) {
    this.publishers = publishers
    this.tracks = Array.from({ length: subscribers }, () => [])
  }

  /** Handles one PUBLISH for subscriber `sub`; `payloadAt` is -1 when its header was not readable. */
  onPublish (sub: number, body: Buffer, payloadAt: number, payloadLength: number, nowUs: number): void {
    if (payloadAt < 0 || payloadLength < PAYLOAD_HEADER_SIZE) {
      this.foreign++
      return
    }
    const index = body.readUInt32BE(payloadAt + PUBLISHER_AT)
    const publisher = this.publishers[index]
    if (publisher === undefined) {
      this.foreign++
      return
    }
    const arrival = this.track(sub, index).record(body.readUInt32BE(payloadAt + SEQ_AT))
    if (arrival === Arrival.DUPLICATE) {
      this.duplicates++
      return
    }
    if (arrival === Arrival.OUT_OF_ORDER) this.outOfOrder++
    this.received++
    this.bytes += payloadLength
    this.lastArrival = nowUs
    publisher.delivered++
    recordMicros(this.latency, nowUs - body.readDoubleBE(payloadAt + SENT_AT))
  }

  private track (sub: number, publisher: number): SeqTrack {
    const row = this.tracks[sub]!
    let track = row[publisher]
    if (track === undefined) {
      track = new SeqTrack()
      row[publisher] = track
    }
    return track
  }

  /** Deliveries the subscribers should have seen for what was sent. */
  expected (): number {
    let expected = 0
    for (const p of this.publishers) expected += p.sent * p.fanout
    return expected
  }
}

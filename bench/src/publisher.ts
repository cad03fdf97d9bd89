/**
 * One publishing connection's accounting: sequence numbers, the end-to-end
 * window (messages sent but not yet seen by every subscriber meant to get
 * them), packet ids at QoS 1 and 2, and the acks that free them.
 */
import { PacketType } from '../../src/wire/index.js'
import type { BenchClient } from './client.js'
import type { QoS } from './mqtt-encode.js'
import type { PublishBatch } from './publish-batch.js'

const IDLE = 0
const AWAITING_ACK = 1
const AWAITING_COMP = 2

/** Most messages in one socket write, so one write never grows without bound. */
export const MAX_BYTES_PER_WRITE = 1024 * 1024

export class Publisher {
  readonly index: number
  readonly client: BenchClient
  readonly qos: QoS
  /** Subscribers that receive each of this publisher's messages. */
  readonly fanout: number
  /** Messages this publisher may send in all (count mode), else Infinity. */
  readonly limit: number
  sent = 0
  /** Deliveries subscribers counted for this publisher (fanout per message). */
  delivered = 0
  /** Messages written off as lost after a stall, so the window moves on. */
  forgiven = 0
  /** QoS 1/2 flows completed, and acks that carried a failure reason. */
  acked = 0
  rejected = 0
  private readonly batch: PublishBatch
  private readonly maxPerWrite: number
  private readonly slots: Uint8Array
  private readonly ids: Uint16Array
  private readonly idLimit: number
  private nextId = 1
  private idsInUse = 0

  constructor (index: number, client: BenchClient, batch: PublishBatch, qos: QoS, fanout: number, limit: number) {
    this.index = index
    this.client = client
    this.batch = batch
    this.qos = qos
    this.fanout = fanout
    this.limit = limit
    this.maxPerWrite = Math.max(1, Math.floor(MAX_BYTES_PER_WRITE / batch.messageSize))
    this.slots = new Uint8Array(qos > 0 ? 65_536 : 0)
    this.ids = new Uint16Array(qos > 0 ? this.maxPerWrite : 0)
    // [MQTT-3.3.4-7] a v5 client must not exceed the server's Receive Maximum.
    this.idLimit = Math.min(client.receiveMaximum, 65_535)
  }

  /** Messages the subscribers have all seen (or that were written off), as far as the window goes. */
  get completed (): number {
    if (this.fanout > 0) return Math.floor(this.delivered / this.fanout) + this.forgiven
    return (this.qos > 0 ? this.acked + this.rejected : this.sent) + this.forgiven
  }

  get outstanding (): number {
    // Late deliveries of written-off messages could push `completed` past `sent`.
    return Math.max(0, this.sent - this.completed)
  }

  get idsFree (): boolean {
    return this.idsInUse === 0
  }

  /** Most messages this publisher can have in flight with `window`. */
  capacity (window: number): number {
    return this.qos > 0 ? Math.min(window, this.idLimit) : window
  }

  /** How many more messages may go now within `window` and the count limit. */
  room (window: number): number {
    let room = Math.min(window - this.outstanding, this.limit - this.sent)
    if (this.qos > 0) room = Math.min(room, this.idLimit - this.idsInUse)
    return room > 0 ? room : 0
  }

  get done (): boolean {
    return this.sent >= this.limit
  }

  /** Writes up to `count` messages stamped `nowUs` in one socket write; returns how many went. */
  send (count: number, nowUs: number): number {
    let n = Math.min(count, this.maxPerWrite, this.limit - this.sent)
    if (this.qos > 0) n = this.takeIds(n)
    if (n <= 0) return 0
    const ids = this.qos > 0 ? this.ids.subarray(0, n) : undefined
    this.client.writeEncoded(this.batch.build(n, this.sent, ids, nowUs))
    this.sent += n
    return n
  }

  /** Reserves up to `n` consecutive free packet ids into `this.ids`; returns how many. */
  private takeIds (n: number): number {
    let taken = 0
    while (taken < n && this.idsInUse < this.idLimit && this.slots[this.nextId] === IDLE) {
      this.slots[this.nextId] = AWAITING_ACK
      this.ids[taken++] = this.nextId
      this.idsInUse++
      this.nextId = this.nextId === 65_535 ? 1 : this.nextId + 1
    }
    return taken
  }

  /** PUBACK / PUBREC / PUBCOMP for one of this publisher's packet ids. */
  onAck (type: number, packetId: number, reason: number): void {
    const state = this.slots[packetId]
    if (state === undefined || state === IDLE) return
    if (type === PacketType.PUBREC && reason < 0x80) {
      this.slots[packetId] = AWAITING_COMP
      return
    }
    this.slots[packetId] = IDLE
    this.idsInUse--
    if (reason >= 0x80) this.rejected++
    else this.acked++
  }
}

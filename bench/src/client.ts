/**
 * One bench connection: a wire plus just enough of an MQTT client to connect,
 * subscribe, acknowledge and notice disconnects. Publishing is done by the
 * caller with pre-encoded bytes (`writeEncoded`); received PUBLISHes and the
 * publisher-side acks go to a `ClientRole`. Acks the client owes are queued
 * during one socket read and written together after it.
 */
import { PacketType } from '../../src/wire/index.js'
import { AckByte, DISCONNECT, PINGREQ, encodeAck, encodeConnect, encodeSubscribe } from './mqtt-encode.js'
import type { ProtocolVersion, Subscription } from './mqtt-encode.js'
import { readAck, readConnack, readPublishStart, readSuback } from './mqtt-read.js'
import type { Connack, PublishStart } from './mqtt-read.js'
import { PacketSplitter } from './mqtt-split.js'
import { PAYLOAD_HEADER_SIZE, nowMicros } from './payload.js'
import type { Target } from './target.js'
import { openWire } from './wire.js'
import type { Wire } from './wire.js'

export interface ClientRole {
  /**
   * A PUBLISH arrived in a read that started at `nowUs`. `payloadAt` is where
   * its payload starts in `body` (-1 when the bench header is not readable);
   * `payloadLength` is the whole payload's size.
   */
  onPublish?: (client: BenchClient, body: Buffer, payloadAt: number, payloadLength: number, nowUs: number) => void
  /** PUBACK, PUBREC or PUBCOMP for a packet id this client published. */
  onAck?: (client: BenchClient, type: number, packetId: number, reason: number) => void
  /** Called after each socket read, once its packets are handled. */
  afterRead?: (client: BenchClient) => void
  /** The connection ended without `close()` being called. */
  onLost?: (client: BenchClient, reason: string) => void
}

export interface ClientOptions {
  target: Target
  /** Put all packets of one write in one WebSocket frame. */
  batch: boolean
  version: ProtocolVersion
  clientId: string
  keepalive: number
  username?: string
  password?: string
  timeoutMs: number
}

export class ClientError extends Error {
  readonly code = 'BENCH_CLIENT'
}

type Waiter = { resolve: () => void, reject: (err: Error) => void, timer: NodeJS.Timeout }

export class BenchClient {
  readonly wire: Wire
  readonly version: ProtocolVersion
  role: ClientRole = {}
  /** Server's Receive Maximum (v5), 65,535 otherwise. */
  receiveMaximum = 65_535
  /** µs from the start of the TCP connect to the CONNACK. */
  handshakeUs = 0
  closing = false
  closed = false
  private readonly splitter: PacketSplitter
  private readonly publishStart: PublishStart = { packetId: 0, payloadOffset: 0 }
  private acks: Buffer[] = []
  private readNow = 0
  private connackWaiter: Waiter | undefined
  private connack: Connack | undefined
  private subackWaiter: Waiter | undefined
  private failure: string | undefined

  private constructor (wire: Wire, version: ProtocolVersion) {
    this.wire = wire
    this.version = version
    this.splitter = new PacketSplitter((b, body, start, available, length) => this.dispatch(b, body, start, available, length))
    wire.onMqtt = bytes => this.splitter.push(bytes)
    wire.onChunk = chunk => this.onData(chunk)
    wire.socket.on('error', err => { this.failure ??= err.message })
    wire.socket.on('close', () => this.onClose())
  }

  /** Opens the wire, sends CONNECT and waits for a successful CONNACK. */
  static async open (options: ClientOptions): Promise<BenchClient> {
    const started = nowMicros()
    const { wire, head } = await openWire(options.target, options.batch, options.timeoutMs)
    const client = new BenchClient(wire, options.version)
    try {
      await client.connect(options, head)
    } catch (err) {
      wire.socket.destroy()
      throw err
    }
    client.handshakeUs = nowMicros() - started
    return client
  }

  private async connect (options: ClientOptions, head: Buffer): Promise<void> {
    const connected = this.wait('CONNACK', options.timeoutMs, w => { this.connackWaiter = w })
    const fields = { clientId: options.clientId, version: options.version, keepalive: options.keepalive, clean: true }
    this.wire.send([encodeConnect({ ...fields, username: options.username, password: options.password })])
    if (head.length > 0) this.onData(head)
    await connected
    const connack = this.connack
    if (connack === undefined || connack.code !== 0) throw new ClientError(`CONNACK refused the connection: code ${connack?.code ?? '?'}`)
    this.receiveMaximum = connack.receiveMaximum
  }

  /** Subscribes and waits for a SUBACK granting every filter. */
  async subscribe (subscriptions: readonly Subscription[], timeoutMs: number): Promise<void> {
    const acked = this.wait('SUBACK', timeoutMs, w => { this.subackWaiter = w })
    this.wire.send([encodeSubscribe(1, subscriptions, this.version)])
    await acked
  }

  /** Writes chunks already encoded for this wire (see PublishBatch) as one write(v); false when the socket buffer is full. */
  writeEncoded (chunks: readonly Buffer[]): boolean {
    const socket = this.wire.socket
    if (chunks.length === 1) return socket.write(chunks[0]!)
    socket.cork()
    for (const chunk of chunks) socket.write(chunk)
    socket.uncork()
    return !socket.writableNeedDrain
  }

  /** Queues an acknowledgement; it goes out after the current read (or on `flush`). */
  queueAck (firstByte: number, packetId: number): void {
    this.acks.push(encodeAck(firstByte, packetId))
  }

  flush (): void {
    if (this.acks.length === 0 || this.closed) return
    this.wire.send(this.acks)
    this.acks = []
  }

  ping (): void {
    if (!this.closed && !this.closing) this.wire.send([PINGREQ])
  }

  /** Bytes waiting in the socket's user-space write buffer. */
  get buffered (): number {
    return this.wire.socket.writableLength
  }

  /** Connected and not being closed by us. */
  get usable (): boolean {
    return !this.closed && !this.closing
  }

  /** Usable and its socket buffer is under the high-water mark. */
  get writable (): boolean {
    return this.usable && !this.wire.socket.writableNeedDrain
  }

  /** Ends the session cleanly (DISCONNECT, WebSocket close, FIN); resolves when the socket is closed. */
  close (timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.closing = true
    return new Promise(resolve => {
      const timer = setTimeout(() => this.wire.socket.destroy(), timeoutMs)
      this.wire.socket.once('close', () => {
        clearTimeout(timer)
        resolve()
      })
      if (this.wire.socket.writable) {
        this.flush()
        this.wire.send([DISCONNECT])
        this.wire.end()
      } else {
        this.wire.socket.destroy()
      }
    })
  }

  /** Why the connection failed or was lost, when it was. */
  get failureReason (): string | undefined {
    return this.failure
  }

  private wait (what: string, timeoutMs: number, register: (w: Waiter) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new ClientError(`no ${what} within ${timeoutMs} ms`)), timeoutMs)
      register({ resolve, reject, timer })
    })
  }

  private settle (waiter: Waiter | undefined, err?: Error): void {
    if (waiter === undefined) return
    clearTimeout(waiter.timer)
    if (err === undefined) waiter.resolve()
    else waiter.reject(err)
  }

  private onData (chunk: Buffer): void {
    this.readNow = nowMicros()
    try {
      this.wire.feed(chunk)
    } catch (err) {
      this.failure ??= err instanceof Error ? err.message : String(err)
      this.wire.socket.destroy()
      return
    }
    this.flush()
    this.role.afterRead?.(this)
  }

  private onClose (): void {
    this.closed = true
    const reason = this.failure ?? (this.wire.closeCode === undefined ? 'connection closed' : `WebSocket close ${this.wire.closeCode}`)
    if (this.connackWaiter !== undefined || this.subackWaiter !== undefined) {
      const err = new ClientError(reason)
      this.settle(this.connackWaiter, err)
      this.settle(this.subackWaiter, err)
      this.connackWaiter = this.subackWaiter = undefined
    }
    if (!this.closing) this.role.onLost?.(this, reason)
  }

  private dispatch (firstByte: number, body: Buffer, start: number, available: number, length: number): void {
    const type = firstByte >> 4
    if (type === PacketType.PUBLISH) this.onPublish(firstByte, body, start, available, length)
    else if (type === PacketType.PUBACK || type === PacketType.PUBREC || type === PacketType.PUBCOMP) this.onPublisherAck(type, body, start, available)
    else if (type === PacketType.PUBREL) this.queueAck(AckByte.PUBCOMP, body.readUInt16BE(start))
    else this.onControl(type, body, start, available, length)
  }

  private onPublish (firstByte: number, body: Buffer, start: number, available: number, length: number): void {
    const at = this.publishStart
    readPublishStart(firstByte, body, start, available, this.version, at)
    const qos = (firstByte >> 1) & 3
    // [MQTT-4.3.2-1] QoS 1 is acknowledged with PUBACK; [MQTT-4.3.3-1] QoS 2 with PUBREC.
    if (qos === 1) this.queueAck(AckByte.PUBACK, at.packetId)
    else if (qos === 2) this.queueAck(AckByte.PUBREC, at.packetId)
    // The payload header must be in the bytes the splitter kept (it keeps the first 4 KiB).
    const readable = at.payloadOffset >= 0 && at.payloadOffset + PAYLOAD_HEADER_SIZE <= start + available
    this.role.onPublish?.(this, body, readable ? at.payloadOffset : -1, length - (at.payloadOffset - start), this.readNow)
  }

  private onPublisherAck (type: number, body: Buffer, start: number, available: number): void {
    const { packetId, reason } = readAck(body, start, available)
    // A PUBREC with a failure reason ends the QoS 2 flow; otherwise release the message.
    if (type === PacketType.PUBREC && reason < 0x80) this.queueAck(AckByte.PUBREL, packetId)
    this.role.onAck?.(this, type, packetId, reason)
  }

  private onControl (type: number, body: Buffer, start: number, available: number, length: number): void {
    if (type === PacketType.CONNACK) {
      this.connack = readConnack(body, start, available, this.version)
      this.settle(this.connackWaiter)
      this.connackWaiter = undefined
    } else if (type === PacketType.SUBACK) {
      this.onSuback(body, start, available)
    } else if (type === PacketType.DISCONNECT) {
      this.failure ??= `server DISCONNECT, reason ${length > 0 ? body[start] ?? 0 : 0}`
    } else if (type !== PacketType.PINGRESP) {
      this.failure ??= `unexpected packet type ${type}`
      this.wire.socket.destroy()
    }
  }

  private onSuback (body: Buffer, start: number, available: number): void {
    const { codes } = readSuback(body, start, available, this.version)
    const refused = codes.find(code => code >= 0x80)
    this.settle(this.subackWaiter, refused === undefined ? undefined : new ClientError(`SUBACK refused a filter: code 0x${refused.toString(16)}`))
    this.subackWaiter = undefined
  }
}

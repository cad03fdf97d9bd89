/**
 * The permessage-deflate channel (RFC 7692, opt-in): `ws` runs the
 * connection — its receiver inflates and checks frames, its sender deflates —
 * and this channel speaks to it through its public API only. Pings are
 * answered by the bridge, as on the lean path (`autoPong` is off), so the
 * same coalescing and backpressure apply to control frames.
 *
 * Backpressure: what waits to go out is `ws.bufferedAmount` (the socket's
 * buffer plus messages still being compressed). A drain is reported when a
 * send completes, or the socket drains, with that amount back under the
 * high-water mark: no polling.
 */
import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { SocketError } from '../errors.js'
import type { CloseReason } from '../errors.js'
import type { WriteSink } from '../io/sink.js'
import type { ChannelSink, ClientChannel } from './channel.js'

/** ws's error codes [ws/lib/receiver.js] and what the gateway calls them. */
function reasonOf (code: string | undefined): CloseReason {
  switch (code) {
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
    case 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH':
      return 'message_too_big'
    case 'WS_ERR_INVALID_UTF8':
      return 'invalid_utf8'
    default:
      return 'protocol_error'
  }
}

const ABNORMAL_CLOSURE = 1006

export class DeflateChannel extends EventEmitter implements ClientChannel, WriteSink {
  readonly rawSocket = undefined
  readonly writeSide: WriteSink = this
  lastInbound = performance.now()
  maxMessageSize: number
  private readonly ws: WebSocket
  /** The socket `ws` runs on: ours, handed to `ws` at the upgrade; watched for 'drain' only. */
  private readonly socket: Socket
  private readonly highWaterMark: number
  private sink: ChannelSink | undefined
  private waitingForDrain = false

  constructor (ws: WebSocket, socket: Socket, maxMessageSize: number, highWaterMark: number) {
    super()
    this.ws = ws
    this.socket = socket
    this.maxMessageSize = maxMessageSize
    this.highWaterMark = highWaterMark
  }

  start (sink: ChannelSink): void {
    this.sink = sink
    const ws = this.ws
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary))
    ws.on('ping', (payload: Buffer) => { this.lastInbound = performance.now(); sink.onPing(payload) })
    ws.on('pong', () => { this.lastInbound = performance.now(); sink.onPong() })
    ws.on('error', (err: Error & { code?: string }) => sink.onFrameError(reasonOf(err.code), err.message))
    ws.on('close', (code: number, reason: Buffer) => this.onClose(code, reason))
    this.socket.on('drain', () => this.checkDrained())
  }

  private onMessage (data: Buffer, isBinary: boolean): void {
    this.lastInbound = performance.now()
    const sink = this.sink as ChannelSink
    // [MQTT-6.0.0-1] MQTT travels in binary frames only.
    if (!isBinary) return sink.onFrameError('text_frame', 'text message received; MQTT needs binary frames')
    // ws holds messages up to --max-message-size; before CONNACK the limit is smaller.
    if (data.length > this.maxMessageSize) return sink.onFrameError('message_too_big', `message of ${data.length} bytes exceeds the ${this.maxMessageSize}-byte limit`)
    sink.onPayload(data, 0, data.length)
  }

  private onClose (code: number, reason: Buffer): void {
    const sink = this.sink as ChannelSink
    // ws says 1006 when no close frame came: the connection was lost.
    if (code === ABNORMAL_CLOSURE) sink.onClientError(new SocketError('ECONNRESET', 'connection lost'))
    else sink.onCloseFrame(code, reason.toString('utf8'))
    sink.onClientClose()
  }

  sendMessage (parts: readonly Buffer[], size: number): void {
    const data = parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts, size)
    this.ws.send(data, { binary: true }, this.sent)
  }

  /** One callback per channel for every send: a completed send may end a wait for drain. */
  private readonly sent = (): void => { this.checkDrained() }

  private checkDrained (): void {
    if (!this.waitingForDrain || this.writableLength > this.highWaterMark) return
    this.waitingForDrain = false
    this.emit('drain')
  }

  override once (event: string | symbol, listener: (...args: unknown[]) => void): this {
    if (event === 'drain') this.waitingForDrain = true
    return super.once(event, listener)
  }

  sendPing (): void { if (this.writable) this.ws.ping() }
  sendPong (payload: Buffer): void { if (this.writable) this.ws.pong(payload) }
  sendClose (code: number, reason: string): void { this.ws.close(code, reason) }

  // Corking is the socket's business: ws writes compressed frames when they are ready.
  cork (): void {}
  uncork (): void {}
  get writableLength (): number { return this.ws.bufferedAmount }
  get writable (): boolean { return this.ws.readyState === this.ws.OPEN }
  pause (): void { this.ws.pause() }
  resume (): void { this.ws.resume() }
  // After the close handshake ws closes the TCP connection itself.
  end (): void {}
  destroy (): void { this.ws.terminate() }
  destroySoon (): void { this.socket.destroySoon() }
}

/**
 * The client side of a connection at the level of WebSocket messages, as
 * `ws` separates its Receiver and Sender from the socket: the bridge hands a
 * channel whole MQTT packets to send as one binary message and control
 * frames to send, and hears back unmasked MQTT bytes, control frames and
 * what happened to the transport. Two implementations, neither faking the
 * other: the lean frame codec on the raw socket (frame-channel.ts), and
 * permessage-deflate through `ws` (deflate-channel.ts).
 */
import type { Socket } from 'node:net'
import type { WriteSink } from '../io/sink.js'
import type { FrameSink } from './frame-reader.js'

/** What a channel tells the connection it belongs to: what its frames say, and what happened to the transport. */
export interface ChannelSink extends FrameSink {
  /** TCP FIN without a close frame. */
  onClientEnd (): void
  onClientError (err: NodeJS.ErrnoException): void
  /** The transport is closed: nothing more will come either way. */
  onClientClose (): void
}

export interface ClientChannel {
  /** Starts reading; `head` holds bytes that arrived with the upgrade request. */
  start (sink: ChannelSink, head: Buffer): void
  /** What the connection's writes go through, for corking and backpressure. */
  readonly writeSide: WriteSink
  /** The plain TCP socket under a lean channel, for reads into reused memory; undefined otherwise. */
  readonly rawSocket: Socket | undefined
  /** performance.now() of the last bytes read from the client (any frame is proof of life). */
  readonly lastInbound: number
  /** Largest message accepted; raised once the broker accepts the client. */
  maxMessageSize: number
  /** Whole MQTT packets (`size` bytes in all) as one binary message. */
  sendMessage (parts: readonly Buffer[], size: number): void
  sendPing (): void
  sendPong (payload: Buffer): void
  sendClose (code: number, reason: string): void
  readonly writable: boolean
  pause (): void
  resume (): void
  /** Ends our side after the close handshake. */
  end (): void
  destroy (): void
  /** Sends what is buffered, then closes, not waiting for the client. */
  destroySoon (): void
}

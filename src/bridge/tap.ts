/**
 * A tap on one connection's traffic, for live tracing. A bridge without a
 * tap (every bridge while no trace runs) pays one property check per chunk
 * each way and nothing else; a tap sees the bytes the bridge forwards, as it
 * forwards them, and must not keep them (they are views of reused memory).
 *
 * Lifecycle events (open, CONNECT, upstream, backpressure, takeover, close)
 * are not here: they are published on diagnostics channels (events.ts) for
 * every connection, and a trace subscribes to those.
 */

export type ControlFrameKind = 'ping' | 'pong' | 'close'

export interface ConnectionTap {
  /** Client → broker MQTT bytes as forwarded; a packet may span several calls. */
  fromClient (bytes: Buffer): void
  /** Broker → client: whole MQTT packets, `size` bytes, sent as one WebSocket message. */
  toClient (parts: readonly Buffer[], size: number): void
  /** A WebSocket control frame received from the client (`in`) or sent to it (`out`). */
  control (direction: 'in' | 'out', kind: ControlFrameKind, code?: number, reason?: string): void
}

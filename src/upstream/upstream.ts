/**
 * Where a bridge sends its bytes: a TCP broker or the embedded broker.
 * Both hand the bridge a Duplex with socket semantics (write/cork/pause,
 * 'data', 'drain', 'end' on a clean close, 'error' then 'close' otherwise).
 */
import type { Duplex } from 'node:stream'
import type { ClientEndpoint } from '../proxy-protocol/write.js'

export interface UpstreamLink {
  stream: Duplex
  /** Milliseconds the connection took to establish (0 when in-process). */
  connectMs: number
  /** Which broker took the connection (`mqtt://host:port` or `embedded`), for the logs. */
  broker: string
}

/**
 * Opens the broker connection once the client's CONNECT is known: used when
 * the broker is chosen by client id, which arrives only after the 101.
 */
export type OpenUpstream = (clientId: string, signal: AbortSignal) => Promise<UpstreamLink>

export interface Upstream {
  /** Human-readable target, for logs: `mqtt://host:port` or `embedded`. */
  readonly description: string
  /**
   * True when the broker depends on the MQTT client id: the bridge then
   * connects after the client's CONNECT instead of before the 101.
   */
  readonly routesByClientId?: boolean
  /**
   * Opens one connection for one client (`client` undefined for the
   * gateway's own health checks; `clientId` given when `routesByClientId`).
   * Rejects with an `UpstreamConnectError`.
   */
  connect (signal: AbortSignal, client?: ClientEndpoint, clientId?: string): Promise<UpstreamLink>
  close (): Promise<void>
}

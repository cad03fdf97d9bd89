/**
 * Lifecycle events of the gateway, published on `node:diagnostics_channel`.
 *
 * The bridge publishes; the logger (and any metrics or user code) subscribes.
 * Nothing is published per packet: the hot path only bumps plain counters,
 * which the close event carries.
 *
 * Channels are process-wide, so every payload names its `gateway`: a
 * subscriber that serves one gateway filters on it.
 */
import diagnostics from 'node:diagnostics_channel'
import type { CloseInitiator, CloseReason, UpgradeRejection } from './errors.js'

export interface GatewayRef {
  readonly id: number
}

export interface ConnectionOpenEvent {
  gateway: GatewayRef
  connectionId: number
  remoteAddress: string
  /** The TCP peer's port; undefined when the address came from a proxy header that gave none. */
  remotePort: number | undefined
  path: string
  subprotocol: string | undefined
  /** Milliseconds from the upgrade request to the 101 answer (includes the upstream connect). */
  handshakeMs: number
  /**
   * Milliseconds the upstream TCP connect took (0 for the embedded broker);
   * undefined when the broker is chosen by client id, after the CONNECT.
   */
  upstreamConnectMs: number | undefined
}

export interface ConnectionConnectEvent {
  gateway: GatewayRef
  connectionId: number
  clientId: string
  protocolVersion: number
  keepalive: number
}

export interface ConnectionCloseEvent {
  gateway: GatewayRef
  connectionId: number
  remoteAddress: string
  clientId: string | undefined
  protocolVersion: number | undefined
  /** CONNACK return/reason code from the broker, if one arrived. */
  connackCode: number | undefined
  /** The broker the connection was bridged to, if it got that far. */
  broker: string | undefined
  initiator: CloseInitiator
  reason: CloseReason
  /** Close code sent to the client (or received from it when it closed first). */
  closeCode: number | undefined
  detail: string | undefined
  durationMs: number
  bytesFromClient: number
  bytesToClient: number
  packetsFromClient: number
  packetsToClient: number
}

/**
 * A connection's broker was connected after its CONNECT (with
 * --upstream-strategy hash; otherwise the open event carries the connect).
 */
export interface ConnectionUpstreamEvent {
  gateway: GatewayRef
  connectionId: number
  broker: string
  /** Milliseconds the broker connect took. */
  connectMs: number
}

export interface UpgradeRejectEvent {
  gateway: GatewayRef
  reason: UpgradeRejection
  status: number
  remoteAddress: string
  path: string
  detail: string | undefined
}

export interface TakeoverEvent {
  gateway: GatewayRef
  clientId: string
  previousConnectionId: number
  connectionId: number
}

export interface BackpressureEvent {
  gateway: GatewayRef
  connectionId: number
  /** The side whose write buffer filled: its peer is paused. */
  slowSide: 'client' | 'broker'
  paused: boolean
}

export const channels = {
  open: diagnostics.channel('mqtt-ws-gateway:connection:open'),
  connect: diagnostics.channel('mqtt-ws-gateway:connection:connect'),
  upstream: diagnostics.channel('mqtt-ws-gateway:connection:upstream'),
  close: diagnostics.channel('mqtt-ws-gateway:connection:close'),
  reject: diagnostics.channel('mqtt-ws-gateway:upgrade:reject'),
  takeover: diagnostics.channel('mqtt-ws-gateway:connection:takeover'),
  backpressure: diagnostics.channel('mqtt-ws-gateway:connection:backpressure')
} as const

export interface EventMap {
  open: ConnectionOpenEvent
  connect: ConnectionConnectEvent
  upstream: ConnectionUpstreamEvent
  close: ConnectionCloseEvent
  reject: UpgradeRejectEvent
  takeover: TakeoverEvent
  backpressure: BackpressureEvent
}

export function publish<K extends keyof EventMap> (name: K, event: EventMap[K]): void {
  const channel = channels[name]
  if (channel.hasSubscribers) channel.publish(event)
}

/**
 * Subscribes to the events of one gateway. Returns the function that
 * unsubscribes.
 */
export function subscribe (gateway: GatewayRef, handlers: { [K in keyof EventMap]?: (event: EventMap[K]) => void }): () => void {
  const undo: (() => void)[] = []
  for (const name of Object.keys(handlers) as (keyof EventMap)[]) {
    const handler = handlers[name] as ((event: EventMap[keyof EventMap]) => void) | undefined
    if (handler === undefined) continue
    const listener = (message: unknown): void => {
      const event = message as EventMap[keyof EventMap]
      if (event.gateway === gateway) handler(event)
    }
    channels[name].subscribe(listener)
    undo.push(() => channels[name].unsubscribe(listener))
  }
  return () => { for (const u of undo) u() }
}

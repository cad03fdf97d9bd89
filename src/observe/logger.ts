/**
 * The log: one line when a connection opens, one when it closes (who closed
 * first, why, bytes and packets each way), one per refused upgrade and per
 * takeover. A subscriber to the lifecycle events; nothing per packet.
 */
import { pino } from 'pino'
import type { Logger } from 'pino'
import { subscribe } from '../events.js'
import type { GatewayRef } from '../events.js'
import type { LogLevel } from '../options.js'

export type { Logger }

/** `instance` (--instance-id) is a base field: on every line, those of child loggers too. */
export function createLogger (level: LogLevel, instance?: string): Logger {
  return pino({ level, base: { name: 'mqtt-ws-gateway', ...(instance === undefined ? {} : { instance }) } })
}

/** Logs `gateway`'s lifecycle events to `logger`; returns the unsubscribe function. */
export function logLifecycle (gateway: GatewayRef, logger: Logger): () => void {
  return subscribe(gateway, {
    open: (e) => logger.info({
      event: 'open',
      conn: e.connectionId,
      remote: formatEndpoint(e.remoteAddress, e.remotePort),
      path: e.path,
      subprotocol: e.subprotocol ?? null,
      handshakeMs: round(e.handshakeMs),
      upstreamConnectMs: e.upstreamConnectMs === undefined ? null : round(e.upstreamConnectMs)
    }, 'connection opened'),
    connect: (e) => logger.debug({
      event: 'connect', conn: e.connectionId, clientId: e.clientId, mqtt: e.protocolVersion, keepalive: e.keepalive
    }, 'CONNECT'),
    upstream: (e) => logger.debug({
      event: 'upstream', conn: e.connectionId, broker: e.broker, connectMs: round(e.connectMs)
    }, `broker chosen by client id: ${e.broker}`),
    close: (e) => logger.info({
      event: 'close',
      conn: e.connectionId,
      remote: e.remoteAddress,
      clientId: e.clientId ?? null,
      mqtt: e.protocolVersion ?? null,
      connack: e.connackCode ?? null,
      broker: e.broker ?? null,
      closedBy: e.initiator,
      reason: e.reason,
      code: e.closeCode ?? null,
      detail: e.detail ?? null,
      durationMs: round(e.durationMs),
      bytesIn: e.bytesFromClient,
      bytesOut: e.bytesToClient,
      packetsIn: e.packetsFromClient,
      packetsOut: e.packetsToClient
    }, `connection closed by ${e.initiator}: ${e.reason}`),
    reject: (e) => logger.warn({
      event: 'reject', remote: e.remoteAddress, path: e.path, status: e.status, reason: e.reason, detail: e.detail ?? null
    }, `upgrade refused (${e.status} ${e.reason})`),
    takeover: (e) => logger.info({
      event: 'takeover', clientId: e.clientId, previousConn: e.previousConnectionId, conn: e.connectionId
    }, 'client id connected again: previous connection closed'),
    backpressure: (e) => logger.debug({
      event: 'backpressure', conn: e.connectionId, slowSide: e.slowSide, paused: e.paused
    }, e.paused ? `${e.slowSide} is slow: pausing the other side` : `${e.slowSide} drained: resuming`)
  })
}

/** `v4:port` or `[v6]:port`; the bare address when the port is unknown (taken from a proxy header). */
export function formatEndpoint (address: string, port: number | undefined): string {
  if (port === undefined) return address
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

function round (ms: number): number {
  return Math.round(ms * 10) / 10
}

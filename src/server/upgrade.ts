/**
 * The WebSocket upgrade: every check that can refuse a client, in order of
 * cost, then the upstream connection, and only then the 101 answer.
 *
 * Opening the broker connection *before* answering 101 means a client of a
 * broker that is down gets an honest HTTP 502, instead of a WebSocket that
 * opens and closes at once (which clients retry in a tight loop).
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import { upgradeRejections } from '../errors.js'
import type { UpgradeRejection } from '../errors.js'
import { publish } from '../events.js'
import type { GatewayRef } from '../events.js'
import type { ResolvedOptions } from '../options.js'
import { UpstreamConnectError } from '../upstream/upstream.js'
import type { Upstream, UpstreamLink } from '../upstream/upstream.js'
import { AdoptedWebSocket } from './adopt.js'
import { ClientAddressResolver } from './client-address.js'
import { IpLimits } from './ip-limits.js'
import { OriginPolicy } from './origin.js'
import { DeflateClientSocket } from './deflate-socket.js'
import { rejectUpgrade } from './reject.js'
import { chooseSubprotocol } from './subprotocol.js'

/** What the upgrade handler needs from the gateway. */
export interface UpgradeHost {
  readonly gateway: GatewayRef
  readonly options: ResolvedOptions
  readonly upstream: Upstream
  readonly closing: boolean
  /** Live bridges plus upgrades in progress. */
  readonly connectionCount: number
  upgradeStarted (): void
  upgradeEnded (): void
  /** The handshake is done: bridge `client` and `link`. */
  accept (accepted: AcceptedUpgrade): void
}

export interface AcceptedUpgrade {
  client: Socket
  head: Buffer
  link: UpstreamLink
  remoteAddress: string
  remotePort: number
  path: string
  subprotocol: string | undefined
  handshakeMs: number
}

// RFC 6455 §4.2.1: a 16-byte nonce, base64-encoded.
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/

export class UpgradeHandler {
  private readonly host: UpgradeHost
  private readonly paths: ReadonlySet<string>
  private readonly wss: WebSocketServer
  private readonly origins: OriginPolicy
  readonly ipLimits: IpLimits
  private readonly addresses: ClientAddressResolver

  constructor (host: UpgradeHost) {
    this.host = host
    this.paths = new Set(host.options.paths)
    this.origins = new OriginPolicy(host.options.allowedOrigins, host.options.allowMissingOrigin)
    this.addresses = new ClientAddressResolver(host.options.trustedProxies)
    this.ipLimits = new IpLimits(host.options.maxConnectionsPerIp, host.options.connectRatePerIp, host.options.connectBurstPerIp)
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // Off unless asked for: compression costs more CPU than everything
      // else on the data path, and MQTT payloads are often compressed or tiny.
      perMessageDeflate: host.options.perMessageDeflate,
      // Used only when permessage-deflate runs the connection through ws.
      maxPayload: host.options.maxMessageSize,
      WebSocket: AdoptedWebSocket,
      // The choice was made (and checked) before the upstream connect.
      handleProtocols: (_offered, req) => (req as ChosenRequest).chosenSubprotocol ?? false
    })
  }

  readonly handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const started = performance.now()
    const path = pathOf(req.url)
    const refusal = this.check(req, path)
    if (refusal !== undefined) {
      this.reject(socket, req, path, refusal.reason, refusal.detail)
      return
    }
    const choice = chooseSubprotocol(req.headers['sec-websocket-protocol'], this.host.options.requireSubprotocol)
    if (!choice.ok) {
      this.reject(socket, req, path, choice.reason, String(req.headers['sec-websocket-protocol'] ?? 'none'))
      return
    }
    ;(req as ChosenRequest).chosenSubprotocol = choice.protocol
    const ip = this.clientAddress(req)
    const verdict = this.ipLimits.acquire(ip)
    if (!verdict.ok) {
      this.reject(socket, req, path, verdict.reason, ip, { 'Retry-After': String(verdict.retryAfterSeconds) })
      return
    }
    this.host.upgradeStarted()
    this.connectThenAccept(req, socket as Socket, head, path, started)
      .catch(() => { socket.destroy(); return false })
      .then((accepted) => { if (!accepted) this.ipLimits.release(ip) })
      .finally(() => this.host.upgradeEnded())
  }

  /** Cheap checks first: nothing here costs an upstream connection. */
  private check (req: IncomingMessage, path: string): { reason: UpgradeRejection, detail: string } | undefined {
    if (this.host.closing) return { reason: 'closing', detail: 'shutting down' }
    if (!this.paths.has(path)) return { reason: 'path', detail: path }
    const key = req.headers['sec-websocket-key']
    if (req.method !== 'GET' || req.headers.upgrade?.toLowerCase() !== 'websocket' ||
      key === undefined || !KEY_PATTERN.test(key.trim()) || req.headers['sec-websocket-version'] !== '13') {
      return { reason: 'bad_request', detail: 'missing or invalid WebSocket headers' }
    }
    // Browsers always send Origin; checking it stops other sites' pages
    // from using a visitor's browser to reach the broker.
    const origin = req.headers.origin
    if (!this.origins.allows(origin)) return { reason: 'origin', detail: origin ?? 'no Origin header' }
    if (this.host.connectionCount >= this.host.options.maxConnections) {
      return { reason: 'limit_connections', detail: `${this.host.options.maxConnections} connections` }
    }
    return undefined
  }

  /** Resolves to true when the connection was handed to a bridge. */
  private async connectThenAccept (req: IncomingMessage, socket: Socket, head: Buffer, path: string, started: number): Promise<boolean> {
    const abort = new AbortController()
    const onGone = (): void => abort.abort()
    socket.once('close', onGone)
    socket.on('error', onGone)
    let link: UpstreamLink
    try {
      link = await this.host.upstream.connect(abort.signal)
    } catch (err) {
      if (socket.destroyed) return false
      const rejection = err instanceof UpstreamConnectError ? err : new UpstreamConnectError('upstream_unreachable', String(err))
      this.reject(socket, req, path, rejection.reason, rejection.message)
      return false
    } finally {
      socket.removeListener('close', onGone)
      socket.removeListener('error', onGone)
    }
    if (socket.destroyed || !socket.readable) {
      link.stream.destroy()
      return false
    }
    let adopted: AdoptedWebSocket | undefined
    this.wss.handleUpgrade(req, socket, head, (ws) => { adopted = ws as AdoptedWebSocket })
    const client = adopted?.deflated === true
      ? new DeflateClientSocket(adopted, this.host.options.highWaterMark) as unknown as Socket
      : adopted?.adoptedSocket as Socket | undefined
    if (adopted === undefined || client === undefined) {
      // ws refused the handshake itself (and answered 400).
      link.stream.destroy()
      return false
    }
    this.host.accept({
      client,
      head: adopted.adoptedHead ?? Buffer.alloc(0),
      link,
      remoteAddress: this.clientAddress(req),
      remotePort: socket.remotePort ?? 0,
      path,
      subprotocol: adopted.protocol === '' ? undefined : adopted.protocol,
      handshakeMs: performance.now() - started
    })
    return true
  }

  /** The client's address, through trusted proxies; resolved once per request. */
  private clientAddress (req: IncomingMessage): string {
    const chosen = req as ChosenRequest
    chosen.clientAddress ??= this.addresses.resolve(req.socket.remoteAddress ?? '', req.headers)
    return chosen.clientAddress
  }

  private reject (socket: Duplex, req: IncomingMessage, path: string, reason: UpgradeRejection, detail: string | undefined, extraHeaders: Record<string, string> = {}): void {
    const { status, message } = upgradeRejections[reason]
    publish('reject', {
      gateway: this.host.gateway,
      reason,
      status,
      remoteAddress: this.clientAddress(req),
      path,
      detail
    })
    const headers: Record<string, string> = reason === 'bad_request' ? { 'Sec-WebSocket-Version': '13', ...extraHeaders } : { ...extraHeaders }
    if (status === 503) headers['Retry-After'] = '5'
    rejectUpgrade(socket, status, message, headers)
  }
}

interface ChosenRequest extends IncomingMessage {
  chosenSubprotocol?: string | undefined
  clientAddress?: string
}

function pathOf (url: string | undefined): string {
  if (url === undefined) return '/'
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

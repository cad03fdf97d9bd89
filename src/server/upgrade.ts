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
import type { WebSocket } from 'ws'
import { UpstreamConnectError, upgradeRejections } from '../errors.js'
import type { UpgradeRejection } from '../errors.js'
import { publish } from '../events.js'
import type { GatewayRef } from '../events.js'
import type { ResolvedOptions } from '../options.js'
import type { OpenUpstream, Upstream, UpstreamLink } from '../upstream/upstream.js'
import type { ClientEndpoint } from '../proxy-protocol/write.js'
import type { ProxiedPeer } from '../proxy-protocol/accept.js'
import { ClientAddressResolver } from './client-address.js'
import type { ClientEndpointAddress } from './client-address.js'
import { IpLimits } from './ip-limits.js'
import { OriginPolicy } from './origin.js'
import { rejectUpgrade } from './reject.js'
import { TokenVerifier } from './jwt.js'
import type { TokenGrant, TokenVerdict } from './jwt.js'
import { chooseSubprotocol } from './subprotocol.js'
import { switchProtocols } from './handshake.js'
import type { ClientChannel } from '../ws/channel.js'
import { DeflateChannel } from '../ws/deflate-channel.js'
import { FrameChannel } from '../ws/frame-channel.js'

/** What the upgrade handler needs from the gateway. */
export interface UpgradeHost {
  readonly gateway: GatewayRef
  readonly options: ResolvedOptions
  readonly upstream: Upstream
  readonly closing: boolean
  /** Live bridges plus upgrades in progress. */
  readonly connectionCount: number
  /** Upgrades between the request and the 101 (upstream connects in flight). */
  readonly pendingUpgrades: number
  upgradeStarted (): void
  upgradeEnded (): void
  /** The handshake is done: bridge `client` and `link`. */
  accept (accepted: AcceptedUpgrade): void
  /** With --accept-proxy-protocol, who the load balancer's PROXY header says is behind `socket`. */
  peerOf? (socket: Socket): ProxiedPeer | undefined
}

export interface AcceptedUpgrade {
  /** The client side, message by message. */
  channel: ClientChannel
  /** Bytes that arrived with the upgrade request, for the lean channel to read first. */
  head: Buffer
  /** The broker connection, or how to open it once the client id is known. */
  link: UpstreamLink | OpenUpstream
  remoteAddress: string
  /** The TCP peer's port; for an address from a proxy header, the header's port if it gave one. */
  remotePort: number | undefined
  path: string
  subprotocol: string | undefined
  handshakeMs: number
  /** What the client's token grants, when the token check is on. */
  auth?: TokenGrant | undefined
  /** For traces (issue 15): the Origin header, and the TCP peer (a trusted proxy when the address came from its header). */
  origin?: string | undefined
  peerAddress?: string | undefined
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
  private readonly tokens: TokenVerifier | undefined

  constructor (host: UpgradeHost) {
    this.host = host
    this.paths = new Set(host.options.paths)
    this.origins = new OriginPolicy(host.options.allowedOrigins, host.options.allowMissingOrigin)
    this.addresses = new ClientAddressResolver(host.options.trustedProxies, host.options.clientAddressHeader)
    this.tokens = TokenVerifier.fromOptions(host.options)
    this.ipLimits = new IpLimits(host.options.maxConnectionsPerIp, host.options.connectRatePerIp, host.options.connectBurstPerIp)
    // Runs only the connections that offer permessage-deflate when it is on.
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // Off unless asked for: compression costs more CPU than everything
      // else on the data path, and MQTT payloads are often compressed or tiny.
      perMessageDeflate: host.options.perMessageDeflate,
      maxPayload: host.options.maxMessageSize,
      // The bridge answers pings, with the same bounds as on the lean path.
      autoPong: false,
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

  /**
   * An HTTP CONNECT (a forward-proxy request): Node closes such sockets
   * silently unless someone listens; this gateway proxies nothing, and says so.
   */
  readonly refuseConnect = (req: IncomingMessage, socket: Duplex): void => {
    this.reject(socket, req, '', 'method', `CONNECT ${req.url ?? ''}`)
  }

  /** Cheap checks first: nothing here costs an upstream connection. */
  private check (req: IncomingMessage, path: string): { reason: UpgradeRejection, detail: string } | undefined {
    if (this.host.closing) return { reason: 'closing', detail: 'shutting down' }
    if (!this.paths.has(path)) return { reason: 'path', detail: path }
    if (req.method !== 'GET') return { reason: 'method', detail: req.method ?? 'no method' }
    const key = req.headers['sec-websocket-key']
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' ||
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
    // A burst of handshakes (each holding a broker connect) is capped apart
    // from established connections: a reconnect storm cannot pile up.
    if (this.host.pendingUpgrades >= this.host.options.maxPendingUpgrades) {
      return { reason: 'limit_handshakes', detail: `${this.host.options.maxPendingUpgrades} upgrades in progress` }
    }
    return undefined
  }

  /** Resolves to true when the connection was handed to a bridge. */
  private async connectThenAccept (req: IncomingMessage, socket: Socket, head: Buffer, path: string, started: number): Promise<boolean> {
    const auth = await this.authorize(req, socket, path)
    if (auth === false) return false
    const upstream = this.host.upstream
    let link: UpstreamLink | OpenUpstream
    if (upstream.routesByClientId === true) {
      // The broker depends on the client id, which only the CONNECT after
      // the 101 carries: the bridge connects then (and answers a CONNACK
      // "server unavailable" if no broker takes it).
      const endpoint = this.clientEndpoint(req, socket)
      link = (clientId, signal) => upstream.connect(signal, endpoint, clientId)
    } else {
      const opened = await this.connectUpstream(req, socket, path)
      if (opened === undefined) return false
      link = opened
    }
    if (socket.destroyed || !socket.readable) {
      if (typeof link !== 'function') link.stream.destroy()
      return false
    }
    const subprotocol = (req as ChosenRequest).chosenSubprotocol
    const channel = this.offersDeflate(req)
      ? this.deflateChannel(req, socket, head)
      : switchProtocols(socket, req.headers['sec-websocket-key'] as string, subprotocol) ? new FrameChannel(socket, this.host.options.maxMessageSize) : undefined
    if (channel === undefined) {
      // The client left, or ws refused the extension offer (and answered 400).
      if (typeof link !== 'function') link.stream.destroy()
      return false
    }
    const from = this.clientEndpointAddress(req)
    this.host.accept({
      channel,
      head: channel instanceof FrameChannel ? head : Buffer.alloc(0),
      link,
      remoteAddress: from.address,
      remotePort: from.port,
      path,
      subprotocol,
      handshakeMs: performance.now() - started,
      auth,
      origin: req.headers.origin,
      peerAddress: socket.remoteAddress
    })
    return true
  }

  /** With --per-message-deflate, a client offering it gets a connection ws runs. */
  private offersDeflate (req: IncomingMessage): boolean {
    return this.host.options.perMessageDeflate && /\bpermessage-deflate\b/i.test(String(req.headers['sec-websocket-extensions'] ?? ''))
  }

  /** ws answers the 101 (negotiating the extension) and runs the connection; undefined when it refused. */
  private deflateChannel (req: IncomingMessage, socket: Socket, head: Buffer): ClientChannel | undefined {
    let ws: WebSocket | undefined
    this.wss.handleUpgrade(req, socket, head, (opened) => { ws = opened })
    if (ws === undefined) return undefined
    return new DeflateChannel(ws, socket, this.host.options.maxMessageSize, this.host.options.highWaterMark)
  }

  /** The broker connection, before the 101; undefined when the client was refused or left. */
  private async connectUpstream (req: IncomingMessage, socket: Socket, path: string): Promise<UpstreamLink | undefined> {
    const abort = new AbortController()
    const onGone = (): void => abort.abort()
    socket.once('close', onGone)
    socket.on('error', onGone)
    try {
      return await this.host.upstream.connect(abort.signal, this.clientEndpoint(req, socket))
    } catch (err) {
      if (socket.destroyed) return undefined
      const rejection = err instanceof UpstreamConnectError ? err : new UpstreamConnectError('upstream_unreachable', String(err))
      this.reject(socket, req, path, rejection.reason, rejection.message)
      return undefined
    } finally {
      socket.removeListener('close', onGone)
      socket.removeListener('error', onGone)
    }
  }

  /** Who the broker should see, for the PROXY protocol header. */
  private clientEndpoint (req: IncomingMessage, socket: Socket): ClientEndpoint {
    const secure = socket as Socket & { getProtocol?: () => string | null, getPeerCertificate?: () => { subject?: { CN?: string } } }
    const cn = secure.getPeerCertificate?.()?.subject?.CN
    // Behind a load balancer's PROXY header, the endpoints it names.
    const peer = this.host.peerOf?.(socket)
    return {
      address: this.clientAddress(req),
      port: peer?.port ?? socket.remotePort ?? 0,
      // Read only when a PROXY header is written: the local address costs a
      // getsockname() system call, ~9 µs of each upgrade when nothing uses it.
      get localAddress () { return peer?.localAddress ?? socket.localAddress ?? '' },
      get localPort () { return peer?.localPort ?? socket.localPort ?? 0 },
      ...(peer?.passOn === undefined ? {} : { passOn: peer.passOn }),
      ...(secure.getProtocol === undefined ? {} : { tls: { version: secure.getProtocol() ?? undefined, clientCn: typeof cn === 'string' ? cn : undefined } })
    }
  }

  /**
   * The token check, before any broker connection. Resolves to what the
   * token grants (undefined when the check is off), or false when the client
   * was refused, or left while its token was verified: nothing was opened.
   */
  private async authorize (req: IncomingMessage, socket: Socket, path: string): Promise<TokenGrant | undefined | false> {
    if (this.tokens === undefined) return undefined
    // Node's HTTP server no longer watches an upgraded socket: an error
    // during the (async) verification needs a listener, or it would throw.
    const onError = (): void => { socket.destroy() }
    socket.on('error', onError)
    let verdict: TokenVerdict
    try {
      verdict = await this.tokens.check(req)
    } finally {
      socket.removeListener('error', onError)
    }
    if (socket.destroyed || !socket.readable) {
      socket.destroy()
      return false
    }
    if (!verdict.ok) {
      this.reject(socket, req, path, verdict.reason, verdict.detail)
      return false
    }
    return verdict.grant
  }

  /** The client's address, through trusted proxies; resolved once per request. */
  private clientAddress (req: IncomingMessage): string {
    return this.clientEndpointAddress(req).address
  }

  private clientEndpointAddress (req: IncomingMessage): ClientEndpointAddress {
    const chosen = req as ChosenRequest
    // The PROXY header's address is the peer the trusted-hop walk starts from.
    const peer = this.host.peerOf?.(req.socket)
    chosen.clientEndpoint ??= this.addresses.resolveEndpoint(peer?.address ?? req.socket.remoteAddress ?? '', peer?.port ?? req.socket.remotePort, req.headers)
    return chosen.clientEndpoint
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
    // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
    if (status === 405) headers.Allow = 'GET'
    // RFC 6750 §3, without error details: those stay in the log.
    if (status === 401) headers['WWW-Authenticate'] = 'Bearer'
    rejectUpgrade(socket, status, message, headers)
  }
}

interface ChosenRequest extends IncomingMessage {
  chosenSubprotocol?: string | undefined
  clientEndpoint?: ClientEndpointAddress
}

function pathOf (url: string | undefined): string {
  if (url === undefined) return '/'
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

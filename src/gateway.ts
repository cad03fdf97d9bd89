/**
 * The gateway: an HTTP listener whose WebSocket upgrades become bridges to
 * an MQTT broker (upstream over TCP, or the embedded one).
 */
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { Bridge } from './bridge/bridge.js'
import type { BridgeContext } from './bridge/bridge.js'
import { ClientRegistry } from './bridge/registry.js'
import { CloseCode, ListenError, NotListeningError, upgradeRejections } from './errors.js'
import type { UpgradeRejection } from './errors.js'
import { publish } from './events.js'
import type { GatewayRef } from './events.js'
import { instanceId } from './observe/instance.js'
import { createLogger, logLifecycle } from './observe/logger.js'
import type { Logger } from './observe/logger.js'
import { changedOptions, resolveOptions, upstreamList } from './options.js'
import { AdminServer } from './server/admin.js'
import type { AdminTimings } from './server/admin.js'
import type { GatewayOptions, ResolvedOptions } from './options.js'
import { ProxyProtocolGate } from './proxy-protocol/accept.js'
import type { ProxiedPeer } from './proxy-protocol/accept.js'
import { ClientAddressResolver } from './server/client-address.js'
import { createListener, hostPort, listenOn, reloadCertificates } from './server/listener.js'
import { rejectUpgrade } from './server/reject.js'
import { UpgradeHandler } from './server/upgrade.js'
import type { AcceptedUpgrade, UpgradeHost } from './server/upgrade.js'
import { EmbeddedBroker } from './upstream/embedded.js'
import { UpstreamPool } from './upstream/pool.js'
import { TcpUpstream } from './upstream/tcp.js'
import type { Upstream } from './upstream/upstream.js'
import { TraceRegistry } from './trace/registry.js'
import type { TraceLimits } from './trace/registry.js'

export interface GatewayAddress {
  host: string
  port: number
  /** WebSocket URL of the first path, e.g. `ws://127.0.0.1:8000/mqtt`. */
  url: string
  /** Plain MQTT URL of the embedded broker's TCP listener, when it runs. */
  tcpUrl: string | undefined
  /** `mqtt://host:port` of the upstream broker, or `embedded`. */
  upstream: string
  /** `http://host:port/` of the admin listener (metrics, health, status page), when it runs. */
  adminUrl: string | undefined
}

/** Totals since start (closed and live connections), read on demand, never per packet. */
export interface GatewayStats {
  connections: number
  bytesFromClients: number
  bytesToClients: number
  packetsFromClients: number
  packetsToClients: number
  /** Bytes buffered in the gateway right now, both directions. */
  bufferedBytes: number
}

export interface Gateway {
  listen (): Promise<GatewayAddress>
  /**
   * Answers /readyz with 503 at once but goes on accepting and serving for
   * `delayMs` (load balancers take the gateway out of rotation meanwhile);
   * then stops accepting (503), closes every connection (each first passes
   * on what its client sent), spread evenly over `drainMs` so clients do
   * not reconnect all at once, and stops the embedded broker.
   */
  close (options?: CloseOptions): Promise<void>
  address (): GatewayAddress
  /** Re-reads the TLS certificate files (SIGHUP in the CLI); live connections are untouched. */
  reloadTls (): void
  readonly options: ResolvedOptions
  /** Live bridged connections. */
  readonly connections: number
  /** Traffic totals, summed over live bridges on demand (for metrics and status pages). */
  stats (): GatewayStats
  /** The name on its log lines and metrics (--instance-id, default hostname-pid). */
  readonly instanceId: string
}

export interface CloseOptions {
  /**
   * Milliseconds between /readyz turning 503 and the first close, while
   * upgrades are still accepted (default 0). The CLI uses --shutdown-delay.
   */
  delayMs?: number
  /** Spread the closes over this many milliseconds (default 0: all at once). */
  drainMs?: number
  /** 1001 "going away" (default) or 1012 "service restart". */
  closeCode?: number
}

export interface CreateGatewayOptions extends Partial<GatewayOptions> {
  /** A pino logger to use instead of one made from `logLevel` (used as it is: no `instance` field is added). */
  logger?: Logger
}

/** Knobs for tests, deliberately not options: production uses the defaults. */
export interface InternalOptions {
  admin?: AdminTimings
  /** Issue 15: per-viewer queue bounds of traces. */
  trace?: Partial<TraceLimits>
}

let nextGatewayId = 1

/** Exported for tests that need `InternalOptions`; the public API is `createGateway`. */
export class GatewayServer implements Gateway, GatewayRef, UpgradeHost, BridgeContext {
  readonly id = nextGatewayId++
  readonly gateway: GatewayRef = this
  readonly options: ResolvedOptions
  readonly registry = new ClientRegistry()
  readonly logger: Logger
  readonly instanceId: string
  private readonly server: http.Server
  /** With --accept-proxy-protocol: reads each connection's PROXY header first. */
  private readonly proxyGate: ProxyProtocolGate | undefined
  private readonly bridges = new Set<Bridge>()
  private readonly upgrades: UpgradeHandler
  private upstreamImpl: Upstream | undefined
  private embeddedTcp: AddressInfo | undefined
  pendingUpgrades = 0
  private nextConnectionId = 1
  private stopLogging: (() => void) | undefined
  private admin: AdminServer | undefined
  private adminBound: AddressInfo | undefined
  private readonly internal: InternalOptions
  /** Traffic of connections already closed. */
  private readonly closedTotals = { bytesFromClients: 0, bytesToClients: 0, packetsFromClients: 0, packetsToClients: 0 }
  /** True once upgrades are refused (503): after close()'s delay. */
  closing = false
  /** True from the start of close(): /readyz answers 503, through the delay too. */
  stopping = false
  /** Sockets already answered by onClientError. */
  private readonly refusedSockets = new WeakSet<Duplex>()
  /** Live tracing (issue 15): idle, and costing nothing, while no trace runs. */
  readonly traces: TraceRegistry

  constructor (options: CreateGatewayOptions, internal: InternalOptions = {}) {
    const { logger, ...rest } = options
    this.internal = internal
    this.options = resolveOptions(rest)
    this.instanceId = instanceId(this.options.instanceId)
    this.logger = logger ?? createLogger(this.options.logLevel, this.instanceId)
    this.upgrades = new UpgradeHandler(this)
    this.traces = new TraceRegistry({ gateway: this, options: this.options, logger: this.logger, liveBridges: () => this.bridges }, internal.trace)
    this.server = createListener(this.options, this.onRequest)
    this.proxyGate = this.options.acceptProxyProtocol ? this.startProxyGate() : undefined
    this.server.on('upgrade', this.upgrades.handle)
    this.server.on('connect', this.upgrades.refuseConnect)
    this.server.on('clientError', this.onClientError)
  }

  get upstream (): Upstream {
    if (this.upstreamImpl === undefined) throw new NotListeningError()
    return this.upstreamImpl
  }

  get connections (): number {
    return this.bridges.size
  }

  get connectionCount (): number {
    return this.bridges.size + this.pendingUpgrades
  }

  /**
   * Starts the upstream (or the embedded broker and its TCP listener), the
   * WebSocket listener and the admin listener. If any of them fails (a port
   * taken: a ListenError naming the option and the address), whatever was
   * already opened is closed again before the promise rejects, so that a
   * process whose start failed can exit.
   */
  async listen (): Promise<GatewayAddress> {
    this.stopLogging = logLifecycle(this, this.logger)
    try {
      await this.startUpstream()
      await listenOn(this.server, 'port', this.options.port, this.options.host)
      await this.listenAdmin()
    } catch (err) {
      await this.close()
      throw err
    }
    this.logStart()
    return this.address()
  }

  private async startUpstream (): Promise<void> {
    const { upstream, upstreamConnectTimeout: timeout } = this.options
    if (upstream !== undefined) {
      const members = upstreamList(upstream).map((url) => new TcpUpstream(new URL(url), timeout, {
        ca: this.options.upstreamCa,
        cert: this.options.upstreamCert,
        key: this.options.upstreamKey,
        servername: this.options.upstreamServername
      }, this.options.upstreamProxyProtocol))
      this.upstreamImpl = members.length === 1
        ? members[0] as TcpUpstream
        : new UpstreamPool(members, this.options.upstreamStrategy, this.options.upstreamBackoff)
      return
    }
    const broker = await EmbeddedBroker.start(this.options)
    this.upstreamImpl = broker
    if (this.options.tcpPort === 0) return
    const host = this.options.tcpHost ?? this.options.host
    try {
      this.embeddedTcp = await broker.listenTcp(this.options.tcpPort, host)
    } catch (err) {
      throw new ListenError('tcpPort', hostPort(host, this.options.tcpPort), err as NodeJS.ErrnoException)
    }
  }

  /** One line with where it listens, where it bridges to, and every option not at its default. */
  private logStart (): void {
    const address = this.address()
    this.logger.info({
      event: 'start',
      listen: address.url,
      upstream: address.upstream,
      tcp: address.tcpUrl ?? null,
      admin: address.adminUrl ?? null,
      workers: this.options.workers,
      options: changedOptions(this.options)
    }, `gateway started: ${address.url} → ${address.upstream}`)
  }

  /** Starts the admin listener (unless adminPort is 0). */
  private async listenAdmin (): Promise<void> {
    if (this.options.adminPort === 0) return
    const probe = this.options.upstream === undefined ? undefined : this.upstream
    this.admin = new AdminServer(this, { description: this.upstream.description, probe }, this.internal.admin)
    this.adminBound = await this.admin.listen()
  }

  address (): GatewayAddress {
    const bound = this.server.address() as AddressInfo | null
    if (bound === null) throw new NotListeningError()
    const host = formatHost(bound.address)
    return {
      host: bound.address,
      port: bound.port,
      url: `${this.options.tlsCert === undefined ? 'ws' : 'wss'}://${host}:${bound.port}${this.options.paths[0] ?? '/mqtt'}`,
      tcpUrl: this.embeddedTcp === undefined ? undefined : `mqtt://${formatHost(this.embeddedTcp.address)}:${this.embeddedTcp.port}`,
      upstream: this.upstreamImpl?.description ?? 'none',
      adminUrl: this.adminBound === undefined ? undefined : `http://${formatHost(this.adminBound.address)}:${this.adminBound.port}/`
    }
  }

  reloadTls (): void {
    reloadCertificates(this.server, this.options)
    this.logger.info({ event: 'tls_reload' }, 'TLS certificates reloaded')
  }

  async close (options: CloseOptions = {}): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    // Serving on while load balancers see /readyz fail and stop sending.
    if ((options.delayMs ?? 0) > 0) await new Promise((resolve) => setTimeout(resolve, options.delayMs))
    // The listener stays open through the drain so newcomers get an
    // explicit 503 with Retry-After, not a refused connection.
    this.closing = true
    const bridges = [...this.bridges]
    const allClosed = Promise.all(bridges.map((b) => new Promise<void>((resolve) => b.onClosed(resolve))))
    await closeStaggered(bridges, options.drainMs ?? 0, options.closeCode ?? CloseCode.goingAway)
    await allClosed
    await this.traces.close()
    this.server.close()
    this.server.closeAllConnections()
    this.proxyGate?.close()
    await this.upstreamImpl?.close()
    this.upgrades.ipLimits.stop()
    this.stopLogging?.()
    // Last: /readyz answers 503 "closing" for as long as the shutdown takes.
    await this.admin?.close()
  }

  // UpgradeHost
  peerOf (socket: Socket): ProxiedPeer | undefined {
    return this.proxyGate?.peerOf(socket)
  }

  upgradeStarted (): void { this.pendingUpgrades++ }
  upgradeEnded (): void { this.pendingUpgrades-- }

  accept (accepted: AcceptedUpgrade): void {
    const link = accepted.link
    const bridge = new Bridge(this, {
      connectionId: this.nextConnectionId++,
      channel: accepted.channel,
      upstream: link,
      remoteAddress: accepted.remoteAddress,
      auth: accepted.auth
    })
    this.bridges.add(bridge)
    const opened = {
      gateway: this,
      connectionId: bridge.connectionId,
      remoteAddress: accepted.remoteAddress,
      remotePort: accepted.remotePort,
      path: accepted.path,
      subprotocol: accepted.subprotocol,
      handshakeMs: accepted.handshakeMs,
      upstreamConnectMs: typeof link === 'function' ? undefined : link.connectMs
    }
    publish('open', opened)
    if (this.traces.active) this.traces.onOpen(bridge, opened, accepted)
    bridge.start(accepted.head)
  }

  stats (): GatewayStats {
    const totals = { ...this.closedTotals, connections: this.bridges.size, bufferedBytes: 0 }
    for (const bridge of this.bridges) {
      totals.bytesFromClients += bridge.bytesFromClient
      totals.bytesToClients += bridge.bytesToClient
      totals.packetsFromClients += bridge.packetsFromClient
      totals.packetsToClients += bridge.packetsToClient
      totals.bufferedBytes += bridge.bufferedBytes
    }
    return totals
  }

  // BridgeContext
  onBridgeClosed (bridge: Bridge): void {
    this.bridges.delete(bridge)
    this.upgrades.ipLimits.release(bridge.remoteAddress)
    this.closedTotals.bytesFromClients += bridge.bytesFromClient
    this.closedTotals.bytesToClients += bridge.bytesToClient
    this.closedTotals.packetsFromClients += bridge.packetsFromClient
    this.closedTotals.packetsToClients += bridge.packetsToClient
  }

  /**
   * A request the HTTP parser refused: too large, too slow, or not HTTP.
   * Answered once per socket: after a 408 or 431 the parser can still fail
   * on the bytes (or the FIN) that follow, and that is the same refusal: the
   * answer is on its way and rejectUpgrade's timer destroys the socket.
   */
  private readonly onClientError = (err: NodeJS.ErrnoException, socket: Duplex): void => {
    if (this.refusedSockets.has(socket)) return
    this.refusedSockets.add(socket)
    const reason = clientErrorReason(err)
    const { status, message } = upgradeRejections[reason]
    // wss:// forwards TLS failures here too (https.Server): before the
    // handshake there is no session to answer in, only a socket to close.
    const tls = isTlsLayerError(err)
    publish('reject', {
      gateway: this,
      reason,
      status,
      remoteAddress: this.peerOf(socket as Socket)?.address ?? (socket as Socket).remoteAddress ?? '',
      path: '',
      detail: err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT'
        ? `${err.code}: no TLS handshake within ${this.options.handshakeTimeout} ms (closed without an answer)`
        : err.code ?? err.message
    })
    if (tls) socket.destroy()
    else rejectUpgrade(socket, status, message)
  }

  /** --accept-proxy-protocol: its refusals are counted and logged as the upgrade's are. */
  private startProxyGate (): ProxyProtocolGate {
    const trusted = new ClientAddressResolver(this.options.trustedProxies)
    return new ProxyProtocolGate(this.server, {
      isTrusted: (address) => trusted.isTrusted(address),
      timeoutMs: this.options.handshakeTimeout,
      refused: (socket, reason, detail) => publish('reject', {
        gateway: this, reason, status: upgradeRejections[reason].status, remoteAddress: socket.remoteAddress ?? '', path: '', detail
      })
    })
  }

  private readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    // A plain HTTP request (a browser tab, a health probe): say what this is.
    const body = `mqtt-ws-gateway: MQTT over WebSocket. Connect an MQTT client to ws://<host>${this.options.paths[0] ?? ''} with subprotocol "mqtt".\n`
    res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket', Connection: 'close' })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
}

const STAGGER_TICK_MS = 20

/** The refusal a parser, timeout or TLS error stands for. */
function clientErrorReason (err: NodeJS.ErrnoException): UpgradeRejection {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW': return 'header_too_large'
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_TLS_HANDSHAKE_TIMEOUT': return 'handshake_timeout'
    default: return 'bad_request'
  }
}

/** Errors of the TLS layer (Node's ERR_TLS_*, OpenSSL's ERR_SSL_*), not of HTTP. */
function isTlsLayerError (err: NodeJS.ErrnoException): boolean {
  return err.code?.startsWith('ERR_TLS_') === true || err.code?.startsWith('ERR_SSL_') === true
}

/** Shuts bridges down in even batches over `drainMs`, one timer for all. */
function closeStaggered (bridges: Bridge[], drainMs: number, code: number): Promise<void> {
  if (drainMs <= 0 || bridges.length === 0) {
    for (const bridge of bridges) bridge.shutdown(code)
    return Promise.resolve()
  }
  const ticks = Math.max(1, Math.floor(drainMs / STAGGER_TICK_MS))
  const perTick = Math.ceil(bridges.length / ticks)
  let next = 0
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      for (const end = Math.min(bridges.length, next + perTick); next < end; next++) (bridges[next] as Bridge).shutdown(code)
      if (next >= bridges.length) {
        clearInterval(timer)
        resolve()
      }
    }, STAGGER_TICK_MS)
  })
}

function formatHost (address: string): string {
  return address.includes(':') ? `[${address}]` : address
}

export function createGateway (options: CreateGatewayOptions = {}): Gateway {
  return new GatewayServer(options)
}

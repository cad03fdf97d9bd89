/**
 * The admin HTTP listener, on its own address and port (loopback by
 * default), never on the public WebSocket port:
 *
 *   GET /metrics      Prometheus text format
 *   GET /healthz      200 while the process runs
 *   GET /readyz       200 when upgrades are accepted and the broker is reachable, else 503 + reason
 *   GET /             live status page (self-contained HTML)
 *   GET /api/status   what the status page draws, as JSON
 *   /api/trace, /api/traces, /api/connections   live tracing (trace/http.ts)
 *
 * Everything else is 404. Readiness reads state kept by a periodic probe:
 * a request never opens a connection to the broker.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../observe/logger.js'
import { createMetrics } from '../observe/metrics.js'
import type { GatewayMetrics, MetricsSource } from '../observe/metrics.js'
import { StatusRecorder } from '../observe/status.js'
import type { StatusSource, StatusTimings } from '../observe/status.js'
import type { ResolvedOptions } from '../options.js'
import { TraceApi } from '../trace/http.js'
import type { TraceRegistry } from '../trace/registry.js'
import { UpstreamProbe } from '../upstream/probe.js'
import type { Upstream } from '../upstream/upstream.js'
import { listenOn } from './listener.js'
import { statusPage } from './status-page.js'

export interface AdminSource extends MetricsSource, StatusSource {
  readonly options: ResolvedOptions
  /** True once upgrades are refused (after close()'s delay). */
  readonly closing: boolean
  /** True from the start of `close()`, through its delay (--shutdown-delay): /readyz answers 503. */
  readonly stopping: boolean
  /** Bridged connections plus upgrades in progress, as the connection limit counts them. */
  readonly connectionCount: number
  readonly traces: TraceRegistry
  readonly logger: Logger
}

export interface AdminUpstream {
  /** `mqtt://host:port` or `embedded`. */
  description: string
  /** The TCP upstream to probe for readiness; undefined for the embedded broker. */
  probe: Upstream | undefined
}

/** Test knobs, not options: the defaults are what production uses. */
export interface AdminTimings extends StatusTimings {
  /** Milliseconds between upstream reachability probes (5 s). */
  probeIntervalMs?: number
}

export type Readiness = { ready: true } | { ready: false, reason: string, detail: string }

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>

const NO_STORE = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' }

export class AdminServer {
  private readonly source: AdminSource
  private readonly upstream: AdminUpstream
  private readonly server: http.Server
  private readonly metrics: GatewayMetrics
  private readonly status: StatusRecorder
  private readonly probe: UpstreamProbe | undefined
  private readonly routes: ReadonlyMap<string, Handler>
  private readonly startedAt = Date.now()
  private readonly trace: TraceApi

  constructor (source: AdminSource, upstream: AdminUpstream, timings: AdminTimings = {}) {
    this.source = source
    this.upstream = upstream
    this.probe = upstream.probe === undefined ? undefined : new UpstreamProbe(upstream.probe, timings.probeIntervalMs ?? 5000)
    this.metrics = createMetrics(source, {
      tcpUpstream: upstream.probe !== undefined,
      upstreamReachable: () => this.probe?.state.reachable
    })
    this.status = new StatusRecorder(source, timings)
    this.trace = new TraceApi(source.traces, source.options, source.logger)
    this.routes = new Map<string, Handler>([
      ['/metrics', this.sendMetrics],
      ['/healthz', (_req, res) => send(res, 200, 'text/plain; charset=utf-8', 'ok\n')],
      ['/readyz', this.sendReadiness],
      ['/', (_req, res) => send(res, 200, 'text/html; charset=utf-8', statusPage.html, { 'Content-Security-Policy': statusPage.csp })],
      ['/api/status', this.sendStatus]
    ])
    this.server = http.createServer(this.onRequest)
    this.server.on('clientError', (_err, socket) => socket.destroy())
  }

  /** Binds the listener, probes the upstream once and starts sampling. */
  /** Rejects with a ListenError (option adminPort) when the port cannot be bound. */
  async listen (): Promise<AddressInfo> {
    const { adminPort, adminHost } = this.source.options
    const [bound] = await Promise.all([listenOn(this.server, 'adminPort', adminPort, adminHost), this.probe?.start()])
    this.status.start()
    return bound
  }

  async close (): Promise<void> {
    this.probe?.stop()
    this.status.stop()
    this.metrics.stop()
    if (!this.server.listening) return
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.server.closeAllConnections()
    await closed
  }

  readiness (): Readiness {
    const { source } = this
    if (source.stopping) return { ready: false, reason: 'closing', detail: 'the gateway is shutting down' }
    if (source.connectionCount >= source.options.maxConnections) {
      return { ready: false, reason: 'limit_connections', detail: `${source.options.maxConnections} connections` }
    }
    const probed = this.probe?.state
    if (probed !== undefined && !probed.reachable) return { ready: false, reason: probed.reason, detail: probed.detail }
    return { ready: true }
  }

  private readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://admin')
    const path = url.pathname
    if (this.trace.handles(path)) return this.trace.handle(req, res, url)
    const handler = this.routes.get(path)
    if (handler === undefined) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' })
    }
    Promise.resolve(handler(req, res)).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `${(err as Error).message}\n`)
      else res.destroy()
    })
  }

  private readonly sendMetrics = async (_req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const { registry } = this.metrics
    send(res, 200, registry.contentType, await registry.metrics())
  }

  private readonly sendReadiness = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
    const verdict = this.readiness()
    if (verdict.ready) send(res, 200, 'text/plain; charset=utf-8', 'ready\n')
    else send(res, 503, 'text/plain; charset=utf-8', `not ready: ${verdict.reason} (${verdict.detail})\n`)
  }

  private readonly sendStatus = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
    const body = {
      now: Date.now(),
      startedAt: this.startedAt,
      upstream: this.upstream.description,
      readiness: this.readiness(),
      current: this.source.stats(),
      ...this.status.history()
    }
    send(res, 200, 'application/json; charset=utf-8', JSON.stringify(body))
  }
}

function send (res: http.ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...NO_STORE, ...headers, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

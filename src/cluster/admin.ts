/**
 * The primary's admin listener with --workers: the same address and routes
 * as a single gateway's, answered for the whole cluster.
 *
 *   GET /metrics   every worker's registry, summed by prom-client's AggregatorRegistry
 *                  (gauges of reachability and lag by min/max, see observe/metrics.ts)
 *   GET /healthz   200 while the primary runs
 *   GET /readyz    200 when every worker listens, else 503 + how many do
 *   GET /          a short text: the per-worker status page is not aggregated
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { AggregatorRegistry } from 'prom-client'
import type { ResolvedOptions } from '../options.js'
import { listenOn } from '../server/listener.js'

export interface ClusterState {
  readonly size: number
  /** Workers whose gateway listens now. */
  readonly listening: number
  readonly stopping: boolean
}

type Handler = (res: http.ServerResponse) => void | Promise<void>

const TEXT = 'text/plain; charset=utf-8'
const NO_STORE = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' }

export class ClusterAdmin {
  private readonly options: ResolvedOptions
  private readonly cluster: ClusterState
  // Constructing it also installs the primary's listener for workers' answers.
  private readonly registry = new AggregatorRegistry()
  private readonly server: http.Server
  private readonly routes: ReadonlyMap<string, Handler>

  constructor (options: ResolvedOptions, cluster: ClusterState) {
    this.options = options
    this.cluster = cluster
    this.routes = new Map<string, Handler>([
      ['/metrics', async (res) => send(res, 200, this.registry.contentType, await this.registry.clusterMetrics())],
      ['/healthz', (res) => send(res, 200, TEXT, 'ok\n')],
      ['/readyz', (res) => this.sendReadiness(res)],
      ['/', (res) => send(res, 200, TEXT, `mqtt-ws-gateway: ${cluster.size} worker processes. The live status page is per process and is not served with --workers; /metrics sums every worker.\n`)]
    ])
    this.server = http.createServer(this.onRequest)
    this.server.on('clientError', (_err, socket) => socket.destroy())
  }

  /** Rejects with a ListenError (option adminPort) when the port cannot be bound. */
  async listen (): Promise<AddressInfo> {
    return await listenOn(this.server, 'adminPort', this.options.adminPort, this.options.adminHost)
  }

  async close (): Promise<void> {
    if (!this.server.listening) return
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.server.closeAllConnections()
    await closed
  }

  private sendReadiness (res: http.ServerResponse): void {
    const { size, listening, stopping } = this.cluster
    if (stopping) send(res, 503, TEXT, 'not ready: closing (the gateway is shutting down)\n')
    else if (listening < size) send(res, 503, TEXT, `not ready: workers (${listening} of ${size} listening)\n`)
    else send(res, 200, TEXT, 'ready\n')
  }

  private readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const handler = this.routes.get(new URL(req.url ?? '/', 'http://admin').pathname)
    if (handler === undefined) return send(res, 404, TEXT, 'not found\n')
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, TEXT, 'method not allowed\n', { Allow: 'GET, HEAD' })
    Promise.resolve(handler(res)).catch((err: unknown) => {
      // A worker that died during the scrape: prom-client gives up after 5 s.
      if (!res.headersSent) send(res, 500, TEXT, `${(err as Error).message}\n`)
      else res.destroy()
    })
  }
}

function send (res: http.ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...NO_STORE, ...headers, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

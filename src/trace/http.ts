/**
 * The trace endpoints of the admin listener:
 *
 *   GET    /api/trace?client=…      a trace, streamed while the request lasts:
 *                                   NDJSON, or Server-Sent Events (format=sse
 *                                   or Accept: text/event-stream)
 *   GET    /api/traces              the traces running, with their viewers
 *   POST   /api/traces?client=…     a detached trace, into --trace-file: 201 {id}
 *   DELETE /api/traces/<id>         stops a trace
 *   GET    /api/connections?q=…     the live connections, newest first, a page at a time
 *
 * Criteria (repeatable, OR'ed): conn, client, clientPrefix, ip (address or
 * CIDR), topic (MQTT filter). Options: payload=<bytes> (a PUBLISH payload
 * prefix, at most 1024; default 0: sizes only), duration=<seconds> (default
 * 600, at most --trace-max-duration), text=1 (each event also in words).
 * Every request passes access.ts first.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { TraceRequestError } from '../errors.js'
import type { Logger } from '../observe/logger.js'
import type { ResolvedOptions } from '../options.js'
import { AdminAccess } from './access.js'
import { MAX_PAYLOAD_PREFIX } from './decoder.js'
import { parseFilter } from './filters.js'
import type { TraceRegistry } from './registry.js'
import type { Requester } from './session.js'
import { Subscriber } from './subscriber.js'
import type { Framing, Outlet } from './subscriber.js'

export const DEFAULT_DURATION_S = 600
/** Rows of the connection list per page, at most: a page of 10,000 connections would be megabytes. */
const MAX_PAGE = 200
/** A viewer that cannot take the last lines is closed this long after the end. */
const END_GRACE_MS = 10_000
/** A comment line this often keeps proxies from closing a quiet SSE stream. */
const SSE_HEARTBEAT_MS = 15_000

const NO_STORE = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' }

export class TraceApi {
  private readonly registry: TraceRegistry
  private readonly options: ResolvedOptions
  private readonly logger: Logger
  readonly access: AdminAccess

  constructor (registry: TraceRegistry, options: ResolvedOptions, logger: Logger) {
    this.registry = registry
    this.options = options
    this.logger = logger
    this.access = new AdminAccess(options.adminToken, options.adminHost)
    if (this.access.disabled) {
      logger.warn({ event: 'trace_disabled', adminHost: options.adminHost },
        `admin listener on ${options.adminHost} without --admin-token: traces and the connection list are refused (403); set --admin-token to use them`)
    }
  }

  /** Whether `path` is one of these endpoints. */
  handles (path: string): boolean {
    return path === '/api/trace' || path === '/api/traces' || path.startsWith('/api/traces/') || path === '/api/connections'
  }

  handle (req: IncomingMessage, res: ServerResponse, url: URL): void {
    try {
      const by = this.access.check(req)
      this.route(req, res, url, by)
    } catch (caught) {
      // Nothing a request does may throw out of the admin listener's handler.
      const err = caught instanceof TraceRequestError ? caught : new TraceRequestError('MWG_ERR_TRACE_INTERNAL', String(caught))
      if (!(caught instanceof TraceRequestError)) this.logger.error({ event: 'trace_error', err: String(caught) }, 'trace request failed')
      if (err.status === 401 || err.status === 403) {
        this.logger.warn({ event: 'trace_refused', remote: req.socket.remoteAddress, path: url.pathname, reason: err.code }, `admin request refused: ${err.message}`)
      }
      sendError(res, err)
    }
  }

  private route (req: IncomingMessage, res: ServerResponse, url: URL, by: Requester): void {
    const method = req.method ?? 'GET'
    const path = url.pathname
    if (path === '/api/trace') return this.expect(method, ['GET'], () => this.stream(req, res, url.searchParams, by))
    if (path === '/api/connections') return this.expect(method, ['GET', 'HEAD'], () => sendJson(res, 200, this.connections(url.searchParams)))
    if (path === '/api/traces' && method === 'POST') return this.detached(res, url.searchParams, by)
    if (path === '/api/traces') return this.expect(method, ['GET', 'HEAD', 'POST'], () => sendJson(res, 200, { traces: this.registry.list(), tracedConnections: this.registry.tracedConnections }))
    return this.expect(method, ['DELETE'], () => this.stop(res, path.slice('/api/traces/'.length), by))
  }

  private expect (method: string, allowed: string[], then: () => void): void {
    if (!allowed.includes(method)) throw new TraceRequestError('MWG_ERR_TRACE_PARAM', `use ${allowed.join(' or ')}`)
    then()
  }

  /** GET /api/trace: the trace lives as long as this response, or its duration. */
  private stream (req: IncomingMessage, res: ServerResponse, params: URLSearchParams, by: Requester): void {
    const spec = parseFilter(params)
    const settings = this.settings(params, false)
    const framing: Framing = params.get('format') === 'sse' || (params.get('format') === null && /text\/event-stream/.test(req.headers.accept ?? '')) ? 'sse' : 'ndjson'
    const outlet = new ResponseOutlet(res, framing)
    const label = `${by.address}${by.token === undefined ? '' : ` (token ${by.token})`} ${framing}`
    const viewer = new Subscriber(outlet, framing, this.registry.limits, label, params.get('text') === '1')
    // Refusals (limits) are thrown before anything is written: they get a status and a JSON body.
    const session = this.registry.start(spec, settings, by, viewer)
    outlet.begin(session.id)
    res.on('close', () => viewer.gone())
  }

  /** POST /api/traces: a trace with no viewer, into the trace file. */
  private detached (res: ServerResponse, params: URLSearchParams, by: Requester): void {
    const session = this.registry.start(parseFilter(params), this.settings(params, true), by)
    sendJson(res, 201, { id: session.id, filter: session.description, endsAt: new Date(session.endsAt).toISOString(), file: this.options.traceFile })
  }

  private stop (res: ServerResponse, id: string, by: Requester): void {
    if (!/^\d+$/.test(id) || !this.registry.stop(Number(id), by)) throw new TraceRequestError('MWG_ERR_TRACE_NOT_FOUND', `no trace ${id} is running`)
    res.writeHead(204, NO_STORE)
    res.end()
  }

  private settings (params: URLSearchParams, detached: boolean): { payloadBytes: number, durationMs: number, detached: boolean } {
    const payloadBytes = integerParam(params, 'payload', 0, 0, MAX_PAYLOAD_PREFIX)
    const duration = integerParam(params, 'duration', Math.min(DEFAULT_DURATION_S, this.options.traceMaxDuration), 1, this.options.traceMaxDuration)
    return { payloadBytes, durationMs: duration * 1000, detached }
  }

  /** GET /api/connections: newest first; `q` searches client id, address, broker and connection number. */
  private connections (params: URLSearchParams): Record<string, unknown> {
    const q = (params.get('q') ?? '').trim().toLowerCase()
    const limit = integerParam(params, 'limit', 50, 1, MAX_PAGE)
    const offset = integerParam(params, 'offset', 0, 0, Number.MAX_SAFE_INTEGER)
    const all = [...this.registry.liveConnections()]
    const matches = q === '' ? all : all.filter((bridge) => matchesSearch(bridge.snapshot(), q))
    const page = matches.reverse().slice(offset, offset + limit)
    return {
      total: all.length,
      matched: matches.length,
      offset,
      limit,
      rows: page.map((bridge) => ({ ...bridge.snapshot(), ageMs: Math.round(bridge.snapshot().ageMs), traced: this.registry.isTraced(bridge.connectionId) }))
    }
  }
}

function matchesSearch (s: { connectionId: number, clientId: string | undefined, remoteAddress: string, broker: string | undefined }, q: string): boolean {
  return (s.clientId ?? '').toLowerCase().includes(q) || s.remoteAddress.toLowerCase().includes(q) ||
    (s.broker ?? '').toLowerCase().includes(q) || `#${s.connectionId}` === q || String(s.connectionId) === q
}

function integerParam (params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = params.get(name)
  if (raw === null || raw === '') return fallback
  const n = Number(raw)
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new TraceRequestError('MWG_ERR_TRACE_PARAM', `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`)
  return n
}

/** An HTTP response as a trace outlet: headers once the trace is accepted, lines, a bounded end. */
class ResponseOutlet implements Outlet {
  private readonly res: ServerResponse
  private readonly framing: Framing
  private heartbeat: NodeJS.Timeout | undefined
  /** Lines of the trace's start, written before the headers could be. */
  private early: string[] | undefined = []

  constructor (res: ServerResponse, framing: Framing) {
    this.res = res
    this.framing = framing
  }

  /** Sends the headers (the trace was accepted); lines written before this wait in the response. */
  begin (traceId: number): void {
    if (this.res.headersSent) return
    this.res.writeHead(200, {
      ...NO_STORE,
      'Content-Type': this.framing === 'sse' ? 'text/event-stream; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      'X-Trace-Id': String(traceId),
      // nginx and others would otherwise hold the stream back.
      'X-Accel-Buffering': 'no'
    })
    const early = this.early?.join('') ?? ''
    this.early = undefined
    if (early !== '') this.res.write(early)
    else this.res.flushHeaders()
    if (this.framing === 'sse') {
      this.heartbeat = setInterval(() => { if (!this.res.writableNeedDrain) this.res.write(': keep-alive\n\n') }, SSE_HEARTBEAT_MS).unref()
      this.res.once('close', () => clearInterval(this.heartbeat))
    }
  }

  write (chunk: string): boolean {
    if (this.early === undefined) return this.res.write(chunk)
    this.early.push(chunk)
    return true
  }

  onDrain (callback: () => void): void {
    this.res.once('drain', callback)
  }

  end (last?: string): void {
    clearInterval(this.heartbeat)
    if (this.res.writableEnded) return
    this.res.end(last)
    // A viewer that reads nothing more never takes the last lines: close it.
    const res = this.res
    setTimeout(() => { if (!res.writableFinished) res.destroy() }, END_GRACE_MS).unref()
  }
}

function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { ...NO_STORE, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) })
  res.end(res.req.method === 'HEAD' ? undefined : text)
}

function sendError (res: ServerResponse, err: TraceRequestError): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  if (err.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="mqtt-ws-gateway admin"')
  sendJson(res, err.status, { error: err.code, message: err.message })
}

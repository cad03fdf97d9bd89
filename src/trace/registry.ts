/**
 * The gateway's traces: starts and stops them, and puts a tap (watch.ts) on
 * each connection a trace selects, when the fact that selects it becomes
 * known: the address when the connection opens (from its first byte), the
 * client id at its CONNECT (its bytes replayed from the start by the
 * bridge), a topic at the first PUBLISH or SUBSCRIBE that matches, or at once
 * for a connection already live.
 *
 * Nothing here runs while no trace does: the lifecycle channels are
 * subscribed only while a trace runs, the gateway tells of new connections
 * only then, and a connection no trace selects has no tap. While a topic
 * trace runs, every connection gets a light tap that reads the topics of
 * its PUBLISH and SUBSCRIBE packets: that is the one criterion that costs
 * something on connections not (yet) traced.
 *
 * Bounds: --max-traces traces at once (the next one is refused), at most
 * --max-traced-connections connections traced at once (further matches are
 * reported and counted, not traced), and each trace ends after its duration.
 */
import { TraceRequestError } from '../errors.js'
import { subscribe } from '../events.js'
import type { ConnectionCloseEvent, ConnectionConnectEvent, ConnectionOpenEvent, GatewayRef } from '../events.js'
import type { AcceptedUpgrade } from '../server/upgrade.js'
import type { Logger } from '../observe/logger.js'
import type { ResolvedOptions } from '../options.js'
import { PacketType } from '../wire/mqtt.js'
import { TraceEvent } from './event.js'
import type { EventBody } from './event.js'
import type { TraceFilterSpec } from './filters.js'
import { RotatingFile } from './rotating-file.js'
import { TraceSession } from './session.js'
import type { EndReason, Requester, SessionSettings } from './session.js'
import { Subscriber } from './subscriber.js'
import type { QueueLimits } from './subscriber.js'
import { ConnectionWatch } from './watch.js'
import type { WatchedBridge, WatchHost } from './watch.js'

export interface TraceHost {
  readonly gateway: GatewayRef
  readonly options: ResolvedOptions
  readonly logger: Logger
  /** The gateway's live connections. */
  liveBridges (): Iterable<WatchedBridge>
}

/** Per-viewer queue bounds; test knobs, not options. */
export type TraceLimits = QueueLimits

export const defaultTraceLimits: Readonly<TraceLimits> = {
  maxEvents: 1000,
  maxBytes: 1024 * 1024,
  // Ten seconds without reading while events arrive: the viewer is gone or hung.
  stallMs: 10_000
}

/** The handshake facts of a connection opened while tracing, until its CONNECT. */
interface Pending {
  bridge: WatchedBridge
  open: TraceEvent | undefined
}

export class TraceRegistry implements WatchHost {
  readonly limits: TraceLimits
  private readonly host: TraceHost
  private readonly sessions = new Map<number, TraceSession>()
  private readonly watches = new Map<number, ConnectionWatch>()
  private readonly pending = new Map<number, Pending>()
  private topicSessions: TraceSession[] = []
  private traced = 0
  private nextId = 1
  private unsubscribe: (() => void) | undefined
  private file: RotatingFile | undefined
  private fileSubscriber: Subscriber | undefined
  private closing = false

  constructor (host: TraceHost, limits: Partial<TraceLimits> = {}) {
    this.host = host
    this.limits = { ...defaultTraceLimits, ...limits }
  }

  /** True while any trace runs: only then does the gateway report new connections. */
  get active (): boolean {
    return this.sessions.size > 0
  }

  /** Connections traced now, over all traces. */
  get tracedConnections (): number {
    return this.traced
  }

  /** The live connections, oldest first (for the connection list). */
  liveConnections (): Iterable<WatchedBridge> {
    return this.host.liveBridges()
  }

  isTraced (connectionId: number): boolean {
    return (this.watches.get(connectionId)?.sessions.length ?? 0) > 0
  }

  get fileEnabled (): boolean {
    return this.host.options.traceFile !== undefined
  }

  /**
   * Starts a trace; `viewer` (an HTTP stream) gets every event from the
   * first. Throws TraceRequestError when a limit or the request says no.
   */
  start (spec: TraceFilterSpec, settings: SessionSettings, by: Requester, viewer?: Subscriber): TraceSession {
    this.checkStart(spec, settings)
    const session = new TraceSession(this.nextId++, spec, settings, by)
    if (this.fileEnabled) session.add(this.openFile())
    if (viewer !== undefined) this.addViewer(session, viewer)
    this.sessions.set(session.id, session)
    if (session.filter.byTopic) this.topicSessions.push(session)
    session.timer = setTimeout(() => this.end(session, 'duration'), settings.durationMs).unref()
    this.host.logger.info({
      event: 'trace_start', trace: session.id, filter: session.description, durationMs: settings.durationMs,
      payloadBytes: settings.payloadBytes, detached: settings.detached, by
    }, `trace ${session.id} started by ${who(by)}: ${session.description}`)
    session.emit(session.startEvent())
    if (this.unsubscribe === undefined) this.subscribeLifecycle()
    this.attachLive(session)
    return session
  }

  /** Stops trace `id` at `by`'s request; false when no such trace runs. */
  stop (id: number, by: Requester): boolean {
    const session = this.sessions.get(id)
    if (session === undefined) return false
    this.end(session, 'stopped', by)
    return true
  }

  list (): Record<string, unknown>[] {
    return [...this.sessions.values()].map((s) => s.summary())
  }

  /** The gateway closes: every trace ends, the file is flushed. */
  async close (): Promise<void> {
    this.closing = true
    for (const session of [...this.sessions.values()]) this.end(session, 'gateway_closing')
    await this.file?.close()
  }

  /** From the gateway, while a trace runs: a connection opened (before its first byte is read). */
  onOpen (bridge: WatchedBridge, e: ConnectionOpenEvent, upgrade: AcceptedUpgrade): void {
    const open = new TraceEvent(openBody(e, upgrade, this.host.options.clientAddressHeader))
    this.pending.set(bridge.connectionId, { bridge, open })
    for (const session of this.sessions.values()) {
      if (session.filter.matchesOpen(bridge.connectionId, bridge.remoteAddress) === undefined) continue
      const watch = this.attach(bridge, session, 0)
      if (watch !== undefined) session.emit(open)
    }
    if (this.topicSessions.length > 0) this.lookAtTopics(bridge, 0)
  }

  // ── starting and ending ────────────────────────────────────────────────

  private checkStart (spec: TraceFilterSpec, settings: SessionSettings): void {
    if (this.closing) throw new TraceRequestError('MWG_ERR_TRACE_CLOSING', 'the gateway is shutting down')
    const max = this.host.options.maxTraces
    if (this.sessions.size >= max) throw new TraceRequestError('MWG_ERR_TRACE_LIMIT', `${max} traces run already (--max-traces): stop one first`)
    if (settings.detached && !this.fileEnabled) throw new TraceRequestError('MWG_ERR_TRACE_NO_FILE', 'a detached trace writes to the trace file: start the gateway with --trace-file')
    const onlyConnections = spec.connections.length > 0 && spec.clients.length + spec.clientPrefixes.length + spec.addresses.length + spec.topics.length === 0
    if (onlyConnections && !this.anyLive(spec.connections)) {
      throw new TraceRequestError('MWG_ERR_TRACE_NOT_FOUND', `no live connection ${spec.connections.map((c) => `#${c}`).join(', ')}`)
    }
  }

  private anyLive (ids: readonly number[]): boolean {
    for (const bridge of this.host.liveBridges()) if (ids.includes(bridge.connectionId)) return true
    return false
  }

  private addViewer (session: TraceSession, viewer: Subscriber): void {
    session.add(viewer)
    viewer.onClosed = (subscriber, why) => {
      session.remove(subscriber)
      if (session.viewers === 0 && !session.settings.detached) this.end(session, why === 'cut_off' ? 'viewer_cut_off' : 'viewer_gone')
    }
  }

  private openFile (): Subscriber {
    if (this.fileSubscriber !== undefined) return this.fileSubscriber
    const { traceFile, traceFileSize, traceFileCount } = this.host.options
    const file = new RotatingFile(traceFile as string, traceFileSize, traceFileCount, (err) => {
      this.host.logger.error({ event: 'trace_file_error', file: traceFile, err: err.message }, `trace file ${traceFile as string} failed: ${err.message}; trace events are no longer written to it`)
    })
    try {
      file.open()
    } catch (err) {
      const problem = (err as NodeJS.ErrnoException).code ?? (err as Error).message
      this.host.logger.error({ event: 'trace_file_error', file: traceFile, err: problem }, `trace file ${traceFile as string} cannot be opened: ${problem}`)
      throw new TraceRequestError('MWG_ERR_TRACE_FILE', `cannot open --trace-file ${traceFile as string}: ${problem}`)
    }
    this.file = file
    this.fileSubscriber = new Subscriber(file, 'ndjson', { ...this.limits, stallMs: undefined }, 'file')
    this.fileSubscriber.shared = true
    return this.fileSubscriber
  }

  private end (session: TraceSession, reason: EndReason, by?: Requester): void {
    if (!this.sessions.delete(session.id)) return
    this.topicSessions = this.topicSessions.filter((s) => s !== session)
    const dropped = session.dropped
    session.end(reason)
    for (const id of session.connections) {
      const watch = this.watches.get(id)
      if (watch === undefined) continue
      watch.remove(session)
      if (watch.sessions.length === 0) this.traced--
      if (watch.sessions.length === 0 && (this.topicSessions.length === 0 || this.closing)) this.detach(watch)
    }
    if (this.topicSessions.length === 0) for (const watch of [...this.watches.values()]) this.stopLookingAtTopics(watch)
    this.host.logger.info({
      event: 'trace_stop', trace: session.id, reason, events: session.events, connections: session.tracedTotal,
      skipped: session.skipped, dropped, by: by ?? session.by
    }, `trace ${session.id} ended (${reason})${by === undefined ? '' : ` by ${who(by)}`}`)
    if (this.sessions.size === 0) this.quiet()
  }

  /** No trace runs: no subscription, no tap, nothing kept. */
  private quiet (): void {
    this.unsubscribe?.()
    this.unsubscribe = undefined
    for (const watch of [...this.watches.values()]) this.detach(watch)
    this.pending.clear()
    this.traced = 0
  }

  // ── attaching ──────────────────────────────────────────────────────────

  /** The live connections `session` selects now; pre-CONNECT ones wait in `pending` for their client id. */
  private attachLive (session: TraceSession): void {
    const byClient = session.filter.spec.clients.length + session.filter.spec.clientPrefixes.length > 0
    // `pending` is kept from the first trace on: the first one fills it.
    const first = this.sessions.size === 1
    for (const bridge of this.host.liveBridges()) {
      const id = bridge.connectionId
      const snapshot = byClient || first ? bridge.snapshot() : undefined
      if (first && snapshot?.clientId === undefined) this.pending.set(id, { bridge, open: undefined })
      const matched = session.filter.matchesOpen(id, bridge.remoteAddress) ?? session.filter.matchesClientId(snapshot?.clientId)
      if (matched !== undefined) this.attachLate(bridge, session, matched)
      else if (session.filter.byTopic) this.lookAtTopics(bridge, bridge.clientPacketRemainder)
    }
  }

  /** A trace joins a connection already under way: it says so, with what the connection did so far. */
  private attachLate (bridge: WatchedBridge, session: TraceSession, matched: string): void {
    const watch = this.attach(bridge, session, bridge.clientPacketRemainder)
    if (watch === undefined) return
    const s = bridge.snapshot()
    watch.emitTo(session, {
      type: 'attached', dir: 'gateway', matched, remote: s.remoteAddress, phase: s.phase, version: s.protocolVersion,
      broker: s.broker, ageMs: Math.round(s.ageMs), bytesFromClient: s.bytesFromClient, bytesToClient: s.bytesToClient,
      packetsFromClient: s.packetsFromClient, packetsToClient: s.packetsToClient, buffered: s.bufferedBytes
    })
    if (watch.connectEvent !== undefined) session.emit(watch.connectEvent)
  }

  /**
   * `session` follows `bridge` from now on, within the cap on traced
   * connections. `skip`: client bytes of a packet under way, for a new tap.
   */
  private attach (bridge: WatchedBridge, session: TraceSession, skip: number): ConnectionWatch | undefined {
    const existing = this.watches.get(bridge.connectionId)
    if (existing?.has(session) === true) return existing
    const max = this.host.options.maxTracedConnections
    if ((existing === undefined || existing.sessions.length === 0) && this.traced >= max) {
      session.limitReached(bridge.connectionId, max)
      return undefined
    }
    const watch = existing ?? this.watch(bridge, skip)
    if (watch.sessions.length === 0) this.traced++
    watch.add(session)
    session.connections.add(bridge.connectionId)
    session.tracedTotal++
    return watch
  }

  private watch (bridge: WatchedBridge, skip: number): ConnectionWatch {
    // A connection before its CONNECT has no version or client id to tell.
    const s = this.pending.has(bridge.connectionId) ? undefined : bridge.snapshot()
    const watch = new ConnectionWatch(bridge, this, skip, s?.protocolVersion, s?.clientId)
    this.watches.set(bridge.connectionId, watch)
    bridge.tap = watch
    return watch
  }

  private detach (watch: ConnectionWatch): void {
    if (watch.bridge.tap === watch) watch.bridge.tap = undefined
    this.watches.delete(watch.bridge.connectionId)
    if (watch.sessions.length > 0) this.traced--
    for (const session of watch.sessions) session.connections.delete(watch.bridge.connectionId)
  }

  private lookAtTopics (bridge: WatchedBridge, skip: number): void {
    const watch = this.watches.get(bridge.connectionId) ?? this.watch(bridge, skip)
    watch.sniffing = true
  }

  private stopLookingAtTopics (watch: ConnectionWatch): void {
    watch.sniffing = false
    if (watch.sessions.length === 0) this.detach(watch)
  }

  /** WatchHost: topics seen on a connection; the topic traces they match attach to it. */
  offerTopics (watch: ConnectionWatch, type: number, topics: readonly string[]): void {
    for (const session of this.topicSessions) {
      if (watch.has(session)) continue
      const topic = type === PacketType.PUBLISH
        ? topics.find((t) => session.filter.matchesTopic(t))
        : topics.find((f) => session.filter.overlapsFilter(f))
      if (topic === undefined) continue
      this.attachLate(watch.bridge, session, `topic ${JSON.stringify(topic)} (${type === PacketType.PUBLISH ? 'PUBLISH' : 'SUBSCRIBE'})`)
    }
  }

  // ── lifecycle events ───────────────────────────────────────────────────

  private subscribeLifecycle (): void {
    this.unsubscribe = subscribe(this.host.gateway, {
      connect: (e) => this.onConnect(e),
      upstream: (e) => this.emitOn(e.connectionId, { type: 'upstream', dir: 'gateway', broker: e.broker, connectMs: round(e.connectMs) }),
      backpressure: (e) => this.onBackpressure(e.connectionId, e.slowSide, e.paused),
      takeover: (e) => {
        this.emitOn(e.previousConnectionId, { type: 'takeover', dir: 'gateway', by: e.connectionId })
        this.emitOn(e.connectionId, { type: 'takeover', dir: 'gateway', replaces: e.previousConnectionId })
      },
      close: (e) => this.onClose(e)
    })
  }

  private emitOn (connectionId: number, body: EventBody): void {
    this.watches.get(connectionId)?.emit(body)
  }

  /**
   * A CONNECT passed: traces by client id attach here. A tap new on this
   * connection is given its bytes from the start by the bridge once this
   * returns; a tap already there has decoded the CONNECT.
   */
  private onConnect (e: ConnectionConnectEvent): void {
    const entry = this.pending.get(e.connectionId)
    this.pending.delete(e.connectionId)
    const existing = this.watches.get(e.connectionId)
    if (existing !== undefined) existing.clientId = e.clientId
    const bridge = entry?.bridge ?? existing?.bridge
    if (bridge === undefined) return
    for (const session of this.sessions.values()) {
      if (existing?.has(session) === true || session.filter.matchesClientId(e.clientId) === undefined) continue
      const watch = this.attach(bridge, session, 0)
      if (watch === undefined) continue
      if (entry?.open !== undefined) session.emit(entry.open)
      if (watch === existing && watch.connectEvent !== undefined) session.emit(watch.connectEvent)
    }
  }

  private onBackpressure (connectionId: number, slowSide: 'client' | 'broker', paused: boolean): void {
    const watch = this.watches.get(connectionId)
    if (watch === undefined || watch.sessions.length === 0) return
    const s = watch.bridge.snapshot()
    watch.emit({ type: 'backpressure', dir: 'gateway', slowSide, paused, bufferedToClient: s.bufferedToClient, bufferedToBroker: s.bufferedToBroker })
  }

  private onClose (e: ConnectionCloseEvent): void {
    this.pending.delete(e.connectionId)
    const watch = this.watches.get(e.connectionId)
    if (watch === undefined) return
    if (watch.clientId === undefined && e.clientId !== undefined) watch.clientId = e.clientId
    watch.emit({
      type: 'close', dir: 'gateway', initiator: e.initiator, reason: e.reason, code: e.closeCode, detail: e.detail,
      durationMs: round(e.durationMs), bytesFromClient: e.bytesFromClient, bytesToClient: e.bytesToClient,
      packetsFromClient: e.packetsFromClient, packetsToClient: e.packetsToClient, connack: e.connackCode
    })
    const sessions = [...watch.sessions]
    this.detach(watch)
    for (const session of sessions) if (this.followsOnlyGone(session, e.connectionId)) this.end(session, 'connection_closed')
  }

  /** A trace of given connections only, all of them closed (`closed` just now): nothing more can come. */
  private followsOnlyGone (session: TraceSession, closed: number): boolean {
    const spec = session.filter.spec
    if (spec.clients.length + spec.clientPrefixes.length + spec.addresses.length + spec.topics.length > 0) return false
    return session.connections.size === 0 && !spec.connections.some((id) => id !== closed && (this.pending.has(id) || this.isLive(id)))
  }

  private isLive (id: number): boolean {
    for (const bridge of this.host.liveBridges()) if (bridge.connectionId === id) return true
    return false
  }
}

/** The handshake, as a trace shows it: never the token, only the claims the gateway used. */
function openBody (e: ConnectionOpenEvent, upgrade: AcceptedUpgrade, addressHeader: string): EventBody {
  const link = upgrade.link
  const body: EventBody = {
    type: 'open',
    dir: 'gateway',
    conn: e.connectionId,
    client: null,
    remote: e.remotePort === undefined ? e.remoteAddress : formatEndpoint(e.remoteAddress, e.remotePort),
    path: e.path,
    subprotocol: e.subprotocol,
    origin: upgrade.origin,
    handshakeMs: round(e.handshakeMs),
    broker: typeof link === 'function' ? undefined : link.broker,
    upstreamConnectMs: e.upstreamConnectMs === undefined ? undefined : round(e.upstreamConnectMs)
  }
  if (upgrade.peerAddress !== undefined && upgrade.peerAddress !== e.remoteAddress) {
    body.peer = upgrade.peerAddress
    body.addressFrom = addressHeader
  }
  const auth = upgrade.auth
  if (auth !== undefined) {
    body.token = {
      clientId: auth.clientId,
      username: auth.username,
      expiresAt: auth.expiresAt === undefined ? undefined : new Date(auth.expiresAt).toISOString()
    }
  }
  return body
}

function formatEndpoint (address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

function who (by: Requester): string {
  return by.token === undefined ? by.address : `${by.address} (token ${by.token})`
}

function round (ms: number): number {
  return Math.round(ms * 1000) / 1000
}

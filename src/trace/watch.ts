/**
 * The tap on one connection (bridge/tap.ts) while a trace watches it, or
 * while a topic trace looks for matching topics on it.
 *
 * Traced, it decodes every packet both ways and hands each trace one event
 * per packet, control frame and lifecycle event. Only looked at for topics
 * (no trace follows it yet), it reads no more than the topic of each PUBLISH
 * and the filters of each SUBSCRIBE, and tells the registry, which attaches
 * the traces they match. A connection neither traced nor looked at has no
 * tap at all: the bridge pays one property check per chunk.
 */
import type { ConnectionSnapshot } from '../bridge/bridge.js'
import type { ConnectionTap, ControlFrameKind } from '../bridge/tap.js'
import { PacketType } from '../wire/mqtt.js'
import { PacketAssembler } from './assembler.js'
import type { PacketHead } from './assembler.js'
import { describePacket, packetType, topicsOf, TRACE_HEAD_LIMIT } from './decoder.js'
import type { PacketFacts } from './decoder.js'
import { instant, TraceEvent } from './event.js'
import type { Direction, EventBody } from './event.js'
import type { TraceSession } from './session.js'

/** What a trace needs of a bridge. */
export interface WatchedBridge {
  readonly connectionId: number
  readonly remoteAddress: string
  tap: ConnectionTap | undefined
  /** Client bytes still to forward before the next packet starts (0 at a boundary). */
  readonly clientPacketRemainder: number
  snapshot (): ConnectionSnapshot
}

export interface WatchHost {
  /** Topics seen on a connection while topic traces run: the registry attaches those they match. */
  offerTopics (watch: ConnectionWatch, type: number, topics: readonly string[]): void
}

/** Body bytes read of a PUBLISH or SUBSCRIBE on a connection only looked at for topics. */
const SNIFF_HEAD_LIMIT = 4096

export class ConnectionWatch implements ConnectionTap {
  readonly bridge: WatchedBridge
  readonly sessions: TraceSession[] = []
  /** Topic traces run: look at this connection's topics. */
  sniffing = false
  clientId: string | undefined
  /** MQTT version, for decoding: the CONNECT's, or 4 until it is known. */
  version: number
  /** The CONNECT, for traces that attach later. */
  connectEvent: TraceEvent | undefined
  private readonly host: WatchHost
  private readonly up: PacketAssembler
  private readonly down: PacketAssembler
  private pingSentAt: number | undefined
  private lastTraffic: number | undefined

  /** `skip`: client bytes of a packet already under way when the watch begins. */
  constructor (bridge: WatchedBridge, host: WatchHost, skip: number, version: number | undefined, clientId: string | undefined) {
    this.bridge = bridge
    this.host = host
    this.version = version ?? 4
    this.clientId = clientId
    const limit = (type: number): number => this.headLimit(type)
    this.up = new PacketAssembler(limit, (p) => this.onPacket('client->broker', p), (d) => this.onLost('client->broker', d), skip)
    this.down = new PacketAssembler(limit, (p) => this.onPacket('broker->client', p), (d) => this.onLost('broker->client', d))
  }

  has (session: TraceSession): boolean {
    return this.sessions.includes(session)
  }

  add (session: TraceSession): void {
    if (!this.has(session)) this.sessions.push(session)
  }

  remove (session: TraceSession): void {
    const i = this.sessions.indexOf(session)
    if (i >= 0) this.sessions.splice(i, 1)
  }

  // ── ConnectionTap ──────────────────────────────────────────────────────

  fromClient (bytes: Buffer): void {
    this.up.feed(bytes)
  }

  toClient (parts: readonly Buffer[], _size: number): void {
    for (const part of parts) this.down.feed(part)
  }

  control (direction: 'in' | 'out', kind: ControlFrameKind, code?: number, reason?: string): void {
    const now = performance.now()
    const idleFor = this.lastTraffic === undefined ? undefined : now - this.lastTraffic
    this.lastTraffic = now
    if (this.sessions.length === 0) return
    const dir: Direction = direction === 'in' ? 'client->gateway' : 'gateway->client'
    const body: EventBody = { type: 'ws', dir, frame: kind }
    if (kind === 'close') {
      body.code = code
      body.reason = reason
    } else if (kind === 'ping' && direction === 'out') {
      this.pingSentAt = now
      body.idle = true
      if (idleFor !== undefined) body.idleMs = round(idleFor)
    } else if (kind === 'pong' && direction === 'in' && this.pingSentAt !== undefined) {
      body.rttMs = round(now - this.pingSentAt)
      this.pingSentAt = undefined
    }
    this.emit(body, now)
  }

  // ── events ─────────────────────────────────────────────────────────────

  /** An event of this connection to every trace that watches it. */
  emit (body: EventBody, mono?: number): void {
    if (this.sessions.length === 0) return
    const event = new TraceEvent(this.stamp(body), mono === undefined ? undefined : instant(mono))
    for (const session of this.sessions) session.emit(event)
  }

  /** An event to one trace only (it just attached). */
  emitTo (session: TraceSession, body: EventBody): void {
    session.emit(new TraceEvent(this.stamp(body)))
  }

  private stamp (body: EventBody): EventBody {
    return Object.assign({ conn: this.bridge.connectionId, client: this.clientId ?? null }, body)
  }

  private headLimit (type: number): number {
    if (this.sessions.length > 0 || type === PacketType.CONNECT) return TRACE_HEAD_LIMIT
    return this.sniffing && (type === PacketType.PUBLISH || type === PacketType.SUBSCRIBE) ? SNIFF_HEAD_LIMIT : 0
  }

  private onPacket (dir: Direction, p: PacketHead): void {
    this.lastTraffic = performance.now()
    const type = packetType(p.first)
    if (type === PacketType.CONNECT && dir === 'client->broker') return this.onConnect(p)
    if (this.sniffing && (type === PacketType.PUBLISH || type === PacketType.SUBSCRIBE)) {
      const topics = topicsOf(type, p.head, this.version)
      if (topics.length > 0) this.host.offerTopics(this, type, topics)
    }
    if (this.sessions.length === 0) return
    this.emitPacket(dir, p)
  }

  /** CONNECT: decoded even when only looked at, for its version and for traces that attach later. */
  private onConnect (p: PacketHead): void {
    const facts = describePacket(p, 4, 0)
    if (typeof facts.version === 'number') this.version = facts.version
    if (typeof facts.clientId === 'string') this.clientId = facts.clientId
    this.connectEvent = new TraceEvent(this.stamp(packetBody('client->broker', facts)))
    for (const session of this.sessions) session.emit(this.connectEvent)
  }

  /** One decode per payload size asked for (mostly one), shared by the traces that asked it. */
  private emitPacket (dir: Direction, p: PacketHead): void {
    const at = instant()
    const done: number[] = []
    for (const session of this.sessions) {
      const n = session.settings.payloadBytes
      if (done.includes(n)) continue
      done.push(n)
      const event = new TraceEvent(this.stamp(packetBody(dir, describePacket(p, this.version, n))), at)
      for (const s of this.sessions) if (s.settings.payloadBytes === n) s.emit(event)
    }
  }

  private onLost (dir: Direction, detail: string): void {
    this.emit({ type: 'error', dir, detail: `cannot follow the ${dir} packets any more: ${detail}` })
  }
}

function packetBody (dir: Direction, facts: PacketFacts): EventBody {
  return Object.assign({ type: 'packet', dir } as EventBody, facts)
}

function round (ms: number): number {
  return Math.round(ms * 1000) / 1000
}

/**
 * One client connection's life: the client's channel on one side, the
 * broker on the other. The bridge composes the parts, each in a file of its
 * own, and decides what their verdicts mean for the connection:
 *
 *   client channel (ws/channel.ts) ─▶ CONNECT gate (connect-gate.ts)
 *     ─▶ ClientPackets (packet-flow.ts) ─▶ up: Direction ─▶ broker
 *   broker ─▶ BrokerPackets ─▶ down: Direction ─▶ client channel
 *
 * with the state machine (lifecycle.ts), one timer for every deadline
 * (deadlines.ts), the broker connect after the CONNECT (deferred-upstream.ts),
 * the idle pinger, takeover (registry.ts) and a tap for live tracing.
 * Writes are corked per event-loop turn. Only the first packet of each side
 * (CONNECT, CONNACK) is parsed; after that the bridge is a byte pipe that
 * reads fixed headers only.
 */
import type { Duplex } from 'node:stream'
import { closeReasons, CloseCode, UnreadOverflowError } from '../errors.js'
import type { CloseReason } from '../errors.js'
import { publish } from '../events.js'
import type { GatewayRef } from '../events.js'
import { connackCode, connackServerUnavailable, DISCONNECT_SESSION_TAKEN_OVER, lastDisconnectReason, REASON_SESSION_TAKEN_OVER } from '../mqtt/first-packets.js'
import { connackText, reasonText } from '../mqtt/reason-codes.js'
import type { ResolvedOptions } from '../options.js'
import type { TokenGrant } from '../server/jwt.js'
import type { OpenUpstream, UpstreamLink } from '../upstream/upstream.js'
import { PacketType } from '../wire/mqtt.js'
import type { ChannelSink, ClientChannel } from '../ws/channel.js'
import { endOnce } from '../io/end-once.js'
import { adoptReads, settleReads } from '../io/read-ring.js'
import { ConnectGate } from './connect-gate.js'
import { Deadline, Deadlines } from './deadlines.js'
import { DeferredUpstream } from './deferred-upstream.js'
import { Direction } from './direction.js'
import type { DirectionHost } from './direction.js'
import type { DeadlineKind, DeadlineOwner } from './deadlines.js'
import { IdlePinger } from './idle-ping.js'
import { Lifecycle } from './lifecycle.js'
import { BrokerPackets, ClientPackets, MALFORMED, OVERSIZE } from './packet-flow.js'
import type { Phase } from './lifecycle.js'
import type { IdlePingHost } from './idle-ping.js'
import type { ClientRegistry, TakeoverTarget } from './registry.js'
import type { ConnectionTap } from './tap.js'
import { flushAtEndOfTurn } from './turn-batcher.js'
import type { TurnFlushable } from './turn-batcher.js'

export interface BridgeContext {
  readonly gateway: GatewayRef
  readonly options: ResolvedOptions
  readonly registry: ClientRegistry
  onBridgeClosed (bridge: Bridge): void
}

export interface BridgeEndpoints {
  connectionId: number
  /** The client side, message by message (lean frames, or permessage-deflate through ws). */
  channel: ClientChannel
  /** The broker connection, or how to open it once the CONNECT names the client. */
  upstream: UpstreamLink | OpenUpstream
  remoteAddress: string
  /** What the client's token grants, when the upgrade checked one. */
  auth?: TokenGrant | undefined
}

/**
 * Each socket points back to its bridge, so one listener function per event
 * serves every connection (`this` is the socket), as in ws: a closure per
 * event per connection was ~1 KB of every idle connection's heap.
 */
const kBridge = Symbol('bridge')
type Tagged = Duplex & { [kBridge]?: Bridge }

export interface ConnectionSnapshot {
  connectionId: number
  clientId: string | undefined
  remoteAddress: string
  broker: string | undefined
  phase: Phase
  ageMs: number
  bytesFromClient: number
  bytesToClient: number
  packetsFromClient: number
  packetsToClient: number
  bufferedBytes: number
  protocolVersion: number | undefined
  bufferedToClient: number
  bufferedToBroker: number
}

/** CONNACK's fixed header byte: type 2, no flags [MQTT-3.2.1]. */
const CONNACK_HEADER_BYTE = 0x20
const NOTHING_HELD: readonly Buffer[] = []

export class Bridge implements ChannelSink, IdlePingHost, DeadlineOwner, DirectionHost, TakeoverTarget, TurnFlushable {
  readonly connectionId: number
  readonly remoteAddress: string
  private readonly ctx: BridgeContext
  /** The client side, message by message (lean frames, or permessage-deflate through ws). */
  private readonly channel: ClientChannel
  /** Undefined only while the broker is chosen by client id and not yet connected. */
  private upstream: Duplex | undefined
  private readonly openUpstream: OpenUpstream | undefined
  /** The connect after CONNECT in flight: client bytes wait in it. */
  private upstreamOpening: DeferredUpstream | undefined
  private broker: string | undefined
  /** Where each direction cuts the stream into packets, with their size limits. */
  private readonly fromClient: ClientPackets
  private readonly toClient: BrokerPackets
  private readonly pinger: IdlePinger | undefined
  private readonly openedAt = performance.now()
  private readonly auth: TokenGrant | undefined

  private readonly life = new Lifecycle()
  /** Shutdown: the code of our close frame. */
  private shutdownCode: number = CloseCode.goingAway
  private readonly deadlines = new Deadlines(this)
  private closeFrameSent = false
  private clientClosed = false
  private upstreamClosed = false

  // First packets.
  /** Until the CONNECT passed; then dropped, so an idle connection does not keep it. */
  private gate: ConnectGate | undefined
  /** Packets a client may send after its CONNECT before the CONNACK (the embedded broker queues them). */
  private readonly packetsBeforeConnack: number
  private clientId: string | undefined
  private protocolVersion: number | undefined
  private connack: number | undefined
  private connackSeen = false
  /** The reason of the broker's DISCONNECT (MQTT 5), when it sent one: 0x8E means the client id connected elsewhere. */
  private brokerDisconnectReason: number | undefined

  // Turn batching and backpressure, each way (up: to the broker; down: to
  // the client). The broker's write buffer over the high-water mark stops
  // reading the client; the client's stops reading both.
  private readonly up: Direction
  private readonly down: Direction
  private flushScheduled = false
  /** The latest ping's payload, answered once at the end of the turn [RFC 6455 §5.5.3]. */
  private pongDue: Buffer | undefined
  /** Why the drain deadline ends the connection, when it does. */
  private drainReason: 'client_drain_timeout' | 'broker_drain_timeout' = 'client_drain_timeout'

  /** Live tracing: set while a trace watches this connection (see tap.ts). */
  tap: ConnectionTap | undefined

  // Counters for the close log line.
  lastOutbound = performance.now()
  bytesFromClient = 0
  bytesToClient = 0
  private closeWaiters: (() => void)[] = []

  constructor (ctx: BridgeContext, endpoints: BridgeEndpoints) {
    this.ctx = ctx
    this.connectionId = endpoints.connectionId
    this.remoteAddress = endpoints.remoteAddress
    if (typeof endpoints.upstream === 'function') {
      this.openUpstream = endpoints.upstream
      // Nothing to close on that side until the connect after CONNECT.
      this.upstreamClosed = true
    } else {
      this.upstream = endpoints.upstream.stream
      this.broker = endpoints.upstream.broker
    }
    this.auth = endpoints.auth
    this.packetsBeforeConnack = ctx.options.upstream === undefined ? ctx.options.brokerQueueLimit : Infinity
    // Until the broker accepts the client, a small cap keeps unauthenticated
    // clients from making the gateway handle large messages.
    const limitBeforeConnack = Math.min(ctx.options.maxMessageSizeBeforeConnack, ctx.options.maxMessageSize)
    this.gate = new ConnectGate(limitBeforeConnack, ctx.options, endpoints.auth)
    this.channel = endpoints.channel
    this.channel.maxMessageSize = limitBeforeConnack
    this.fromClient = new ClientPackets(limitBeforeConnack)
    this.toClient = new BrokerPackets(ctx.options.maxMessageSize)
    const pingMs = ctx.options.wsPingIdle * 1000
    this.pinger = pingMs > 0 ? new IdlePinger(this, pingMs) : undefined
    this.down = new Direction('client', this, ctx.options.highWaterMark)
    this.up = new Direction('broker', this, ctx.options.highWaterMark)
  }

  /** Wires both sides; `head` holds client bytes that arrived with the upgrade request. */
  start (head: Buffer): void {
    this.down.attach(this.channel.writeSide)
    if (this.upstream !== undefined) this.listenToUpstream(this.upstream)
    // Until CONNACK a deadline watches the connection (the CONNECT's, then
    // the broker's answer); the idle pinger takes over after it.
    this.deadlines.set(Deadline.connect, this.ctx.options.firstPacketTimeout)
    if (this.auth?.expiresAt !== undefined) this.onTokenExpiry()
    this.channel.start(this, head)
  }

  private listenToUpstream (upstream: Duplex): void {
    // Once the sink is known: the client's reads go into reused memory
    // when both sides are plain sockets (see read-ring.ts).
    adoptReads(this.channel.rawSocket, upstream)
    this.up.attach(upstream)
    ;(upstream as Tagged)[kBridge] = this
    upstream.on('data', Bridge.upstreamData)
    upstream.on('end', Bridge.upstreamEnd)
    upstream.on('error', Bridge.upstreamError)
    upstream.on('close', Bridge.upstreamClose)
  }

  // One function per event for all bridges; `this` is the tagged socket.
  private static upstreamData (this: Tagged, chunk: Buffer): void { this[kBridge]?.onUpstreamData(chunk) }
  private static upstreamEnd (this: Tagged): void { this[kBridge]?.onUpstreamEnd() }
  private static upstreamError (this: Tagged, err: NodeJS.ErrnoException): void { this[kBridge]?.onUpstreamError(err) }
  private static upstreamClose (this: Tagged): void { this[kBridge]?.onUpstreamClose() }

  // ── client → broker ────────────────────────────────────────────────────

  /**
   * FrameSink: unmasked MQTT bytes from the client, in order. The packet
   * size limit holds per MQTT packet, however it is cut into messages: a
   * fixed header not yet complete is held back (at most 4 bytes), so no byte
   * of a packet goes upstream before its size is known to be allowed.
   */
  onPayload (buf: Buffer, start: number, end: number): void {
    if (!this.life.live) return
    const admitted = this.fromClient.admit(buf, start, end)
    if (admitted === MALFORMED) return this.fail('malformed_packet', 'remaining length longer than 4 bytes')
    if (admitted === OVERSIZE) {
      const { currentPacketSize, maxPacketSize } = this.fromClient.scanner
      return this.fail('message_too_big', `packet of ${currentPacketSize} bytes exceeds the ${maxPacketSize}-byte limit`)
    }
    // The embedded broker queues what comes after the CONNECT until it
    // answers, up to --broker-queue-limit packets: past that, the gateway
    // refuses, before the broker sees one more.
    if (!this.connackSeen && this.fromClient.scanner.packets - 1 > this.packetsBeforeConnack) {
      return this.fail('queue_limit', `more than ${this.packetsBeforeConnack} packets before the broker's CONNACK (--broker-queue-limit)`)
    }
    for (let i = 0; i < admitted.length; i++) this.forward(admitted[i] as Buffer)
  }

  /** Client bytes whose packets are within the limit: to the CONNECT gate, then upstream. */
  private forward (bytes: Buffer): void {
    this.bytesFromClient += bytes.length
    if (this.tap !== undefined) this.tap.fromClient(bytes)
    if (this.gate !== undefined) this.gatherConnect(this.gate, bytes)
    else this.writeUpstream(bytes)
  }

  private writeUpstream (bytes: Buffer): void {
    const upstream = this.upstream
    if (upstream === undefined) {
      this.holdUntilUpstreamOpen(bytes)
      return
    }
    this.up.cork()
    upstream.write(bytes)
    this.up.checkBuffer()
  }

  /** Offers the client's bytes to the CONNECT gate until it opens. */
  private gatherConnect (gate: ConnectGate, bytes: Buffer): void {
    const verdict = gate.offer(bytes)
    if (verdict.kind === 'wait') return
    if (verdict.connect !== undefined) {
      this.clientId = verdict.connect.clientId
      this.protocolVersion = verdict.connect.protocolVersion
    }
    if (verdict.kind === 'refuse') return this.fail(verdict.reason, verdict.detail)
    this.gate = undefined
    const connect = verdict.connect
    this.life.on(this.upstream === undefined ? 'connect_deferred' : 'connect')
    this.deadlines.clear(Deadline.connect)
    this.deadlines.set(Deadline.connack, this.ctx.options.connackTimeout)
    const tap = this.tap
    publish('connect', {
      gateway: this.ctx.gateway,
      connectionId: this.connectionId,
      clientId: connect.clientId,
      protocolVersion: connect.protocolVersion,
      keepalive: connect.keepalive
    })
    // A trace that attached on this CONNECT (by client id) sees the bytes from the start.
    if (this.tap !== tap) this.tap?.fromClient(verdict.bytes)
    // An empty client id asks the broker to assign one: nothing to take over.
    if (connect.clientId !== '') this.takeOverPrevious(connect.clientId)
    if (this.upstream === undefined) this.connectUpstream(connect.clientId, verdict.bytes)
    else this.writeUpstream(verdict.bytes)
  }

  /** The broker depends on the client id: connect now that the CONNECT named it. */
  private connectUpstream (clientId: string, connectPacket: Buffer): void {
    const opening = new DeferredUpstream(connectPacket)
    this.upstreamOpening = opening
    opening.open(this.openUpstream as OpenUpstream, clientId).then(link => this.onUpstreamOpened(link), (err: unknown) => this.onUpstreamUnavailable(err))
  }

  /** The broker is being connected: hold the client's bytes; past the high-water mark the rest waits in its socket. */
  private holdUntilUpstreamOpen (bytes: Buffer): void {
    if (this.upstreamOpening?.hold(bytes, this.ctx.options.highWaterMark) === true) this.channel.pause()
  }

  private onUpstreamOpened (link: UpstreamLink): void {
    const opening = this.upstreamOpening
    this.upstreamOpening = undefined
    // A client that closed cleanly meanwhile still has its packets delivered.
    if (opening === undefined || (!this.life.live && !opening.endWhenOpen)) {
      link.stream.destroy()
      this.finishIfDone()
      return
    }
    this.upstream = link.stream
    this.broker = link.broker
    this.upstreamClosed = false
    this.life.on('broker_connected')
    publish('upstream', { gateway: this.ctx.gateway, connectionId: this.connectionId, broker: link.broker, connectMs: link.connectMs })
    this.listenToUpstream(link.stream)
    for (const bytes of opening.take()) this.writeUpstream(bytes)
    if (opening.endWhenOpen) this.endUpstreamAfterFlush()
    else this.readClientIfAllowed()
  }

  private onUpstreamUnavailable (err: unknown): void {
    this.upstreamOpening = undefined
    this.refuseAsUnavailable('upstream_unreachable', err instanceof Error ? err.message : String(err))
    this.finishIfDone()
  }

  /**
   * No usable broker for a client that has sent its CONNECT: say it in MQTT,
   * as a broker that is down would (CONNACK "server unavailable"), so
   * clients back off instead of reconnecting at once; then close.
   */
  private refuseAsUnavailable (reason: 'upstream_unreachable' | 'connack_timeout' | 'broker_protocol_error', detail: string): void {
    if (!this.life.live) return
    const connack = connackServerUnavailable(this.protocolVersion ?? 4)
    this.connackSeen = true
    this.connack = connackCode(connack)
    this.sendToClient([connack], connack.length)
    this.fail(reason, detail)
  }

  /** Drops the broker connection at once, or the connect still in flight. */
  private destroyUpstream (): void {
    this.upstream?.destroy()
    // The connect rejects, and onUpstreamUnavailable finishes the teardown.
    this.upstreamOpening?.cancel()
  }

  private takeOverPrevious (clientId: string): void {
    const previous = this.ctx.registry.claim(clientId, this)
    if (previous === undefined) return
    publish('takeover', {
      gateway: this.ctx.gateway,
      clientId,
      previousConnectionId: previous.connectionId,
      connectionId: this.connectionId
    })
    previous.takeOver()
  }

  /** TakeoverTarget: a newer connection claimed this client id. */
  takeOver (): void {
    // Only live bridges hold a registry entry (beginClose releases it).
    if (!this.life.live) return
    // Tell the old client what a broker would have told it.
    if (this.protocolVersion === 5) this.sendToClient([DISCONNECT_SESSION_TAKEN_OVER], DISCONNECT_SESSION_TAKEN_OVER.length)
    this.beginClose('takeover', 'client id connected again', CloseCode.normal)
    // Both sockets go now, before the new CONNECT is written upstream.
    this.destroyUpstream()
    this.sendCloseFrame(CloseCode.normal, 'session taken over')
    this.flushTurn()
    this.channel.end()
  }

  // ── broker → client ────────────────────────────────────────────────────

  private onUpstreamData (chunk: Buffer): void {
    // After our close frame no data frame may follow [RFC 6455 §5.5.1].
    if (!this.life.sendsToClient) return
    const flow = this.toClient
    // [MQTT-3.2.0-1] a broker's first packet is CONNACK: anything else (an
    // HTTP server, a wrong port) is never passed on as if it were MQTT.
    if (!this.connackSeen && flow.heldBytes === 0 && chunk[0] !== CONNACK_HEADER_BYTE) {
      this.refuseAsUnavailable('broker_protocol_error', `broker's first bytes are not a CONNACK (0x${(chunk[0] ?? 0).toString(16).padStart(2, '0')})`)
      return
    }
    const refusal = flow.cut(chunk)
    if (refusal === MALFORMED) return this.fail('broker_error', 'broker sent a malformed remaining length')
    if (flow.size > 0) {
      if (!this.connackSeen) this.readConnack(flow.parts)
      // A broker's DISCONNECT is its last packet; read its reason then only.
      if (flow.scanner.lastType === PacketType.DISCONNECT && this.protocolVersion === 5) this.readBrokerDisconnect(flow.parts, flow.size)
      this.sendToClient(flow.parts, flow.size)
      flow.release()
    }
    if (refusal === OVERSIZE) {
      const { currentPacketSize, maxPacketSize } = flow.scanner
      this.fail('message_too_big', `broker packet of ${currentPacketSize} bytes exceeds the ${maxPacketSize}-byte limit`)
    }
  }

  private readBrokerDisconnect (parts: Buffer[], size: number): void {
    const packets = parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts, size)
    this.brokerDisconnectReason = lastDisconnectReason(packets)
  }

  private readConnack (parts: Buffer[]): void {
    this.connackSeen = true
    this.life.on('connack')
    // The connection is up: the idle pinger now watches it.
    this.deadlines.clear(Deadline.connack)
    this.pinger?.start()
    const first = parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts)
    this.connack = connackCode(first)
    // 0 = accepted, in MQTT 3.1.1 and 5 alike.
    if (this.connack === 0) this.channel.maxMessageSize = this.fromClient.scanner.maxPacketSize = this.ctx.options.maxMessageSize
  }

  /** Sends `parts` (whole MQTT packets, `size` bytes) as one binary message. */
  private sendToClient (parts: Buffer[], size: number): void {
    if (this.tap !== undefined) this.tap.toClient(parts, size)
    this.down.cork()
    this.channel.sendMessage(parts, size)
    this.bytesToClient += size
    this.lastOutbound = performance.now()
    this.down.checkBuffer()
  }

  /** DirectionHost */
  scheduleFlush (): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    flushAtEndOfTurn(this)
  }

  /** TurnFlushable: the end of the event-loop turn; send what was batched. */
  flushTurn (): void {
    this.flushScheduled = false
    if (this.pongDue !== undefined) {
      const payload = this.pongDue
      this.pongDue = undefined
      if (!this.closeFrameSent && this.channel.writable) {
        this.tap?.control('out', 'pong')
        this.channel.sendPong(payload)
        this.down.checkBuffer()
      }
    }
    this.down.flush()
    this.up.flush()
    // What went out may now be read over (see read-ring.ts). The frame
    // reader keeps no view of the client's chunks.
    settleReads(this.upstream, this.channel.rawSocket, this.toClient.held)
    settleReads(this.channel.rawSocket, this.upstream, NOTHING_HELD)
  }

  // ── backpressure ───────────────────────────────────────────────────────
  //
  // Every write to the client, data or control, counts: a client whose
  // outbound buffer is over the high-water mark is not read (whatever it
  // sends may need an answer, as a ping does) and its broker is not read
  // either. Either side that stays over the mark past the drain timeout is
  // disconnected. So one socket's buffer never holds much more than the
  // mark plus one read and one packet, whatever its peer does.

  /** DirectionHost: a side stopped reading what we write to it. */
  onSlow (direction: Direction): void {
    // The client's bytes may need an answer (a ping does): not read either way.
    this.channel.pause()
    if (direction === this.down) this.upstream?.pause()
    this.startDrainTimer(direction === this.down ? 'client_drain_timeout' : 'broker_drain_timeout')
    publish('backpressure', { gateway: this.ctx.gateway, connectionId: this.connectionId, slowSide: direction.towards, paused: true })
  }

  /** DirectionHost */
  onDrained (direction: Direction): void {
    this.stopDrainTimer()
    if (direction === this.down && this.life.live) this.upstream?.resume()
    this.readClientIfAllowed()
    publish('backpressure', { gateway: this.ctx.gateway, connectionId: this.connectionId, slowSide: direction.towards, paused: false })
  }

  /** Reads the client again unless something still holds it back. */
  private readClientIfAllowed (): void {
    if (!this.life.live || this.up.slow || this.down.slow) return
    if (this.upstreamOpening?.isFull(this.ctx.options.highWaterMark) === true) return
    this.channel.resume()
  }

  private startDrainTimer (reason: 'client_drain_timeout' | 'broker_drain_timeout'): void {
    if (this.deadlines.isSet(Deadline.drain)) return
    this.drainReason = reason
    this.deadlines.set(Deadline.drain, this.ctx.options.drainTimeout)
  }

  private stopDrainTimer (): void {
    if (this.up.slow || this.down.slow) return
    this.deadlines.clear(Deadline.drain)
  }

  // ── control frames and liveness ────────────────────────────────────────

  onPing (payload: Buffer): void {
    this.tap?.control('in', 'ping')
    if (this.life.phase === 'closed' || this.closeFrameSent) return
    // Pings in one turn get one pong, for the latest [RFC 6455 §5.5.3]: a
    // ping flood cannot make the gateway write more than it reads.
    this.pongDue = payload
    this.down.cork()
  }

  onPong (): void {
    this.tap?.control('in', 'pong')
    // Any inbound frame is proof of life; the channel already noted it.
  }

  /** IdlePingHost */
  sendPing (): void {
    if (!this.life.sendsToClient || !this.channel.writable) return
    this.tap?.control('out', 'ping')
    this.down.cork()
    this.channel.sendPing()
    this.down.checkBuffer()
  }

  /** IdlePingHost */
  onIdleTimeout (): void {
    this.fail('idle_timeout', `no frame from the client for ${this.ctx.options.wsPingIdle} s after a ping`)
  }

  private onFirstPacketTimeout (): void {
    this.fail('connect_timeout', `no CONNECT within ${this.ctx.options.firstPacketTimeout} ms`)
  }

  private onConnackTimeout (): void {
    this.refuseAsUnavailable('connack_timeout', `no CONNACK from ${this.broker ?? 'the broker'} within ${this.ctx.options.connackTimeout} ms`)
  }

  /** Sets the deadline that ends the connection when its token expires (re-set after a wall-clock jump). */
  private onTokenExpiry (): void {
    const left = (this.auth?.expiresAt ?? 0) - Date.now()
    if (left > 0) this.deadlines.set(Deadline.token, left)
    else this.fail('token_expired', 'token expired')
  }

  /** DeadlineOwner: one of the connection's deadlines has come. */
  onDeadline (kind: DeadlineKind): void {
    switch (kind) {
      case Deadline.connect: return this.onFirstPacketTimeout()
      case Deadline.connack: return this.onConnackTimeout()
      case Deadline.drain: return this.fail(this.drainReason, `no drain within ${this.ctx.options.drainTimeout} ms`)
      case Deadline.close: return this.life.phase === 'draining' ? this.onShutdownUnanswered() : this.onCloseTimeout()
      case Deadline.token: return this.onTokenExpiry()
      case Deadline.idle: return this.pinger?.check()
    }
  }

  /** IdlePingHost */
  scheduleIdleCheck (ms: number): void {
    this.deadlines.set(Deadline.idle, ms)
  }

  // ── teardown ───────────────────────────────────────────────────────────

  /** FrameSink: the client sent a close frame. */
  onCloseFrame (code: number, reason: string): void {
    this.tap?.control('in', 'close', code, reason)
    if (this.life.phase === 'draining') {
      // The client answered our shutdown close: all it sent before is upstream.
      this.beginClose('shutdown', 'gateway shutting down', this.shutdownCode)
      this.endUpstreamAfterFlush()
    } else if (this.life.live) {
      this.beginClose('client_close', reason === '' ? undefined : reason, code)
      // Everything the client sent before its close frame is already
      // written upstream; end() sends it all, then the FIN.
      this.endUpstreamAfterFlush()
      this.sendCloseFrame(code === 1005 ? CloseCode.normal : code, '')
    }
    // Our close frame (if we sent one first) is now answered: close TCP.
    this.channel.end()
  }

  /** FrameSink: the client broke a framing rule. */
  onFrameError (reason: CloseReason, detail: string): void {
    this.fail(reason, detail)
  }

  onClientEnd (): void {
    if (this.life.live) {
      this.beginClose('client_end', 'TCP FIN without a close frame', undefined)
      this.endUpstreamAfterFlush()
    }
    this.channel.end()
  }

  onClientError (err: NodeJS.ErrnoException): void {
    if (!this.life.live) return // e.g. EPIPE on our close frame: the upstream still flushes
    this.beginClose('client_error', err.code ?? err.message, undefined)
    // A client that vanished gets no more bytes upstream: drop the broker
    // connection now, or the broker sees this client id live twice.
    this.destroyUpstream()
  }

  onClientClose (): void {
    this.clientClosed = true
    if (this.life.live) {
      this.beginClose('client_error', 'connection lost', undefined)
      this.destroyUpstream()
    }
    this.finishIfDone()
  }

  private onUpstreamEnd (): void {
    if (this.life.live) {
      const [reason, detail] = this.whyBrokerEnded()
      this.beginClose(reason, detail, CloseCode.normal)
      this.closeClientAfterFrame(CloseCode.normal, 'broker closed the connection')
    }
    endOnce(this.upstream)
  }

  private whyBrokerEnded (): [CloseReason, string] {
    const said = this.brokerDisconnectReason
    if (said === REASON_SESSION_TAKEN_OVER) return ['broker_takeover', 'session taken over: the client id connected elsewhere (DISCONNECT 0x8E)']
    // A broker closes the connection right after the client's DISCONNECT:
    // then the client, not the broker, ended the session.
    if (this.fromClient.scanner.lastType === PacketType.DISCONNECT) return ['client_disconnect', 'broker closed the connection']
    // Any CONNACK code but 0 is a refusal, in MQTT 3.1.1 and 5 alike.
    if (this.connack !== undefined && this.connack !== 0) {
      return ['connack_refused', `broker refused the CONNECT: ${connackText(this.connack, this.protocolVersion ?? 4)}`]
    }
    // An MQTT 5 broker says why it ends a connection (0x8B shutting down, 0x98 administrative action, ...).
    if (said !== undefined && said !== 0) return ['broker_close', `broker closed the connection: DISCONNECT ${reasonText(said, 5, 'disconnect')}`]
    return ['broker_close', 'broker closed the connection']
  }

  private onUpstreamError (err: NodeJS.ErrnoException): void {
    // The embedded broker wrote more than this client could be sent in time.
    if (err instanceof UnreadOverflowError) return this.fail('client_queue_full', err.message)
    if (this.life.live) {
      const detail = `broker connection failed: ${err.code ?? err.message}`
      this.beginClose('broker_error', detail, CloseCode.internalError)
      this.closeClientAfterFrame(CloseCode.internalError, 'broker connection failed')
    }
  }

  private onUpstreamClose (): void {
    this.upstreamClosed = true
    if (this.life.live) {
      this.beginClose('broker_error', 'broker connection lost', CloseCode.internalError)
      this.closeClientAfterFrame(CloseCode.internalError, 'broker connection lost')
    }
    this.finishIfDone()
  }

  /**
   * Closes the connection because of `reason`, detected by the gateway
   * (or, for broker_error, on the broker's side).
   */
  private fail (reason: CloseReason, detail: string): void {
    if (!this.life.live) return
    const code = closeReasons[reason].code
    this.beginClose(reason, detail, code)
    this.destroyUpstream()
    if (reason === 'client_drain_timeout' || reason === 'client_queue_full') {
      // Its buffer is full: not even a close frame would reach it.
      this.channel.destroy()
      return
    }
    if (reason === 'idle_timeout') {
      // The client is silent: a close handshake would only wait.
      this.sendCloseFrame(code, detail)
      this.flushTurn()
      this.channel.destroySoon()
      return
    }
    this.closeClientAfterFrame(code, detail)
  }

  /**
   * Gateway shutdown (1001 going away, or 1012 on restart): sends the close
   * frame but keeps forwarding what the client still sends until it answers,
   * so nothing it published before seeing our close is lost. A client that
   * does not answer within the close timeout is dropped; what it sent is
   * still delivered.
   */
  shutdown (code: number = CloseCode.goingAway): void {
    if (!this.life.on('shutdown')) return
    this.shutdownCode = code
    this.deadlines.clear(Deadline.idle)
    this.closeClientAfterFrame(code, 'gateway shutting down')
    this.deadlines.set(Deadline.close, this.ctx.options.closeTimeout)
  }

  /** The client did not answer our shutdown close: what it sent is still delivered. */
  private onShutdownUnanswered (): void {
    this.beginClose('shutdown', 'client did not answer the close', this.shutdownCode)
    this.endUpstreamAfterFlush()
    this.channel.destroy()
  }

  /** Writes our close frame, once: a second one would break the handshake. */
  private sendCloseFrame (code: number, reason: string): void {
    if (this.closeFrameSent) return
    this.closeFrameSent = true
    if (!this.channel.writable) return
    this.tap?.control('out', 'close', code, reason)
    this.down.cork()
    this.channel.sendClose(code, reason)
    this.down.checkBuffer()
  }

  private closeClientAfterFrame (code: number, reason: string): void {
    this.sendCloseFrame(code, reason)
    // Read on so the client's answering close frame arrives; then
    // onCloseFrame ends the TCP connection (or the close timer does).
    this.channel.resume()
  }

  private endUpstreamAfterFlush (): void {
    if (this.gate !== undefined) {
      // No complete CONNECT yet: nothing worth delivering.
      this.destroyUpstream()
      return
    }
    if (this.upstreamOpening !== undefined) {
      // The broker is being connected: deliver what waits, then end.
      this.upstreamOpening.endWhenOpen = true
      return
    }
    this.flushTurn()
    endOnce(this.upstream)
    // Read (and drop) what the broker still sends, so its FIN arrives.
    this.upstream?.resume()
  }

  /** Records who closed first and why; starts the close timer. Once only. */
  private beginClose (reason: CloseReason, detail: string | undefined, code: number | undefined): void {
    if (!this.life.close(reason, detail, code)) return
    // The reader goes on: data is dropped (state is no longer open), but the
    // client's answering close frame must still end the TCP connection.
    this.deadlines.clear(Deadline.idle)
    this.deadlines.clear(Deadline.connect)
    this.deadlines.clear(Deadline.connack)
    this.deadlines.clear(Deadline.token)
    if (this.clientId !== undefined) this.ctx.registry.release(this.clientId, this)
    this.deadlines.set(Deadline.close, this.ctx.options.closeTimeout)
  }

  private onCloseTimeout (): void {
    this.channel.destroy()
    if (this.upstreamOpening !== undefined) this.upstreamOpening.endWhenOpen = false
    this.destroyUpstream()
  }

  private finishIfDone (): void {
    if (!this.clientClosed || !this.upstreamClosed || this.upstreamOpening !== undefined) return
    if (!this.life.on('sockets_closed')) return
    this.deadlines.stop()
    publish('close', {
      gateway: this.ctx.gateway,
      connectionId: this.connectionId,
      remoteAddress: this.remoteAddress,
      clientId: this.clientId,
      protocolVersion: this.protocolVersion,
      connackCode: this.connack,
      broker: this.broker,
      initiator: this.life.record.initiator,
      reason: this.life.record.reason,
      closeCode: this.life.record.code,
      detail: this.life.record.detail,
      durationMs: performance.now() - this.openedAt,
      bytesFromClient: this.bytesFromClient,
      bytesToClient: this.bytesToClient,
      packetsFromClient: this.fromClient.scanner.packets,
      packetsToClient: this.toClient.scanner.packets
    })
    this.ctx.onBridgeClosed(this)
    for (const waiter of this.closeWaiters) waiter()
    this.closeWaiters = []
  }

  get packetsFromClient (): number { return this.fromClient.scanner.packets }
  get packetsToClient (): number { return this.toClient.scanner.packets }
  /** Bytes waiting in the gateway for either side. */
  get bufferedBytes (): number { return this.channel.writeSide.writableLength + (this.upstream?.writableLength ?? 0) + this.toClient.heldBytes }

  /** IdlePingHost: performance.now() of the last bytes from the client. */
  get lastInbound (): number { return this.channel.lastInbound }

  /** What the status page's connection table shows of this connection, read on demand. */
  snapshot (): ConnectionSnapshot {
    return {
      connectionId: this.connectionId,
      clientId: this.clientId,
      remoteAddress: this.remoteAddress,
      broker: this.broker,
      phase: this.life.phase,
      ageMs: performance.now() - this.openedAt,
      bytesFromClient: this.bytesFromClient,
      bytesToClient: this.bytesToClient,
      packetsFromClient: this.fromClient.scanner.packets,
      packetsToClient: this.toClient.scanner.packets,
      bufferedBytes: this.bufferedBytes,
      protocolVersion: this.protocolVersion,
      bufferedToClient: this.channel.writeSide.writableLength + this.toClient.heldBytes,
      bufferedToBroker: this.upstream?.writableLength ?? 0
    }
  }

  /**
   * Client bytes still to forward before the next packet starts: where a
   * tap set now begins to decode. A header not complete yet is held back,
   * not forwarded (see packet-flow.ts), so it counts as a packet start.
   */
  get clientPacketRemainder (): number {
    return this.fromClient.scanner.bodyBytesLeft
  }

  /** Calls `callback` once both sockets are closed. */
  onClosed (callback: () => void): void {
    if (this.life.phase === 'closed') callback()
    else this.closeWaiters.push(callback)
  }
}

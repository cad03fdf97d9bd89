/**
 * The embedded broker's outgoing queues: for each persistent session, the
 * QoS 1/2 messages it still owes its client, and on which connection each
 * was last sent. Given to Aedes as its persistence (retained messages,
 * subscriptions, wills and inbound QoS 2 stay with aedes-persistence's
 * in-memory store, which this class extends), together with two Aedes hooks.
 *
 * It replaces the in-memory store's outgoing queue to keep the delivery
 * guarantees across a reconnect that Aedes 1.2 with aedes-persistence 11
 * break (issue 13; docs/upstream/aedes-*.md):
 * - On a PUBREC, aedes-persistence renamed the first PUBREL already queued
 *   (undefined === undefined) instead of the message's own entry, so PUBRELs
 *   went out with the wrong identifier (the client never released the
 *   message) and completed messages stayed queued (sent again next time).
 *   Here a PUBREC turns the entry with that identifier into a PUBREL.
 * - On reconnect, Aedes restores the live subscriptions before it replays a
 *   copy of the queue, so a message could go out both live and in the
 *   replay; one the client had already acknowledged made the replay fail
 *   ("no such packet") and Aedes dropped the new connection. Here, from the
 *   moment a connection authenticates until its replay is over, the live
 *   path leaves queued messages to the replay (`authorizeForward` answers
 *   null), and the replay reads the live queue, new messages included, one
 *   at a time, ending only once it has sent everything: the session's
 *   messages reach the new connection once each and in publish order, as
 *   from Mosquitto. A replayed packet whose entry was acknowledged meanwhile
 *   (a late ack from the old connection) is skipped the same way.
 * - Packet identifiers of a session come from one allocator that skips those
 *   still in flight, so a resent message and a new one never share one.
 *   A message sent on an earlier connection is resent with its identifier
 *   and DUP set [MQTT-4.4.0-1] [MQTT-3.3.1-1].
 *
 * Only the session's newest connection (the latest to authenticate) may
 * take its messages: during a takeover the old connection is still
 * subscribed for a moment, and must not take them from the new one.
 */
import { createRequire } from 'node:module'
import { Readable } from 'node:stream'
import type { AedesPublishPacket, Client } from 'aedes'
import { PacketIdsExhaustedError } from '../errors.js'

/** What this class uses of aedes-persistence's in-memory class (its typings describe the callback API). */
interface MemoryPersistenceBase {
  setup (broker: unknown): Promise<void>
}

// aedes-persistence is CommonJS and declares no subpath types for its
// promise-based class, which Aedes 1.x calls directly.
const require = createRequire(import.meta.url)
const MemoryPersistence = require('aedes-persistence/asyncPersistence.js') as new () => MemoryPersistenceBase

/**
 * A packet as Aedes hands it to the persistence or reads it back from the
 * queue: a PUBLISH, or a PUBREL (from the client's PUBREC: identifier only;
 * from the replay: with the broker id and counter of its message).
 */
interface Queued {
  cmd: string
  messageId?: number | undefined
  brokerId?: string
  brokerCounter?: number
  qos?: number
  dup?: boolean
}

interface Entry {
  /** The message as queued, without a packet identifier. */
  readonly packet: Queued
  readonly key: string
  /** Its place in the queue. */
  readonly arrival: number
  /** 'pubrel' once the client's PUBREC arrived (QoS 2, second half). */
  cmd: 'publish' | 'pubrel'
  /** The identifier it was last sent with; undefined until sent. */
  messageId: number | undefined
  /** The connection it was last sent on. */
  sentOn: Client | undefined
}

const MAX_PACKET_ID = 65535

function counterKey (packet: Queued): string {
  return `${String(packet.brokerId)}/${String(packet.brokerCounter)}`
}

/** One session's queue, in publish order, with its indexes and its identifier allocator. */
class SessionQueue {
  /** Entries by arrival number: a replay walks it by number, so it sees entries added meanwhile. */
  private readonly entries = new Map<number, Entry>()
  private readonly byCounter = new Map<string, Entry>()
  private readonly byId = new Map<number, Entry>()
  readonly replays = new Set<ReplayStream>()
  private lastArrival = 0
  // Random, as Aedes's own: identifiers of a session's earlier queue may still be in flight.
  private nextId = 1 + Math.floor(Math.random() * MAX_PACKET_ID)

  /** Nothing queued and no replay reading: the queue can go. */
  get idle (): boolean { return this.entries.size === 0 && this.replays.size === 0 }

  /** Messages queued (sent or not, not yet acknowledged). */
  get size (): number { return this.entries.size }

  /** Queues `packet` at `qos`: the lower of its own and the subscription's [MQTT-3.8.4-8]; one entry per message. */
  add (packet: Queued, qos: number): void {
    const key = counterKey(packet)
    const known = this.byCounter.get(key)
    if (known !== undefined) {
      // Overlapping subscriptions: one message, at the highest QoS they grant [MQTT-3.3.5-1].
      known.packet.qos = Math.max(known.packet.qos ?? 0, qos)
      return
    }
    const arrival = ++this.lastArrival
    const entry: Entry = { packet: { ...packet, messageId: undefined, qos }, key, arrival, cmd: 'publish', messageId: undefined, sentOn: undefined }
    this.entries.set(arrival, entry)
    this.byCounter.set(key, entry)
    for (const replay of this.replays) replay.wake()
  }

  ofCounter (packet: Queued): Entry | undefined { return this.byCounter.get(counterKey(packet)) }
  ofId (messageId: number): Entry | undefined { return this.byId.get(messageId) }

  /** The first entry still queued that arrived after `after`. */
  next (after: number): Entry | undefined {
    for (let arrival = after + 1; arrival <= this.lastArrival; arrival++) {
      const entry = this.entries.get(arrival)
      if (entry !== undefined) return entry
    }
    return undefined
  }

  /** The next identifier not held by any entry; each is handed out once per 65535. */
  allocate (): number {
    for (let tries = 0; tries < MAX_PACKET_ID; tries++) {
      const id = this.nextId
      this.nextId = id === MAX_PACKET_ID ? 1 : id + 1
      if (!this.byId.has(id)) return id
    }
    throw new PacketIdsExhaustedError()
  }

  /** Records that `client` sends `entry` now, with identifier `id`. */
  claim (entry: Entry, client: Client, id: number): void {
    if (entry.messageId !== undefined && this.byId.get(entry.messageId) === entry) this.byId.delete(entry.messageId)
    entry.messageId = id
    entry.sentOn = client
    this.byId.set(id, entry)
  }

  remove (entry: Entry): void {
    this.entries.delete(entry.arrival)
    this.byCounter.delete(entry.key)
    if (entry.messageId !== undefined && this.byId.get(entry.messageId) === entry) this.byId.delete(entry.messageId)
  }

  /** The packet the replay sends for `entry`. */
  toSend (entry: Entry): Queued {
    const { brokerId, brokerCounter } = entry.packet
    const resent = entry.messageId !== undefined
    const messageId = entry.messageId ?? this.allocate()
    return entry.cmd === 'pubrel'
      ? { cmd: 'pubrel', messageId, brokerId, brokerCounter }
      : { ...entry.packet, messageId, dup: resent }
  }
}

/**
 * One connection's replay, as the stream Aedes reads after CONNACK: the
 * session's queue in order, entries added meanwhile included, one packet at
 * a time. It ends once nothing is left and Aedes has handled every packet it
 * read (`handled`), and only then lets the live path send (`onEnd(true)`;
 * `onEnd(false)` when the connection died first).
 * (A plain stream, not an async generator: a generator waiting for new
 * entries could not be interrupted when the connection dies.)
 */
class ReplayStream extends Readable {
  /** Messages (counter keys) read and not yet handled by Aedes. */
  private readonly pending = new Set<string>()
  private after = 0
  private waiting = false
  private over = false

  constructor (readonly client: Client, private readonly queue: SessionQueue, private readonly onEnd: (complete: boolean) => void) {
    super({ objectMode: true, highWaterMark: 1 })
    queue.replays.add(this)
  }

  override _read (): void { this.pump() }

  /** A new entry, or a packet handled: go on if the replay was waiting for one. */
  wake (): void {
    if (this.waiting) this.pump()
  }

  handled (key: string): void {
    if (this.pending.delete(key) && this.pending.size === 0) this.wake()
  }

  override _destroy (error: Error | null, callback: (error?: Error | null) => void): void {
    this.finish(false)
    callback(error)
  }

  private finish (complete: boolean): void {
    if (this.over) return
    this.over = true
    this.queue.replays.delete(this)
    this.onEnd(complete)
  }

  private pump (): void {
    this.waiting = false
    for (let entry = this.queue.next(this.after); entry !== undefined; entry = this.queue.next(this.after)) {
      this.after = entry.arrival
      if (entry.sentOn === this.client) continue
      this.pending.add(entry.key)
      if (!this.push(this.queue.toSend(entry))) return
    }
    if (this.pending.size > 0) {
      this.waiting = true
      return
    }
    // Everything read has been sent, nothing new came: from now on the live path sends.
    this.finish(true)
    this.push(null)
  }
}

export class SessionQueuePersistence extends MemoryPersistence {
  /**
   * Most messages kept for a session with no connection (0: no bound). A
   * client that subscribes with a persistent session and never comes back
   * must not make the broker hold every message of its topics for ever;
   * past the bound, new ones are not queued for it (Mosquitto's
   * max_queued_messages, 1,000 by default, does the same).
   */
  private readonly maxQueued: number
  /** Messages not queued for offline sessions because of maxQueued. */
  dropped = 0
  private readonly queues = new Map<string, SessionQueue>()
  /** The newest connection of each client id: the only one that may take its session's messages. */
  private readonly owners = new Map<string, Client>()
  /** Connections whose replay is not over yet: the live path leaves queued messages to it. */
  private readonly replaying = new WeakSet<Client>()
  /** Packets Aedes passed to outgoingUpdate: in authorizeForward, those come from the replay. */
  private readonly updated = new WeakSet<object>()
  /** Replayed packets not to send: sent on this connection already, or acknowledged meanwhile. */
  private readonly skipped = new WeakSet<object>()

  constructor (maxQueued = 0) {
    super()
    this.maxQueued = maxQueued
  }

  /** Aedes's `authenticate` hook: the embedded broker accepts everyone; this connection now owns its session. */
  readonly authenticate = (client: Client, _username: unknown, _password: unknown, done: (error: null, success: boolean) => void): void => {
    this.owners.set(client.id, client)
    this.replaying.add(client)
    done(null, true)
  }

  /** Aedes's `authorizeForward` hook: whether this delivery goes out, and with which packet identifier. */
  readonly authorizeForward = (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null => {
    if (this.updated.has(packet)) return this.skipped.has(packet) ? null : packet
    if (client.clean || packet.qos === 0) return packet
    return this.forwardLive(client, packet)
  }

  /** Sessions with a queue: those owed messages, or replaying. */
  get queuedSessions (): number { return this.queues.size }

  /** For the broker's 'clientDisconnect' event. */
  clientGone (client: Client): void {
    if (this.owners.get(client.id) === client) this.owners.delete(client.id)
  }

  async outgoingEnqueue (sub: { clientId: string, qos?: number }, packet: Queued): Promise<void> {
    this.enqueue(sub, packet)
  }

  async outgoingEnqueueCombi (subs: { clientId: string, qos?: number }[], packet: Queued): Promise<void> {
    for (const sub of subs) this.enqueue(sub, packet)
  }

  /**
   * Called before a packet is written: by the live path after its
   * authorizeForward, by the replay before it, and with a bare PUBREL
   * (no broker id) when the client's PUBREC arrives. Never rejects: Aedes
   * drops the connection when it does.
   */
  async outgoingUpdate (client: Client, packet: Queued): Promise<void> {
    const queue = this.queues.get(client.id)
    if (packet.brokerId === undefined) {
      const entry = queue?.ofId(packet.messageId ?? 0)
      if (entry !== undefined) entry.cmd = 'pubrel'
      return
    }
    this.updated.add(packet)
    const entry = queue?.ofCounter(packet)
    if (queue === undefined || entry === undefined || this.owners.get(client.id) !== client) {
      this.skipped.add(packet)
    } else if (entry.sentOn === client) {
      // The live path's own update carries the identifier it was given; any
      // other packet for this entry is the replay's, and it was sent already.
      if (packet.messageId !== entry.messageId) this.skipped.add(packet)
    } else {
      queue.claim(entry, client, packet.messageId ?? queue.allocate())
    }
    if (queue !== undefined) this.handled(queue, client, packet)
  }

  /** PUBACK and PUBCOMP (and Aedes's own clean-ups): the entry with that identifier is done. */
  async outgoingClearMessageId (client: Client, packet: Queued): Promise<Queued | undefined> {
    if (this.skipped.has(packet) || packet.messageId === undefined) return undefined
    const queue = this.queues.get(client.id)
    const entry = queue?.ofId(packet.messageId)
    if (queue === undefined || entry === undefined) return undefined
    queue.remove(entry)
    if (queue.idle) this.queues.delete(client.id)
    return entry.packet
  }

  /** The replay Aedes runs after CONNACK: over once everything queued, new messages included, is sent. */
  outgoingStream (client: Client): Readable {
    const queue = this.queues.get(client.id)
    if (queue === undefined) {
      // Nothing queued: what arrives from now on goes out live.
      this.replaying.delete(client)
      return Readable.from([])
    }
    return new ReplayStream(client, queue, (complete) => {
      if (complete) this.replaying.delete(client)
      if (queue.idle && this.queues.get(client.id) === queue) this.queues.delete(client.id)
    })
  }

  private enqueue (sub: { clientId: string, qos?: number }, packet: Queued): void {
    const qos = Math.min(packet.qos ?? 0, sub.qos ?? packet.qos ?? 0)
    const offline = !this.owners.has(sub.clientId)
    if (offline && this.maxQueued > 0 && (this.queues.get(sub.clientId)?.size ?? 0) >= this.maxQueued) {
      this.dropped++
      return
    }
    this.queueOf(sub.clientId).add(packet, qos)
  }

  private queueOf (clientId: string): SessionQueue {
    let queue = this.queues.get(clientId)
    if (queue === undefined) {
      queue = new SessionQueue()
      this.queues.set(clientId, queue)
    }
    return queue
  }

  private forwardLive (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    // A connection already taken over: the session lives on in the new one.
    if (this.owners.get(client.id) !== client) return null
    const queue = this.queues.get(client.id)
    // Not queued (a retained message sent on SUBSCRIBE): Aedes numbers it, unless identifiers are in flight here.
    if (queue === undefined) return packet
    const entry = packet.brokerId ? queue.ofCounter(packet) : undefined
    if (entry === undefined) return { ...packet, messageId: queue.allocate() }
    // The replay sends it (in order, with its identifier if it was sent before), or has sent it.
    if (this.replaying.has(client) || entry.sentOn === client || entry.messageId !== undefined) return null
    const messageId = queue.allocate()
    queue.claim(entry, client, messageId)
    return { ...packet, messageId }
  }

  /** Aedes has taken the replay's packet for `packet`'s message in hand: one fewer to wait for. */
  private handled (queue: SessionQueue, client: Client, packet: Queued): void {
    for (const replay of queue.replays) {
      if (replay.client === client) replay.handled(counterKey(packet))
    }
  }
}

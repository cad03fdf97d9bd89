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
 * - On reconnect, Aedes restores the live subscriptions before it replays
 *   the queue, so a message can go out both live and in the replay; one the
 *   client already acknowledged made the replay fail ("no such packet") and
 *   Aedes dropped the new connection. Here each entry records the connection
 *   that sent it, the first of the two paths to claim it sends it, and the
 *   other skips it: the live path through `authorizeForward` (called before
 *   it assigns a packet identifier), the replay through the same hook,
 *   called after `outgoingUpdate` for the packet in hand.
 * - Packet identifiers of a session come from one allocator that skips those
 *   still in flight, so a resent message and a new one never share one.
 *   A message sent on an earlier connection is resent with its identifier
 *   and DUP set (MQTT-4.4.0-1, MQTT-3.3.1-1), by the replay only.
 *
 * Only the session's newest connection (the latest to authenticate) may
 * claim: during a takeover the old connection is still subscribed for a
 * moment, and must not take messages from the new one.
 */
import { createRequire } from 'node:module'
import { Readable } from 'node:stream'
import type { AedesPublishPacket, Client } from 'aedes'

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
  dup?: boolean
}

interface Entry {
  /** The message as queued, without a packet identifier. */
  readonly packet: Queued
  readonly key: string
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

/** One session's queue, in publish order, with its two indexes and its identifier allocator. */
class SessionQueue {
  readonly entries = new Set<Entry>()
  private readonly byCounter = new Map<string, Entry>()
  private readonly byId = new Map<number, Entry>()
  private nextId = 1

  get size (): number { return this.entries.size }

  add (packet: Queued): void {
    const copy: Queued = { ...packet, messageId: undefined }
    const entry: Entry = { packet: copy, key: counterKey(copy), cmd: 'publish', messageId: undefined, sentOn: undefined }
    this.entries.add(entry)
    this.byCounter.set(entry.key, entry)
  }

  ofCounter (packet: Queued): Entry | undefined { return this.byCounter.get(counterKey(packet)) }
  ofId (messageId: number): Entry | undefined { return this.byId.get(messageId) }

  /** The next identifier not held by any entry; each is handed out once per 65535. */
  allocate (): number {
    for (let tries = 0; tries < MAX_PACKET_ID; tries++) {
      const id = this.nextId
      this.nextId = id === MAX_PACKET_ID ? 1 : id + 1
      if (!this.byId.has(id)) return id
    }
    throw new Error('every packet identifier of this session is in flight')
  }

  /** Records that `client` sends `entry` now, with identifier `id`. */
  claim (entry: Entry, client: Client, id: number): void {
    if (entry.messageId !== undefined && this.byId.get(entry.messageId) === entry) this.byId.delete(entry.messageId)
    entry.messageId = id
    entry.sentOn = client
    this.byId.set(id, entry)
  }

  remove (entry: Entry): void {
    this.entries.delete(entry)
    this.byCounter.delete(entry.key)
    if (entry.messageId !== undefined && this.byId.get(entry.messageId) === entry) this.byId.delete(entry.messageId)
  }

  /** Entries `client` has not sent yet, read as the replay asks (new ones included), as packets to send. */
  * replay (client: Client): Generator<Queued> {
    for (const entry of this.entries) {
      if (entry.sentOn === client) continue
      const { brokerId, brokerCounter } = entry.packet
      const resent = entry.messageId !== undefined
      const messageId = entry.messageId ?? this.allocate()
      yield entry.cmd === 'pubrel'
        ? { cmd: 'pubrel', messageId, brokerId, brokerCounter }
        : { ...entry.packet, messageId, dup: resent }
    }
  }
}

export class SessionQueuePersistence extends MemoryPersistence {
  private readonly queues = new Map<string, SessionQueue>()
  /** The newest connection of each client id: the only one that may claim its session's messages. */
  private readonly owners = new Map<string, Client>()
  /** Packets Aedes passed to outgoingUpdate: in authorizeForward, those come from the replay. */
  private readonly updated = new WeakSet<object>()
  /** Replayed packets not to send: already sent on this connection, or acknowledged meanwhile. */
  private readonly skipped = new WeakSet<object>()

  /** Aedes's `authenticate` hook: the embedded broker accepts everyone; this connection now owns its session. */
  readonly authenticate = (client: Client, _username: unknown, _password: unknown, done: (error: null, success: boolean) => void): void => {
    this.owners.set(client.id, client)
    done(null, true)
  }

  /** Aedes's `authorizeForward` hook: whether this delivery goes out, and with which packet identifier. */
  readonly authorizeForward = (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null => {
    if (this.updated.has(packet)) return this.skipped.has(packet) ? null : packet
    if (client.clean || packet.qos === 0) return packet
    return this.forwardLive(client, packet)
  }

  /** For the broker's 'clientDisconnect' event. */
  clientGone (client: Client): void {
    if (this.owners.get(client.id) === client) this.owners.delete(client.id)
  }

  async outgoingEnqueue (sub: { clientId: string }, packet: Queued): Promise<void> {
    this.queueOf(sub.clientId).add(packet)
  }

  async outgoingEnqueueCombi (subs: { clientId: string }[], packet: Queued): Promise<void> {
    for (const sub of subs) this.queueOf(sub.clientId).add(packet)
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
  }

  /** PUBACK and PUBCOMP (and Aedes's own clean-ups): the entry with that identifier is done. */
  async outgoingClearMessageId (client: Client, packet: Queued): Promise<Queued | undefined> {
    if (this.skipped.has(packet) || packet.messageId === undefined) return undefined
    const queue = this.queues.get(client.id)
    const entry = queue?.ofId(packet.messageId)
    if (queue === undefined || entry === undefined) return undefined
    queue.remove(entry)
    if (queue.size === 0) this.queues.delete(client.id)
    return entry.packet
  }

  outgoingStream (client: Client): Readable {
    const queue = this.queues.get(client.id)
    // One packet at a time: what is read ahead may be sent live meanwhile.
    return Readable.from(queue === undefined ? [] : queue.replay(client), { highWaterMark: 1 })
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
    const queue = this.queueOf(client.id)
    const entry = packet.brokerId ? queue.ofCounter(packet) : undefined
    if (entry === undefined) return { ...packet, messageId: queue.allocate() }
    // Sent here by the replay already, or sent on an earlier connection: the
    // replay (re)sends it, with its original identifier.
    if (entry.sentOn === client || entry.messageId !== undefined) return null
    const messageId = queue.allocate()
    queue.claim(entry, client, messageId)
    return { ...packet, messageId }
  }
}

/**
 * One round of the delivery-guarantee measurement: a persistent subscriber
 * (MQTT.js, fixed client id, clean=false / clean start false with a session
 * expiry) whose connection is killed mid-stream and that reconnects once,
 * while a publisher straight to the broker (TCP) sends numbered messages.
 * The result counts, per sequence number, how often the subscriber's
 * application saw the message across both connections.
 *
 * Each message is counted in MQTT.js's 'message' event, which fires before
 * the PUBACK (QoS 1) or the PUBCOMP (QoS 2) is sent, and the handler is
 * attached before connecting: MQTT.js emits the messages that arrive with
 * the CONNACK before `await connect` would resume, and a handler attached
 * after it silently misses them. One MqttClient is reconnected (not a new
 * one), so its QoS 2 receive state survives, as in a real application.
 * Order is measured too: a message reaching the application for the first
 * time after a later one did counts as out of order.
 */
import mqtt from 'mqtt'
import type { IClientOptions, MqttClient } from 'mqtt'
import type { KillMode, Relay } from './relay.js'
import { withTimeout } from './wait.js'

export type Qos = 1 | 2
export type Version = 4 | 5

export interface RoundSpec {
  /** Where the subscriber connects: through `relay` (ws:// or mqtt://). */
  subscriberUrl: string
  /** Where the publisher connects: the broker's own TCP port. */
  publisherUrl: string
  relay: Relay
  version: Version
  qos: Qos
  mode: KillMode
  /** Unique per round: names the client id and the topic. */
  name: string
  messages: number
  /** The connection is killed once this many distinct messages arrived. */
  killAfter: number
}

export interface RoundResult {
  name: string
  /** Times each sequence number reached the application. */
  counts: Uint8Array
  missing: number
  duplicates: number
  /** First arrivals of a message after a later-published one had arrived. */
  outOfOrder: number
  /** Times the second connection ended without the test asking (must be 0). */
  droppedAfterReconnect: number
  /** Whether the broker said it still had the session on the reconnect. */
  sessionPresent: boolean
  ms: number
}

const CONNECT_TIMEOUT = 5000
/** How long the subscriber may go without a new message before the round ends. */
const QUIET_MS = 1500
const SESSION_EXPIRY = 600
/** Messages the publisher keeps in flight at once: a stream, not stop-and-wait. */
const WINDOW = 64

function options (spec: RoundSpec, clientId: string, clean: boolean): IClientOptions {
  return {
    protocolVersion: spec.version,
    clientId,
    clean,
    keepalive: 60,
    reconnectPeriod: 0,
    connectTimeout: CONNECT_TIMEOUT,
    ...(spec.version === 5 && !clean ? { properties: { sessionExpiryInterval: SESSION_EXPIRY } } : {})
  }
}

async function connected (client: MqttClient, what: string): Promise<boolean> {
  const outcome = new Promise<boolean>((resolve, reject) => {
    const onConnect = (connack: { sessionPresent: boolean }): void => { cleanup(); resolve(connack.sessionPresent) }
    const onClose = (): void => { cleanup(); reject(new Error(`${what}: closed before CONNACK`)) }
    const cleanup = (): void => { client.off('connect', onConnect); client.off('close', onClose) }
    client.on('connect', onConnect)
    client.on('close', onClose)
  })
  return await withTimeout(outcome, CONNECT_TIMEOUT + 1000, what)
}

class Subscriber {
  readonly client: MqttClient
  readonly counts: Uint8Array
  distinct = 0
  outOfOrder = 0
  private latest = -1
  lastArrival = Date.now()
  private phase: 'first' | 'reconnecting' | 'second' | 'done' = 'first'
  droppedAfterReconnect = 0
  sessionPresent = false
  reconnected: Promise<void> | undefined

  constructor (spec: RoundSpec, private readonly onDistinct: (distinct: number) => void) {
    this.counts = new Uint8Array(spec.messages)
    this.client = mqtt.connect(spec.subscriberUrl, options(spec, `sub-${spec.name}`, false))
    this.client.on('error', () => {}) // outcomes are read from 'connect' and 'close'
    this.client.on('message', (_topic, payload) => this.record(payload))
    this.client.on('close', () => this.closed())
  }

  private record (payload: Buffer): void {
    const seq = payload.readUInt32BE(0)
    const before = this.counts[seq] ?? 0
    this.counts[seq] = Math.min(before + 1, 255)
    this.lastArrival = Date.now()
    if (before === 0) {
      if (seq < this.latest) this.outOfOrder++
      this.latest = Math.max(this.latest, seq)
      this.distinct++
      this.onDistinct(this.distinct)
    }
  }

  private closed (): void {
    if (this.phase === 'second') this.droppedAfterReconnect++
    if (this.phase !== 'reconnecting') return
    this.phase = 'second'
    // Reconnect once, at once, as a client whose network came back would,
    // keeping its stores: MQTT.js's reconnect() without them starts empty
    // ones and forgets the QoS 2 messages it has acknowledged with PUBREC
    // but not yet delivered (they are delivered on PUBREL).
    const again = connected(this.client, 'subscriber reconnect')
    this.client.reconnect({ incomingStore: this.client.incomingStore, outgoingStore: this.client.outgoingStore })
    this.reconnected = again.then((present) => { this.sessionPresent = present })
  }

  expectKill (): void {
    this.phase = 'reconnecting'
  }

  end (): void {
    this.phase = 'done'
    this.client.end(true)
  }
}

async function publishAll (spec: RoundSpec, topic: string): Promise<MqttClient> {
  const publisher = mqtt.connect(spec.publisherUrl, options(spec, `pub-${spec.name}`, true))
  publisher.on('error', () => {})
  await connected(publisher, 'publisher connect')
  const inFlight = new Set<Promise<unknown>>()
  for (let seq = 0; seq < spec.messages; seq++) {
    const payload = Buffer.alloc(16)
    payload.writeUInt32BE(seq, 0)
    const sent = publisher.publishAsync(topic, payload, { qos: spec.qos })
    inFlight.add(sent)
    void sent.finally(() => inFlight.delete(sent))
    if (inFlight.size >= WINDOW) await Promise.race(inFlight)
  }
  await withTimeout(Promise.all(inFlight), 10_000, 'publisher acknowledgements')
  return publisher
}

async function untilQuietOrComplete (subscriber: Subscriber, messages: number): Promise<void> {
  while (subscriber.distinct < messages && Date.now() - subscriber.lastArrival < QUIET_MS) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  // Duplicates may trail the last new message: give them a moment to show.
  await new Promise((resolve) => setTimeout(resolve, 100))
}

export async function runRound (spec: RoundSpec): Promise<RoundResult> {
  const started = Date.now()
  const topic = `delivery/${spec.name}`
  let killed = false
  const subscriber = new Subscriber(spec, (distinct) => {
    if (killed || distinct < spec.killAfter) return
    killed = true
    subscriber.expectKill()
    spec.relay.killAll(spec.mode)
  })
  let publisher: MqttClient | undefined
  try {
    await connected(subscriber.client, 'subscriber connect')
    await subscriber.client.subscribeAsync(topic, { qos: spec.qos })
    publisher = await publishAll(spec, topic)
    if (!killed) throw new Error(`${spec.name}: the kill never happened (${subscriber.distinct} messages arrived)`)
    await untilQuietOrComplete(subscriber, spec.messages)
    await subscriber.reconnected
  } finally {
    subscriber.end()
    publisher?.end(true)
  }
  let missing = 0
  let duplicates = 0
  for (const count of subscriber.counts) {
    if (count === 0) missing++
    else duplicates += count - 1
  }
  return {
    name: spec.name,
    counts: subscriber.counts,
    missing,
    duplicates,
    outOfOrder: subscriber.outOfOrder,
    droppedAfterReconnect: subscriber.droppedAfterReconnect,
    sessionPresent: subscriber.sessionPresent,
    ms: Date.now() - started
  }
}

/**
 * One shape for every MQTT client the interop suite drives (MQTT.js in Node,
 * Paho in Python, MQTT.js in Chromium), so a single scenario matrix runs
 * against all of them.
 */
import { withTimeout } from './wait.js'

export type QoS = 0 | 1 | 2
/** MQTT protocol level: 4 is 3.1.1, 5 is 5.0. */
export type MqttVersion = 4 | 5

export const QOS_LEVELS: readonly QoS[] = [0, 1, 2]

export function versionName (version: MqttVersion): string {
  return version === 4 ? '3.1.1' : '5'
}

export interface Will {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
}

export interface ConnectOptions {
  /** ws://host:port/path */
  url: string
  clientId: string
  version: MqttVersion
  /** Clean session (3.1.1) / clean start (5); default true. */
  clean?: boolean
  /** MQTT keep-alive in seconds; default 60 so that only a socket close can reveal a dead client quickly. */
  keepalive?: number
  will?: Will
  username?: string
  password?: string
}

export interface Received {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
}

/** The broker answered CONNECT with a refusal; `reasonCode` is its CONNACK code. */
export class ConnackError extends Error {
  readonly reasonCode: number
  constructor (reasonCode: number, message = `CONNACK refused with code ${reasonCode}`) {
    super(message)
    this.name = 'ConnackError'
    this.reasonCode = reasonCode
  }
}

export interface TestClient {
  readonly sessionPresent: boolean
  /** Times the connection ended without disconnect() or kill() being called. */
  readonly connectionLosses: number
  /** Resolves with the SUBACK's granted QoS (or v5 reason code) per filter. */
  subscribe: (topic: string, qos: QoS) => Promise<number[]>
  /** Resolves once the flow for `qos` completes (sent, PUBACK or PUBCOMP). */
  publish: (topic: string, payload: Buffer, qos: QoS, retain?: boolean) => Promise<void>
  /** The next `count` messages, in arrival order; rejects if they don't come in time. */
  take: (count: number, timeoutMs?: number) => Promise<Received[]>
  /** Messages received and not yet taken. */
  readonly pending: number
  /** Sends DISCONNECT and closes the connection cleanly. */
  disconnect: () => Promise<void>
  /** Kills the connection without DISCONNECT, as a crashed client or a lost network would. */
  kill: () => Promise<void>
  /** Releases whatever is left; safe to call at any time and more than once. */
  close: () => Promise<void>
}

export interface ClientDriver {
  readonly name: string
  readonly versions: readonly MqttVersion[]
  connect: (options: ConnectOptions) => Promise<TestClient>
}

/** Messages a client received, waiting for the test to take them. */
export class Inbox {
  readonly #messages: Received[] = []
  readonly #waiters = new Set<() => void>()

  get size (): number {
    return this.#messages.length
  }

  push (message: Received): void {
    this.#messages.push(message)
    for (const wake of this.#waiters) wake()
  }

  async take (count: number, timeoutMs = 5000): Promise<Received[]> {
    let wake = (): void => {}
    const enough = new Promise<void>((resolve) => {
      wake = () => { if (this.#messages.length >= count) resolve() }
    })
    this.#waiters.add(wake)
    wake()
    try {
      await withTimeout(enough, timeoutMs, `waiting for ${count} message(s), got ${this.describe()}`)
    } finally {
      this.#waiters.delete(wake)
    }
    return this.#messages.splice(0, count)
  }

  describe (): string {
    const topics = this.#messages.map((message) => message.topic)
    return `${topics.length} [${topics.join(', ')}]`
  }
}

/** Counts connection ends that nobody asked for. */
export class LossCounter {
  #expected = false
  #losses = 0

  get losses (): number {
    return this.#losses
  }

  /** Call before a deliberate disconnect or kill. */
  expectEnd (): void {
    this.#expected = true
  }

  ended (): void {
    if (!this.#expected) this.#losses++
  }
}

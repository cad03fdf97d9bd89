/**
 * The fleet of test/e2e/fleet.test.ts: gateways as the real command on fixed
 * loopback ports (a restart comes back where HAProxy expects it), persistent
 * MQTT.js subscribers that record every message before it is acknowledged
 * and every close, reconnect attempt and connect, and a QoS 1 publisher
 * straight to the broker that records what the broker acknowledged.
 */
import mqtt from 'mqtt'
import type { IClientOptions, MqttClient } from 'mqtt'
import { freePort } from './free-port.js'
import { withTimeout } from './wait.js'
import { startCliProcess } from './cli-process.js'
import type { CliProcess, Log } from './cli-process.js'

export class FleetGateway {
  readonly name: string
  readonly port: number
  readonly adminPort: number
  private readonly args: string[]
  /** Every process this gateway has been, oldest first. */
  readonly runs: CliProcess[] = []

  private constructor (name: string, port: number, adminPort: number, args: string[]) {
    this.name = name
    this.port = port
    this.adminPort = adminPort
    this.args = args
  }

  static async create (name: string, args: string[]): Promise<FleetGateway> {
    return new FleetGateway(name, await freePort(), await freePort(), args)
  }

  get current (): CliProcess {
    const run = this.runs.at(-1)
    if (run === undefined) throw new Error(`${this.name} never started`)
    return run
  }

  /** Every log line of every run. */
  get logs (): Log[] {
    return this.runs.flatMap((run) => run.logs)
  }

  /** ws:// on its own port, bypassing the load balancer. */
  get directUrl (): string {
    return `ws://127.0.0.1:${this.port}/mqtt`
  }

  async start (): Promise<void> {
    const run = startCliProcess(['--host', '127.0.0.1', '--port', String(this.port), '--admin-host', '127.0.0.1',
      '--admin-port', String(this.adminPort), '--instance-id', this.name, ...this.args])
    this.runs.push(run)
    await run.listening()
  }

  /** SIGTERM, then the exit (the delay and the drain included). */
  async stop (timeoutMs: number): Promise<void> {
    this.current.child.kill('SIGTERM')
    const [code] = await withTimeout(this.current.exited, timeoutMs, `${this.name} exit after SIGTERM`)
    if (code !== 0) throw new Error(`${this.name} exited ${String(code)}: ${this.current.stderr()}`)
  }

  /** Client ids with a connection open on the current run, from its connect and close lines. */
  clientIds (): Set<string> {
    const closed = new Set(this.current.logs.filter((l) => l.event === 'close').map((l) => l.conn))
    return new Set(this.current.logs.filter((l) => l.event === 'connect' && !closed.has(l.conn)).map((l) => l.clientId as string))
  }

  async killAll (): Promise<void> {
    for (const run of this.runs) await run.kill()
  }
}

/** One persistent subscriber: what it received and when its connection came and went. */
export class Subscriber {
  readonly clientId: string
  readonly topic: string
  readonly client: MqttClient
  /** Sequence numbers received (duplicates of QoS 1 redeliveries folded). */
  readonly received = new Set<number>()
  /** performance.now() of each message, for gaps. */
  readonly arrivals: number[] = []
  readonly connects: number[] = []
  readonly closes: number[] = []
  attempts = 0
  readonly errors: string[] = []

  constructor (url: string, index: number, options: IClientOptions) {
    this.clientId = `fleet-sub-${index}`
    this.topic = `fleet/${index}`
    // Handlers before the connection opens: messages queued for a persistent
    // session arrive with the CONNACK, before connectAsync would resolve.
    this.client = mqtt.connect(url, { ...options, clientId: this.clientId, manualConnect: true })
    this.client.on('message', (_topic, payload) => {
      // Recorded before MQTT.js sends the PUBACK.
      this.received.add(Number(payload.toString()))
      this.arrivals.push(performance.now())
    })
    this.client.on('connect', () => this.connects.push(performance.now()))
    this.client.on('close', () => this.closes.push(performance.now()))
    this.client.on('reconnect', () => { this.attempts++ })
    this.client.on('error', (err) => this.errors.push(err.message))
    this.client.connect()
  }

  /** Attempts that did not end in a CONNACK (a refused upgrade, a reset): the first connect is not an attempt. */
  get failedAttempts (): number {
    return this.attempts - (this.connects.length - 1)
  }

  /** Milliseconds from each close after `since` to the connect that followed it. */
  reconnectTimes (since: number, until = Infinity): number[] {
    const times: number[] = []
    for (const closed of this.closes) {
      if (closed < since || closed > until) continue
      const next = this.connects.find((c) => c > closed)
      times.push(next === undefined ? Infinity : next - closed)
    }
    return times
  }

  /** The longest silence between messages within [from, to]. */
  longestGap (from: number, to: number): number {
    let last = from
    let longest = 0
    for (const at of this.arrivals) {
      if (at < from || at > to) continue
      longest = Math.max(longest, at - last)
      last = at
    }
    return Math.max(longest, to - last)
  }
}

/** Publishes QoS 1 round-robin over `topics` at `perSecond`; keeps what the broker acknowledged, per topic. */
export class Publisher {
  private readonly client: MqttClient
  private readonly topics: string[]
  readonly acked: Map<string, Set<number>>
  private timer: NodeJS.Timeout | undefined
  private seq = 0
  failures = 0

  private constructor (client: MqttClient, topics: string[]) {
    this.client = client
    this.topics = topics
    this.acked = new Map(topics.map((t) => [t, new Set<number>()]))
  }

  static async connect (url: string, topics: string[]): Promise<Publisher> {
    const client = await withTimeout(mqtt.connectAsync(url, { clientId: 'fleet-publisher', reconnectPeriod: 0 }), 5000, 'publisher connect')
    return new Publisher(client, topics)
  }

  /** Every 10 ms, perSecond / 100 messages. */
  start (perSecond: number): void {
    const perTick = Math.max(1, Math.round(perSecond / 100))
    this.timer = setInterval(() => {
      for (let i = 0; i < perTick; i++) this.publishOne()
    }, 10)
  }

  private publishOne (): void {
    const seq = this.seq++
    const topic = this.topics[seq % this.topics.length] as string
    this.client.publish(topic, String(seq), { qos: 1 }, (err) => {
      if (err === undefined || err === null) this.acked.get(topic)?.add(seq)
      else this.failures++
    })
  }

  /** Stops at once, for cleanup after a failure. */
  close (): void {
    clearInterval(this.timer)
    this.client.end(true)
  }

  get published (): number {
    return this.seq
  }

  get ackedCount (): number {
    let n = 0
    for (const set of this.acked.values()) n += set.size
    return n
  }

  /** Stops publishing and waits for the acknowledgements still due. */
  async stop (): Promise<void> {
    clearInterval(this.timer)
    await withTimeout(new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.ackedCount + this.failures >= this.seq) resolve()
        else setTimeout(check, 20)
      }
      check()
    }), 5000, 'the last PUBACKs')
    await this.client.endAsync()
  }
}

/** The p-th percentile (0-100) of `values`, nearest rank. */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))] as number
}

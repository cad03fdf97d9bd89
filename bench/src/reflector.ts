/**
 * A reflector: the least an MQTT "broker" must do for a QoS 0 benchmark,
 * done cheaply enough that the endpoint is never what limits a run.
 *
 * It is not a broker. It answers CONNECT with CONNACK (in the client's
 * protocol version), SUBSCRIBE with a SUBACK granting QoS 0 to every filter,
 * PINGREQ with PINGRESP, ends the connection on DISCONNECT, and forwards
 * every PUBLISH it receives to every connection that has subscribed to
 * anything, whatever the topics: no topic matching, sessions, retained
 * messages or QoS 1/2 flows (a QoS 1 publisher would wait for its PUBACK
 * forever). So it fits QoS 0 scenarios in which every subscriber should get
 * every message (1 → 1, N → 1 on a wildcard, echo), with one MQTT version.
 *
 * Cheap: the PUBLISHes of one read go out as runs of whole packets, one
 * subarray write per run, never a copy or a write per packet; and each
 * subscriber stays corked until the end of the event-loop turn, so the
 * reads of a turn become one write (one syscall) per subscriber.
 * Bounded: a packet split across reads is held until whole (at most
 * MAX_PACKET_BYTES); once a subscriber's buffer passes the high-water mark,
 * every connection that sends is paused until it drains, and a subscriber
 * that does not drain within DRAIN_TIMEOUT_MS is dropped.
 *
 *   node bench/dist/bench/src/reflector.js [--port N]   listens on 127.0.0.1 (0 = any free port)
 */
import { createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { PacketType, varintSize } from '../../src/wire/index.js'
import { PINGRESP, encodeConnack, encodeSuback } from './mqtt-encode.js'
import type { ProtocolVersion } from './mqtt-encode.js'
import { readConnectLevel, readSubscribe } from './mqtt-read.js'
import { PacketSplitter } from './mqtt-split.js'

/** Socket buffer above which publishers are paused: large, so pauses are rare. */
const HIGH_WATER_MARK = 1024 * 1024
/** A subscriber may keep a full buffer this long before it is dropped. */
const DRAIN_TIMEOUT_MS = 30_000
/** Largest packet held while split across reads (the load tool's largest payload is 16 MiB). */
const MAX_PACKET_BYTES = 32 * 1024 * 1024

const EMPTY = Buffer.alloc(0)

/** One client connection of the reflector (exported for the types of Reflector's methods only). */
export class ReflectorConnection {
  readonly socket: Socket
  version: ProtocolVersion = 4
  /** Corked for the rest of this event-loop turn. */
  corked = false
  drainTimer: NodeJS.Timeout | undefined
  private readonly reflector: Reflector
  private readonly splitter: PacketSplitter
  /** The chunk being split, and the offset just past the last whole packet handled in it. */
  private chunk: Buffer = EMPTY
  private cursor = 0
  /** Where the run of PUBLISHes not yet forwarded starts in the chunk, or -1. */
  private runStart = -1
  /** Bytes of a packet begun in earlier chunks, held until it is whole. */
  private carry: Buffer[] = []
  private carried = 0

  constructor (reflector: Reflector, socket: Socket) {
    this.reflector = reflector
    this.socket = socket
    this.splitter = new PacketSplitter((b, body, start, available, length) => this.onPacket(b, body, start, available, length))
    socket.setNoDelay(true)
    socket.on('data', chunk => this.onData(chunk))
    // 'close' follows; a reset peer is not an error for a reflector.
    socket.on('error', () => {})
    socket.on('close', () => reflector.remove(this))
  }

  private onData (chunk: Buffer): void {
    this.chunk = chunk
    this.cursor = 0
    this.runStart = -1
    try {
      this.splitter.push(chunk)
    } catch {
      // A remaining length over 4 bytes, or a CONNECT / SUBSCRIBE cut short.
      this.socket.destroy()
      return
    }
    this.endRun(this.cursor)
    if (this.cursor < chunk.length) this.hold(chunk.subarray(this.cursor))
    this.chunk = EMPTY
    this.reflector.afterRead(this)
  }

  private onPacket (firstByte: number, body: Buffer, start: number, available: number, length: number): void {
    const type = firstByte >> 4
    const packetStart = this.cursor
    let whole: Buffer | undefined
    if (body === this.chunk) this.cursor = start + length
    else whole = this.completeHeld(1 + varintSize(length) + length)
    if (type === PacketType.PUBLISH) {
      // A packet completed from earlier chunks is the chunk's first: it goes out alone.
      if (whole !== undefined) this.reflector.forward(whole)
      else if (this.runStart < 0) this.runStart = packetStart
      return
    }
    this.endRun(packetStart)
    this.control(type, body, start, available)
  }

  /** Forwards the run of PUBLISHes in the chunk that ends at `end`. */
  private endRun (end: number): void {
    if (this.runStart < 0) return
    this.reflector.forward(this.chunk.subarray(this.runStart, end))
    this.runStart = -1
  }

  private hold (bytes: Buffer): void {
    this.carried += bytes.length
    if (this.carried > MAX_PACKET_BYTES) this.socket.destroy()
    else this.carry.push(bytes)
  }

  /** The held packet of `size` bytes, completed from the start of the chunk. */
  private completeHeld (size: number): Buffer {
    const fromChunk = size - this.carried
    this.carry.push(this.chunk.subarray(0, fromChunk))
    const whole = Buffer.concat(this.carry, size)
    this.carry = []
    this.carried = 0
    this.cursor = fromChunk
    return whole
  }

  private control (type: number, body: Buffer, start: number, available: number): void {
    switch (type) {
      case PacketType.CONNECT:
        this.version = readConnectLevel(body, start, available) === 5 ? 5 : 4
        this.socket.write(encodeConnack(this.version))
        break
      case PacketType.SUBSCRIBE: {
        const { packetId, filters } = readSubscribe(body, start, available, this.version)
        this.socket.write(encodeSuback(packetId, filters, this.version))
        this.reflector.subscribe(this)
        break
      }
      case PacketType.PINGREQ:
        this.socket.write(PINGRESP)
        break
      case PacketType.DISCONNECT:
        this.socket.end()
        break
      default:
        // Acks, UNSUBSCRIBE, AUTH: a reflector keeps no state they could change.
    }
  }
}

export class Reflector {
  private readonly server: Server
  private readonly connections = new Set<ReflectorConnection>()
  private readonly subscribers = new Set<ReflectorConnection>()
  /** Subscribers over the high-water mark, and the connections paused until they drain. */
  private readonly congested = new Set<ReflectorConnection>()
  private readonly paused = new Set<ReflectorConnection>()
  private corked: ReflectorConnection[] = []

  private constructor (server: Server) {
    this.server = server
    server.on('connection', socket => this.connections.add(new ReflectorConnection(this, socket)))
  }

  /** Listens on `host:port` (127.0.0.1, any free port by default). */
  static listen (port = 0, host = '127.0.0.1'): Promise<Reflector> {
    const server = createServer({ highWaterMark: HIGH_WATER_MARK })
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.removeListener('error', reject)
        resolve(new Reflector(server))
      })
    })
  }

  get url (): string {
    const { address, port } = this.server.address() as AddressInfo
    return `mqtt://${address.includes(':') ? `[${address}]` : address}:${port}`
  }

  /** Bytes waiting in the reflector's socket buffers (what backpressure bounds). */
  get buffered (): number {
    let sum = 0
    for (const c of this.connections) sum += c.socket.writableLength
    return sum
  }

  subscribe (connection: ReflectorConnection): void {
    this.subscribers.add(connection)
  }

  /** Writes `bytes` (whole PUBLISH packets) to every subscriber, corked until the end of this turn. */
  forward (bytes: Buffer): void {
    for (const sub of this.subscribers) {
      // A subscriber that sent DISCONNECT is ending: a write would fail, and wait for a drain that never comes.
      if (!sub.socket.writable) continue
      if (!sub.corked) this.cork(sub)
      if (!sub.socket.write(bytes)) this.congest(sub)
    }
  }

  /** After each read: while a subscriber is over its high-water mark, the sender waits. */
  afterRead (connection: ReflectorConnection): void {
    if (this.congested.size === 0 || this.paused.has(connection)) return
    connection.socket.pause()
    this.paused.add(connection)
  }

  remove (connection: ReflectorConnection): void {
    this.connections.delete(connection)
    this.subscribers.delete(connection)
    this.paused.delete(connection)
    this.drained(connection)
  }

  close (): Promise<void> {
    for (const c of this.connections) c.socket.destroy()
    return new Promise(resolve => this.server.close(() => resolve()))
  }

  private cork (sub: ReflectorConnection): void {
    sub.corked = true
    sub.socket.cork()
    if (this.corked.push(sub) === 1) setImmediate(this.uncorkAll)
  }

  private readonly uncorkAll = (): void => {
    const corked = this.corked
    this.corked = []
    for (const sub of corked) {
      sub.corked = false
      sub.socket.uncork()
    }
  }

  private congest (sub: ReflectorConnection): void {
    if (this.congested.has(sub)) return
    this.congested.add(sub)
    sub.socket.once('drain', () => this.drained(sub))
    sub.drainTimer = setTimeout(() => sub.socket.destroy(), DRAIN_TIMEOUT_MS)
    sub.drainTimer.unref()
  }

  private drained (sub: ReflectorConnection): void {
    clearTimeout(sub.drainTimer)
    if (!this.congested.delete(sub) || this.congested.size > 0) return
    for (const c of this.paused) c.socket.resume()
    this.paused.clear()
  }
}

export async function main (argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
  if (values.help === true) {
    console.log('Usage: node bench/dist/bench/src/reflector.js [--port N]   (127.0.0.1; 0 = any free port)')
    return 0
  }
  const port = Number(values.port ?? 0)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`--port must be an integer from 0 to 65535, got ${values.port ?? ''}`)
    return 2
  }
  const reflector = await Reflector.listen(port)
  console.log(`reflector listening on ${reflector.url}`)
  await new Promise<void>(resolve => {
    process.once('SIGTERM', resolve)
    process.once('SIGINT', resolve)
  })
  await reflector.close()
  return 0
}

// Run when executed directly (node bench/dist/bench/src/reflector.js), not when imported.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(code => { process.exitCode = code }, (err: unknown) => {
    console.error(err instanceof Error ? err.stack ?? err.message : String(err))
    process.exitCode = 1
  })
}

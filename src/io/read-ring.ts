/**
 * Socket reads into reused memory, so that a busy connection allocates
 * nothing per read.
 *
 * Why: by default Node allocates a new 64 KiB buffer for every socket read.
 * At hundreds of MB/s that is hundreds of MB/s of external memory, and V8
 * answers external memory growth with full mark-compact collections: with
 * 64 KiB messages they took more of the gateway's CPU than the copies in
 * the kernel (`perf`: ~40 % in V8's marking and sweeping).
 *
 * How: a broker socket opened with `readInto()`, or a client socket handed
 * to `adoptReads()` (accepted sockets cannot be given `onread`, so Node's
 * own fields for it are set), reads into a ring buffer of its own while it
 * is busy. The bridge forwards views of those bytes (no copy)
 * and, at the end of each turn, tells the ring what it still holds
 * (`settleReads`): bytes that were written out and are not held may be read
 * over. Until the ring hears that, it never reuses a byte; when it has no
 * room it takes a fresh slab and leaves the old one to the views that still
 * use it. So a slow peer, a paused socket or a missed settle costs memory
 * (what Node would have allocated anyway), never correctness.
 *
 * A quiet socket reads into one buffer shared by the whole process and gets
 * a copy of what it read (small reads are cheap to copy, and an idle
 * connection keeps no slab); a large read switches it to a ring, which it
 * gives up again after one to two seconds without reads.
 *
 * Measured (64 KiB messages, 1 → 1, through Mosquitto): gateway CPU per
 * message 172 → 74 µs, throughput 26 % → 57 % of direct (medians of 5).
 */
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

/**
 * A ring's first size, and its largest. A ring that fills with live bytes
 * grows: a turn can read as much as the bridge lets through before it
 * pauses the socket (--high-water-mark) plus the packet it holds.
 */
const FIRST_SLAB = 256 * 1024
const LARGEST_SLAB = 2 * 1024 * 1024
/** Largest read offered to the kernel: fewer syscalls for a fast sender. */
const MAX_READ = 128 * 1024
/** Smallest read offered: Node's own read size, so never more syscalls than without a ring. */
const MIN_READ = 64 * 1024
/** From this size on a read (landing in the shared buffer) moves the socket to a ring. */
const LARGE_READ = 16 * 1024
/** A ring without reads for this long is given up (idle connections keep no slab). */
const IDLE_MS = 1000

/** Where a quiet socket reads: shared, valid only during the read callback. */
const landing = Buffer.allocUnsafeSlow(MIN_READ)

const RING = Symbol('readRing')

interface RingSocket extends Socket {
  [RING]?: ReadRing
}

/** Rings that hold a slab, for the idle sweep. */
const active = new Set<ReadRing>()
let sweeper: NodeJS.Timeout | undefined

function sweep (): void {
  for (const ring of active) ring.sweep()
  if (active.size === 0) {
    clearInterval(sweeper)
    sweeper = undefined
  }
}

export class ReadRing {
  private readonly socket: Socket
  private slab: Buffer | undefined
  /** Where the read in progress goes (the start of the buffer `next()` gave out last). */
  private head = 0
  /**
   * Oldest byte that may still be in use. Live bytes are [tail, head), or,
   * once head has wrapped to the start, [tail, wrapEnd) and [0, head).
   */
  private tail = 0
  private wrapped = false
  private wrapEnd = 0
  private readSinceSweep = false
  private slabSize = FIRST_SLAB
  /** The current slab has had bytes freed by a settle. */
  private settled = false

  constructor (socket: Socket) {
    this.socket = socket
  }

  /** onread's buffer generator: where the next read goes. */
  readonly next = (): Buffer => {
    if (this.slab === undefined) return landing
    let room = this.wrapped ? this.tail - this.head : this.slab.length - this.head
    if (room < MIN_READ && !this.wrapped && this.tail >= MIN_READ) {
      // The start of the slab is free up to the oldest live byte: wrap.
      this.wrapEnd = this.head
      this.wrapped = true
      this.head = 0
      room = this.tail
    }
    if (room < MIN_READ) {
      // Full of live bytes: a new slab; the old one stays with its views.
      // Larger only when the ring was being recycled (one turn's reads did
      // not fit): a slow peer that never lets it settle gains nothing from it.
      if (this.settled) this.slabSize = Math.min(this.slabSize * 2, LARGEST_SLAB)
      this.takeSlab()
      room = MAX_READ
    }
    const slab = this.slab as Buffer
    return slab.subarray(this.head, this.head + Math.min(room, MAX_READ))
  }

  /** onread's callback: `n` bytes were read into `buf`. */
  readonly received = (n: number, buf: Buffer): boolean => {
    this.readSinceSweep = true
    const slab = this.slab
    let chunk: Buffer
    if (buf === landing) {
      if (n < LARGE_READ) {
        chunk = Buffer.from(buf.subarray(0, n)) // small: a copy, from Node's pool
      } else {
        // A big read: this socket is busy; it reads into a ring from now on.
        this.takeSlab()
        const ring = this.slab as Buffer
        buf.copy(ring, 0, 0, n)
        chunk = ring.subarray(0, n)
        this.head = n
      }
    } else {
      chunk = buf.subarray(0, n)
      // (A read into a slab given up meanwhile leaves this ring alone.)
      if (slab !== undefined && buf.buffer === slab.buffer) this.head = buf.byteOffset - slab.byteOffset + n
    }
    return this.socket.push(chunk)
  }

  /**
   * The consumer has written out everything it took from this socket except
   * `held` (views, oldest first): every other byte may be read over.
   */
  settle (held: readonly Buffer[]): void {
    const slab = this.slab
    // Bytes still queued in the socket's own readable buffer are in use too.
    if (slab === undefined || this.socket.readableLength > 0) return
    this.settled = true
    for (const view of held) {
      if (view.buffer !== slab.buffer || view.length === 0) continue
      const at = view.byteOffset - slab.byteOffset
      if (at < this.head) {
        // Live: [at, head).
        this.tail = at
        this.wrapped = false
      } else if (this.wrapped) {
        // Live: [at, wrapEnd) and [0, head).
        this.tail = at
      }
      return
    }
    // Nothing live: the read in progress starts the ring again.
    this.tail = this.head
    this.wrapped = false
  }

  /** Called about once a second: a ring without reads since the last call is given up. */
  sweep (): void {
    if (this.readSinceSweep) {
      this.readSinceSweep = false
      return
    }
    this.slab = undefined
    active.delete(this)
    // Quiet again: back to the shared buffer, and this ring is let go.
    if (readSymbols !== undefined) {
      const own = this.socket as unknown as Record<symbol, unknown>
      own[readSymbols.generator] = landingBuffer
      own[readSymbols.callback] = onLandingRead
    }
    ;(this.socket as RingSocket)[RING] = undefined
  }

  private takeSlab (): void {
    this.slab = Buffer.allocUnsafeSlow(this.slabSize)
    this.settled = false
    this.head = 0
    this.tail = 0
    this.wrapped = false
    if (!active.has(this)) {
      active.add(this)
      sweeper ??= setInterval(sweep, IDLE_MS).unref()
    }
  }
}

/**
 * The symbols under which net.Socket keeps its `onread` settings: they let a
 * quiet socket switch to a ring of its own (and back) without a closure per
 * socket while it is quiet, and let sockets accepted by a server, which
 * cannot be given `onread`, read into the shared buffer too. Found on a
 * probe socket, so that a Node without them (or with other names) simply
 * keeps its own reads.
 */
interface ReadSymbols { buffer: symbol, callback: symbol, generator: symbol }

const readSymbols = findReadSymbols()

function findReadSymbols (): ReadSymbols | undefined {
  try {
    const generator = (): Buffer => landing
    const callback = (): boolean => true
    // (Accepted by the constructor as by connect(), though typed on connect's options only.)
    const probe = new Socket({ onread: { buffer: generator, callback } } as ConstructorParameters<typeof Socket>[0])
    const own = probe as unknown as Record<symbol, unknown>
    const named = (name: string): symbol | undefined => Object.getOwnPropertySymbols(probe).find(s => s.description === name)
    const found = { buffer: named('kBuffer'), callback: named('kBufferCb'), generator: named('kBufferGen') }
    probe.destroy()
    if (found.buffer === undefined || found.callback === undefined || found.generator === undefined) return undefined
    // net.Socket sets exactly these for a buffer generator: anything else is another design.
    if (own[found.buffer] !== true || own[found.callback] !== callback || own[found.generator] !== generator) return undefined
    return found as ReadSymbols
  } catch {
    return undefined
  }
}

/** onread's buffer generator while a socket is quiet. */
function landingBuffer (): Buffer {
  return landing
}

/**
 * onread's callback while a socket is quiet (Node calls it with the socket
 * as `this`): a small read is handed over as a copy; a large one gives the
 * socket a ring of its own.
 */
function onLandingRead (this: Socket, n: number, buf: Buffer): boolean {
  // A read into the slab of a ring given up meanwhile: that region is the socket's alone.
  if (buf !== landing) return this.push(buf.subarray(0, n))
  if (n < LARGE_READ || readSymbols === undefined) return this.push(Buffer.from(buf.subarray(0, n)))
  const ring = new ReadRing(this)
  ;(this as RingSocket)[RING] = ring
  const own = this as unknown as Record<symbol, unknown>
  own[readSymbols.generator] = ring.next
  own[readSymbols.callback] = ring.received
  return ring.received(n, buf)
}

/**
 * Options for `net.connect()` that make the socket read into the shared
 * buffer, and into a ring of its own while busy; undefined when this Node
 * does not allow it. The socket still emits 'data', 'end' and the rest.
 */
export function readInto (): { onread: { buffer: () => Buffer, callback: (n: number, buf: Buffer) => boolean } } | undefined {
  if (readSymbols === undefined) return undefined
  return { onread: { buffer: landingBuffer, callback: onLandingRead } }
}

interface UserBufferHandle { useUserBuffer?: (buf: Buffer) => void }

/** True when this Node lets `adoptReads` put accepted sockets on a ring. */
export const canAdoptReads = readSymbols !== undefined

/**
 * Makes a connected plain TCP socket (e.g. one accepted by the HTTP server)
 * read as a `readInto()` socket does. Only while its bytes go to a plain
 * socket (`sink`): the embedded broker's in-process stream may keep views of
 * what it is given, and a small one would keep a whole slab alive. Cheap to
 * call for every chunk.
 */
export function adoptReads (socket: Duplex | undefined, sink: Duplex | undefined): void {
  if (readSymbols === undefined || socket === undefined) return
  const own = socket as unknown as Record<symbol, unknown>
  const current = own[readSymbols.buffer]
  if (current !== null && current !== undefined) return // done already (the common case: one load)
  if (!(sink instanceof Socket) || !(socket instanceof Socket)) return
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle
  if ((socket as Socket & { encrypted?: boolean }).encrypted === true || typeof handle?.useUserBuffer !== 'function') return
  own[readSymbols.generator] = landingBuffer
  own[readSymbols.callback] = onLandingRead
  own[readSymbols.buffer] = landing
  handle.useUserBuffer(landing)
}

/** True when `socket` reads into this module's buffers (for tests and diagnostics). */
export function readsThroughRing (socket: Duplex): boolean {
  if (readSymbols === undefined) return false
  const callback = (socket as unknown as Record<symbol, unknown>)[readSymbols.callback]
  return callback === onLandingRead || (socket as RingSocket)[RING] !== undefined
}

/**
 * End of a turn: `source`'s bytes that `sink` has written out, other than
 * `held`, may be read over. Only when every write to a plain socket has
 * completed: other sinks (the permessage-deflate adapter) may keep views.
 */
export function settleReads (source: Duplex | undefined, sink: Duplex | undefined, held: readonly Buffer[]): void {
  const ring = (source as RingSocket | undefined)?.[RING]
  if (ring === undefined || !(sink instanceof Socket) || sink.writableLength !== 0) return
  ring.settle(held)
}

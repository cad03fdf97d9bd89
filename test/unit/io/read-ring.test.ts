/**
 * ReadRing: socket reads into reused memory. The one property that matters
 * is that no byte a consumer still uses (a write not yet completed, a
 * partial packet held) is ever read over; the other is that a consumer that
 * keeps up makes the ring reuse its slab instead of allocating.
 *
 * The model test drives a ring as Node's `onread` would, with a consumer
 * that forwards some bytes (pending until "written"), holds the tail of
 * some chunks, and settles only once its writes are done, as the bridge
 * does. Every byte in use is checked against what was read into it.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import type { Socket } from 'node:net'
import { describe, test } from 'node:test'
import { adoptReads, canAdoptReads, readInto, readsThroughRing, ReadRing, settleReads } from '../../../src/io/read-ring.js'
import { prng } from '../../support/prng.js'

interface Use { view: Buffer, expected: Buffer }

function fakeSocket (pushed: Buffer[]): Socket {
  return { push: (chunk: Buffer) => { pushed.push(chunk); return true }, readableLength: 0 } as unknown as Socket
}

function checkIntact (uses: readonly Use[], what: string): void {
  for (const u of uses) assert.ok(u.view.equals(u.expected), `${what} bytes were read over`)
}

/**
 * `steps` reads of random sizes; returns how many distinct slabs the reads
 * went into. `settleEvery`: settle after this many reads on average (0: never).
 */
function runModel (seed: number, steps: number, settleEvery: number, maxRead: number): number {
  const random = prng(seed)
  const pushed: Buffer[] = []
  const ring = new ReadRing(fakeSocket(pushed))
  const pending: Use[] = []
  let held: Use[] = []
  const slabs = new Set<ArrayBufferLike>()
  let stamp = 0
  for (let i = 0; i < steps; i++) {
    const buf = ring.next()
    const n = 1 + Math.floor(random() * Math.min(buf.length, maxRead))
    for (let j = 0; j < n; j++) buf[j] = (stamp + j * 7) & 0xff
    stamp++
    const before = pushed.length
    assert.equal(ring.received(n, buf), true)
    const chunk = pushed[before] as Buffer
    assert.equal(chunk.length, n)
    if (chunk.length >= 64 * 1024 || chunk.buffer !== buf.buffer) slabs.add(chunk.buffer)
    // A chunk ends a held packet (which then goes out) or is held in part.
    if (held.length > 0 && random() < 0.5) {
      pending.push(...held)
      held = []
    }
    const cut = random() < 0.6 ? Math.floor(random() * n) : n
    if (cut > 0) pending.push({ view: chunk.subarray(0, cut), expected: Buffer.from(chunk.subarray(0, cut)) })
    if (cut < n) held.push({ view: chunk.subarray(cut), expected: Buffer.from(chunk.subarray(cut)) })
    checkIntact(pending, 'pending')
    checkIntact(held, 'held')
    if (settleEvery > 0 && random() < 1 / settleEvery) {
      // The writes complete; then the ring may reuse all but the held bytes.
      checkIntact(pending, 'written')
      pending.length = 0
      ring.settle(held.map((u) => u.view))
    }
  }
  checkIntact(pending, 'pending')
  checkIntact(held, 'held')
  return slabs.size
}

describe('ReadRing', () => {
  test('never reads over bytes in use, reads of every size, settled often', () => {
    for (let seed = 1; seed <= 20; seed++) runModel(seed, 400, 2, 256 * 1024)
  })

  test('never reads over bytes in use when settled rarely or never', () => {
    for (let seed = 21; seed <= 30; seed++) runModel(seed, 300, 20, 256 * 1024)
    for (let seed = 31; seed <= 35; seed++) runModel(seed, 100, 0, 256 * 1024)
  })

  test('small reads are handed over as copies, not views of the shared buffer', () => {
    const pushed: Buffer[] = []
    const ring = new ReadRing(fakeSocket(pushed))
    const a = ring.next()
    a.fill(1, 0, 100)
    ring.received(100, a)
    const b = ring.next()
    assert.equal(b.buffer, a.buffer, 'a quiet socket keeps reading into the shared buffer')
    b.fill(2, 0, 100)
    ring.received(100, b)
    assert.deepEqual([...(pushed[0] as Buffer)], Array(100).fill(1))
    assert.deepEqual([...(pushed[1] as Buffer)], Array(100).fill(2))
  })

  test('a consumer that keeps up makes the ring reuse its slab', () => {
    // 2,000 reads of up to 128 KiB (~125 MB) settled after each: a few slabs, not one per read.
    const slabs = runModel(99, 2000, 1, 128 * 1024)
    assert.ok(slabs <= 4, `${slabs} slabs`)
  })

  test('a ring without reads for a sweep interval gives its slab up', () => {
    const pushed: Buffer[] = []
    const ring = new ReadRing(fakeSocket(pushed))
    const landing = ring.next()
    ring.received(64 * 1024, landing) // big: moves to a slab
    const inSlab = ring.next()
    assert.notEqual(inSlab.buffer, landing.buffer)
    ring.sweep() // reads since the last sweep: kept
    assert.notEqual(ring.next().buffer, landing.buffer)
    ring.sweep() // none since: given up
    assert.equal(ring.next().buffer, landing.buffer)
    // A read into the slab given up is still delivered whole.
    inSlab.fill(9, 0, 10)
    ring.received(10, inSlab)
    assert.deepEqual([...(pushed.at(-1) as Buffer)], Array(10).fill(9))
  })
})

describe('real sockets', () => {
  /** A connected pair: `accepted` (server side) and `dialled`. */
  async function pair (dialOptions: net.NetConnectOpts = { port: 0 }): Promise<{ accepted: Socket, dialled: Socket, close: () => void }> {
    const server = net.createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as net.AddressInfo).port
    const acceptedP = once(server, 'connection') as Promise<[Socket]>
    const dialled = net.connect({ ...dialOptions, host: '127.0.0.1', port } as net.NetConnectOpts)
    const [accepted] = await acceptedP
    await once(dialled, 'connect').catch(() => {})
    return { accepted, dialled, close: () => { accepted.destroy(); dialled.destroy(); server.close() } }
  }

  function pattern (size: number, seed: number): Buffer {
    const random = prng(seed)
    const b = Buffer.allocUnsafe(size)
    for (let i = 0; i < size; i += 4) b.writeUInt32LE(Math.floor(random() * 2 ** 32) >>> 0, i)
    return b
  }

  test('an accepted socket adopted onto a ring delivers every byte, pauses, resumes and ends', async (t) => {
    assert.equal(canAdoptReads, true, 'this Node keeps onread settings where the ring expects them')
    const { accepted, dialled, close } = await pair()
    t.after(close)
    // The sink must be a plain socket; the dialled socket will do (nothing is written to it).
    adoptReads(accepted, dialled)
    assert.equal(readsThroughRing(accepted), true)
    const data = pattern(8 * 1024 * 1024, 7)
    const got: Buffer[] = []
    let size = 0
    let inSlab = 0
    accepted.on('data', (chunk: Buffer) => {
      if (chunk.buffer.byteLength >= 256 * 1024) inSlab++
      // Keep copies: views are only promised until the next settle.
      got.push(Buffer.from(chunk))
      size += chunk.length
      settleReads(accepted, dialled, [])
      if (size > 1024 * 1024 && size < 2 * 1024 * 1024 && !accepted.isPaused()) {
        accepted.pause()
        setTimeout(() => accepted.resume(), 50)
      }
    })
    const ended = once(accepted, 'end')
    dialled.end(data)
    await ended
    assert.ok(Buffer.concat(got).equals(data), 'bytes arrive intact and in order')
    assert.ok(inSlab > 0, 'a busy socket reads into a ring')
  })

  test('readInto: a dialled socket reads through a ring and still ends', async (t) => {
    const reading = readInto()
    assert.ok(reading !== undefined)
    const { accepted, dialled, close } = await pair({ port: 0, ...reading } as net.NetConnectOpts)
    t.after(close)
    assert.equal(readsThroughRing(dialled), true)
    const data = pattern(4 * 1024 * 1024, 8)
    const got: Buffer[] = []
    const buffers: number[] = []
    dialled.on('data', (chunk: Buffer) => {
      buffers.push(chunk.buffer.byteLength)
      got.push(Buffer.from(chunk))
      settleReads(dialled, accepted, [])
    })
    accepted.write(data)
    while (Buffer.concat(got).length < data.length) await new Promise((r) => setTimeout(r, 10))
    assert.ok(Buffer.concat(got).equals(data))
    assert.ok(buffers.some((b) => b >= 256 * 1024), 'a busy socket reads into a ring')
    // Two sweeps without reads: the ring is let go; small reads are copies again.
    await new Promise((r) => setTimeout(r, 2100))
    // (The first read still lands where the ring had pointed the socket.)
    accepted.write('quiet')
    while (Buffer.concat(got).length < data.length + 5) await new Promise((r) => setTimeout(r, 10))
    const ended = once(dialled, 'end')
    accepted.end('again')
    await ended
    assert.equal(Buffer.concat(got).subarray(data.length).toString(), 'quietagain')
    assert.ok((buffers.at(-1) as number) < 64 * 1024, 'a quiet socket gets copies, not slab views')
    assert.equal(readsThroughRing(dialled), true)
  })

  test('settleReads frees nothing while the sink still has bytes to write', async (t) => {
    const reading = readInto()
    assert.ok(reading !== undefined)
    const source = await pair({ port: 0, ...reading } as net.NetConnectOpts)
    t.after(source.close)
    const sink = await pair()
    t.after(sink.close)
    sink.dialled.cork()
    sink.dialled.write('x') // pending until uncorked
    const data = pattern(4 * 1024 * 1024, 9)
    const views: Buffer[] = []
    source.dialled.on('data', (chunk: Buffer) => {
      views.push(chunk) // views, not copies: they must stay intact
      settleReads(source.dialled, sink.dialled, [])
    })
    const ended = once(source.dialled, 'end')
    source.accepted.end(data)
    await ended
    assert.ok(Buffer.concat(views).equals(data), 'no byte was read over while the sink was busy')
  })
})

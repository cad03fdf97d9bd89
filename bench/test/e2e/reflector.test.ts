/**
 * The reflector on real sockets: its replies byte for byte in both protocol
 * versions, PUBLISH forwarding (runs, packets split across reads, several
 * publishers interleaved), a subscriber that stops reading, and the load
 * tool run against it.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { DISCONNECT, PINGREQ, encodeConnect, encodePublish, encodeSubscribe } from '../../src/mqtt-encode.js'
import type { ProtocolVersion } from '../../src/mqtt-encode.js'
import { resolveBenchOptions } from '../../src/options.js'
import type { BenchInput } from '../../src/options.js'
import { Reflector } from '../../src/reflector.js'
import type { MessagesResult } from '../../src/results.js'
import { runScenario } from '../../src/run.js'
import { sleep, waitUntil } from '../../src/session.js'

let reflector: Reflector
let port = 0

before(async () => {
  reflector = await Reflector.listen(0)
  port = Number(new URL(reflector.url).port)
})

after(() => reflector.close())

/** A raw client socket that keeps everything it reads. */
class Peer {
  readonly socket: Socket
  private readonly chunks: Buffer[] = []
  length = 0

  private constructor (socket: Socket) {
    this.socket = socket
    socket.setNoDelay(true)
    socket.on('data', chunk => {
      this.chunks.push(chunk)
      this.length += chunk.length
    })
  }

  static open (): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(new Peer(socket)))
      socket.once('error', reject)
    })
  }

  get bytes (): Buffer {
    return Buffer.concat(this.chunks)
  }

  /** Waits (at most 5 s) until `n` bytes in all have arrived, then takes them. */
  async take (n: number): Promise<Buffer> {
    await waitUntil(() => this.length >= n, 5000)
    assert.ok(this.length >= n, `expected ${n} bytes, got ${this.length}`)
    const all = this.bytes
    this.chunks.length = 0
    this.chunks.push(all.subarray(n))
    this.length -= n
    return all.subarray(0, n)
  }

  close (): void {
    this.socket.destroy()
  }
}

async function connected (version: ProtocolVersion = 4): Promise<Peer> {
  const peer = await Peer.open()
  peer.socket.write(encodeConnect({ clientId: 'c', version, keepalive: 60, clean: true }))
  await peer.take(version === 5 ? 5 : 4)
  return peer
}

async function subscribed (version: ProtocolVersion = 4): Promise<Peer> {
  const peer = await connected(version)
  peer.socket.write(encodeSubscribe(1, [{ topic: 'a', qos: 0 }], version))
  await peer.take(version === 5 ? 6 : 5)
  return peer
}

function publish (text: string, version: ProtocolVersion = 4): Buffer {
  return encodePublish({ topic: 't', qos: 0, packetId: 0, payload: Buffer.from(text), version }).packet
}

describe('reflector replies', () => {
  for (const version of [4, 5] as const) {
    test(`v${version === 5 ? 5 : '3.1.1'}: CONNACK, SUBACK with one code per filter, PINGRESP`, async t => {
      const peer = await Peer.open()
      t.after(() => peer.close())
      peer.socket.write(encodeConnect({ clientId: 'c', version, keepalive: 60, clean: true }))
      assert.deepEqual([...await peer.take(version === 5 ? 5 : 4)], version === 5 ? [0x20, 3, 0, 0, 0] : [0x20, 2, 0, 0])
      peer.socket.write(encodeSubscribe(0x1234, [{ topic: 'a', qos: 1 }, { topic: 'b/#', qos: 0 }, { topic: 'c', qos: 2 }], version))
      const suback = version === 5 ? [0x90, 6, 0x12, 0x34, 0, 0, 0, 0] : [0x90, 5, 0x12, 0x34, 0, 0, 0]
      assert.deepEqual([...await peer.take(suback.length)], suback)
      peer.socket.write(PINGREQ)
      assert.deepEqual([...await peer.take(2)], [0xd0, 0])
    })
  }

  test('DISCONNECT ends the connection', async () => {
    const peer = await connected()
    const closed = new Promise(resolve => peer.socket.once('end', resolve))
    peer.socket.write(DISCONNECT)
    await closed
    peer.close()
  })
})

describe('reflector forwarding', () => {
  test('forwards the PUBLISHes of a read to every subscriber, and nothing else', async t => {
    const [sub1, sub2, pub] = [await subscribed(), await subscribed(), await connected()]
    t.after(() => [sub1, sub2, pub].forEach(p => p.close()))
    const packets = ['one', 'two', 'three'].map(t => publish(t))
    pub.socket.write(Buffer.concat([packets[0]!, packets[1]!, PINGREQ, packets[2]!]))
    const expected = Buffer.concat(packets)
    assert.deepEqual(await sub1.take(expected.length), expected)
    assert.deepEqual(await sub2.take(expected.length), expected)
    assert.deepEqual([...await pub.take(2)], [0xd0, 0], 'the publisher, not subscribed, gets only its PINGRESP')
  })

  test('a packet split across reads goes out whole, after packets of other publishers', async t => {
    const [sub, a, b] = [await subscribed(5), await connected(5), await connected(5)]
    t.after(() => [sub, a, b].forEach(p => p.close()))
    const big = publish('x'.repeat(300), 5)
    const small = publish('from b', 5)
    // The header, then most of the body, then the rest: three reads apart,
    // with a whole packet from another publisher forwarded in between.
    a.socket.write(big.subarray(0, 1))
    await sleep(30)
    a.socket.write(big.subarray(1, 200))
    await sleep(30)
    b.socket.write(small)
    assert.deepEqual(await sub.take(small.length), small)
    a.socket.write(big.subarray(200))
    assert.deepEqual(await sub.take(big.length), big)
  })

  test('a subscriber that stops reading pauses the publisher; memory stays bounded; nothing is lost', async t => {
    const [sub, pub] = [await subscribed(), await connected()]
    t.after(() => [sub, pub].forEach(p => p.close()))
    sub.socket.pause()
    const packet = publish('y'.repeat(65_536))
    const count = 1000 // 64 MiB: far more than the kernel buffers of the four sockets on the way
    let written = 0
    const writer = (async () => {
      while (written < count) {
        written++
        if (!pub.socket.write(packet)) await new Promise(resolve => pub.socket.once('drain', resolve))
      }
    })()
    await sleep(500)
    assert.ok(written < count, 'the publisher is held back')
    assert.ok(reflector.buffered < 4 * 1024 * 1024, `reflector buffers ${reflector.buffered} bytes`)
    sub.socket.resume()
    await writer
    await waitUntil(() => sub.length >= count * packet.length, 10_000)
    assert.equal(sub.length, count * packet.length)
  })
})

describe('the load tool against the reflector', () => {
  async function messages (input: Omit<BenchInput, 'url'>): Promise<MessagesResult> {
    return await runScenario(resolveBenchOptions({ url: reflector.url, drainMs: 5000, ...input })) as MessagesResult
  }

  for (const mqtt of ['3.1.1', '5']) {
    test(`MQTT ${mqtt}: 1 → 1, QoS 0, 20,000 messages, window 5,000: nothing lost`, async () => {
      const r = await messages({ mqtt, count: 20_000, inflight: 5000 })
      assert.equal(r.received, 20_000)
      assert.equal(r.lost + r.duplicated + r.outOfOrder + r.foreign + r.disconnects, 0)
    })
  }

  test('4 → 1 on a wildcard, 20 KB payloads', async () => {
    const r = await messages({ publishers: 4, topics: 'wildcard', payload: 20_000, count: 400, inflight: 20 })
    assert.equal(r.received, 400)
    assert.equal(r.lost + r.duplicated + r.foreign + r.disconnects, 0)
  })
})

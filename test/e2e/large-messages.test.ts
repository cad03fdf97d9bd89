/**
 * Large messages through a TCP broker, both ways, byte for byte. Both of a
 * bridge's sockets then read into reused memory (src/ws/read-ring.ts): a
 * byte read over while still in use would show here as a corrupt payload.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import mqtt from 'mqtt'
import type { IClientOptions } from 'mqtt'
import { createGateway } from '../../src/index.js'
import type { Gateway } from '../../src/index.js'
import { canAdoptReads } from '../../src/io/read-ring.js'
import { startTcpBroker } from '../support/brokers.js'
import type { TcpBroker } from '../support/brokers.js'
import { createPki } from '../support/certs.js'
import { connectPacket, parseAll, subscribePacket } from '../support/mqtt-bytes.js'
import { connectRaw } from '../support/raw-client.js'

function payload (size: number, seed: number): Buffer {
  // Distinct content per message: sha256 chains are cheap and never repeat.
  const out = Buffer.allocUnsafe(size)
  let block = createHash('sha256').update(String(seed)).digest()
  for (let at = 0; at < size; at += block.length) {
    block.copy(out, at)
    block = createHash('sha256').update(block).digest()
  }
  return out
}

const SIZES = Array.from({ length: 200 }, (_, i) => [1, 100, 65_536, 65_537, 200_000, 900_000][i % 6] as number + (i * 37) % 1000)

/** Publishes SIZES to a topic the client subscribed to, all without waiting; checks every payload. */
async function roundTrip (url: string, clientId: string, options: IClientOptions = {}, count = SIZES.length): Promise<void> {
  const sent = SIZES.slice(0, count).map((size, i) => payload(size, i))
  const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, ...options })
  try {
    await client.subscribeAsync('large', { qos: 0 })
    const got: Buffer[] = []
    client.on('message', (_topic, body) => got.push(body))
    for (const body of sent) client.publish('large', body, { qos: 0 })
    const deadline = Date.now() + 30_000
    while (got.length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.equal(got.length, sent.length)
    for (let i = 0; i < sent.length; i++) assert.ok(got[i]?.equals(sent[i] as Buffer), `message ${i} (${sent[i]?.length} B) intact`)
  } finally {
    await client.endAsync()
  }
}

describe('large messages through a TCP broker', () => {
  let broker: TcpBroker
  let gateway: Gateway
  let url: string
  before(async () => {
    broker = await startTcpBroker()
    gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, upstream: broker.url, logLevel: 'silent', perMessageDeflate: true })
    url = (await gateway.listen()).url
  })
  after(async () => {
    await gateway.close()
    await broker.kill()
  })

  it('delivers 200 messages of 1 B to 900 KB, sent without waiting, intact and in order', async () => {
    assert.equal(canAdoptReads, true)
    // (ws, under mqtt.js, offers compression unless told not to.)
    await roundTrip(url, 'large-both-ways', { wsOptions: { perMessageDeflate: false } })
  })

  it('the same with permessage-deflate (the client side is then not a plain socket)', async () => {
    await roundTrip(url, 'large-deflate', { wsOptions: { perMessageDeflate: true } }, 60)
  })

  it('keeps every byte intact for a subscriber that reads in fits (writes back up, so read memory cannot be reused)', async (t) => {
    // A high-water mark far above what is sent: the broker side is never
    // paused, so reads go on while the subscriber's writes wait.
    const roomy = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, upstream: broker.url, logLevel: 'silent', highWaterMark: 256 * 1024 * 1024 })
    const roomyUrl = (await roomy.listen()).url
    t.after(() => roomy.close())
    const reader = await connectRaw(roomyUrl, { protocol: 'mqtt' })
    t.after(() => reader.destroy())
    const packets = (): ReturnType<typeof parseAll> => reader.messages.flatMap((m) => parseAll(m))
    reader.sendBinary(connectPacket('fitful'))
    reader.sendBinary(subscribePacket('fitful'))
    await reader.waitFor(() => packets().some((p) => p.cmd === 'suback'), 3000, 'SUBACK')
    // Stop reading for 200 ms out of every 250: past the kernel's buffers the
    // gateway's own write queue fills and drains by turns.
    const fits = setInterval(() => {
      reader.socket.pause()
      setTimeout(() => reader.socket.resume(), 200)
    }, 250)
    t.after(() => clearInterval(fits))
    const count = 30
    const sent = Array.from({ length: count }, (_, i) => payload(i % 2 === 0 ? 900_000 : 300_000 + i, 1000 + i))
    const publisher = await mqtt.connectAsync(roomyUrl, { clientId: 'fitful-publisher', reconnectPeriod: 0, wsOptions: { perMessageDeflate: false } })
    t.after(() => publisher.endAsync())
    for (const body of sent) publisher.publish('fitful', body, { qos: 0 })
    await reader.waitFor(() => packets().filter((p) => p.cmd === 'publish').length >= count, 30_000, 'every message')
    const got = packets().filter((p) => p.cmd === 'publish').map((p) => (p as { payload: Buffer }).payload)
    for (let i = 0; i < count; i++) assert.ok(got[i]?.equals(sent[i] as Buffer), `message ${i} (${sent[i]?.length} B) intact`)
  })

  it('the same over wss:// (a TLS client socket)', async (t) => {
    const pki = createPki()
    t.after(() => pki.remove())
    const [cert, key] = pki.issue('localhost', 'large')
    const secure = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, upstream: broker.url, logLevel: 'silent', tlsCert: cert, tlsKey: key })
    const secureUrl = (await secure.listen()).url
    t.after(() => secure.close())
    await roundTrip(secureUrl, 'large-tls', { ca: readFileSync(pki.ca), servername: 'localhost' }, 60)
  })
})

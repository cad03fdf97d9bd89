/**
 * Bytes both ways: QoS round trips, alignment, batching of packets into
 * messages, and publish-then-disconnect losing nothing.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import diagnostics from 'node:diagnostics_channel'
import mqtt from 'mqtt'
import type { ConnectionCloseEvent } from '../../src/events.js'
import { createGateway } from '../../src/index.js'
import type { Gateway } from '../../src/index.js'
import { startMosquitto } from '../support/mosquitto.js'
import type { Mosquitto } from '../support/mosquitto.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { startTcpBroker } from '../support/brokers.js'
import type { TcpBroker } from '../support/brokers.js'
import { connectPacket, parseAll, publishPacket, subscribePacket } from '../support/mqtt-bytes.js'
import { connectRaw, maskedFrame } from '../support/raw-client.js'

const QOS = [0, 1, 2] as const

async function roundTrips (url: string, protocolVersion: 4 | 5): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion, clientId: `rt-${protocolVersion}-${process.pid}`, reconnectPeriod: 0 })
  try {
    await client.subscribeAsync('rt/#', { qos: 2 })
    const got = new Map<string, Buffer>()
    client.on('message', (topic, payload) => got.set(topic, payload))
    const sent = new Map<string, Buffer>()
    for (const qos of QOS) {
      for (const size of [0, 100, 70_000]) {
        const topic = `rt/${qos}/${size}`
        const payload = Buffer.alloc(size, qos + 1)
        sent.set(topic, payload)
        await client.publishAsync(topic, payload, { qos })
      }
    }
    const deadline = Date.now() + 5000
    while (got.size < sent.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    for (const [topic, payload] of sent) assert.deepEqual(got.get(topic), payload, topic)
  } finally {
    await client.endAsync()
  }
}

describe('data path through the embedded broker (MQTT 3.1.1)', () => {
  let gateway: Gateway
  let url: string
  before(async () => {
    gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, tcpPort: 0, logLevel: 'silent' })
    url = (await gateway.listen()).url
  })
  after(() => gateway.close())

  it('round-trips QoS 0, 1 and 2 with empty, small and multi-frame payloads', () => roundTrips(url, 4))

  it('counts traffic of live and closed connections in stats()', async (t) => {
    const before = gateway.stats()
    const raw = await connectRaw(url)
    t.after(() => raw.destroy())
    raw.sendBinary(Buffer.concat([connectPacket('counted-stats'), publishPacket('s', 'x')]))
    await raw.waitFor(() => raw.messages.length >= 1, 2000, 'CONNACK')
    const live = gateway.stats()
    assert.equal(live.connections, before.connections + 1)
    assert.equal(live.packetsFromClients - before.packetsFromClients, 2)
    assert.equal(live.bytesToClients - before.bytesToClients, 4) // the CONNACK
    raw.sendClose()
    await raw.closedPromise
    await raw.waitFor(() => gateway.connections === before.connections, 2000, 'bridge closed')
    const after = gateway.stats()
    assert.equal(after.packetsFromClients - before.packetsFromClients, 2)
    assert.equal(after.bytesFromClients - before.bytesFromClients, live.bytesFromClients - before.bytesFromClients)
  })

  it('a broker that closes after the client\'s DISCONNECT: closed by the client, client_disconnect', async (t) => {
    const closes: ConnectionCloseEvent[] = []
    const onClose = (event: unknown): void => { closes.push(event as ConnectionCloseEvent) }
    diagnostics.subscribe('mqtt-ws-gateway:connection:close', onClose)
    t.after(() => diagnostics.unsubscribe('mqtt-ws-gateway:connection:close', onClose))
    const raw = await connectRaw(url)
    t.after(() => raw.destroy())
    raw.sendBinary(connectPacket('says-disconnect'))
    await raw.waitFor(() => raw.messages.length >= 1, 2000, 'CONNACK')
    // DISCONNECT alone, no close frame: the broker ends the session and closes first,
    // then the gateway sends its close frame, which the client answers.
    raw.sendBinary(Buffer.from([0xe0, 0x00]))
    await raw.waitFor(() => raw.closeCode !== undefined, 2000, 'close frame')
    raw.sendClose(raw.closeCode)
    await raw.waitFor(() => closes.some((e) => e.clientId === 'says-disconnect'), 2000, 'close event')
    const close = closes.find((e) => e.clientId === 'says-disconnect')
    assert.deepEqual([close?.initiator, close?.reason], ['client', 'client_disconnect'])
  })

  it('forwards a CONNECT split over several frames and many packets in one frame', async (t) => {
    const raw = await connectRaw(url)
    t.after(() => raw.destroy())
    const connect = connectPacket('split-client')
    // CONNECT in three frames of one fragmented message... then SUBSCRIBE and
    // three PUBLISHes packed into a single frame (MQTT-6.0.0-2).
    raw.send(maskedFrame(0x2, connect.subarray(0, 3), false))
    raw.send(maskedFrame(0x0, connect.subarray(3, 10), false))
    raw.send(maskedFrame(0x0, connect.subarray(10), true))
    await raw.waitFor(() => raw.messages.length >= 1, 2000, 'CONNACK')
    raw.sendBinary(subscribePacket('pack/#'))
    await raw.waitFor(() => parseAll(Buffer.concat(raw.messages)).length >= 2, 2000, 'SUBACK')
    raw.sendBinary(Buffer.concat([1, 2, 3].map((n) => publishPacket(`pack/${n}`, `m${n}`))))
    await raw.waitFor(() => parseAll(Buffer.concat(raw.messages)).length >= 5, 2000, 'three PUBLISHes back')
    const packets = parseAll(Buffer.concat(raw.messages))
    assert.deepEqual(packets.map((p) => p.cmd), ['connack', 'suback', 'publish', 'publish', 'publish'])
  })

  it('sends the client only whole packets in each binary message', async (t) => {
    const raw = await connectRaw(url)
    t.after(() => raw.destroy())
    raw.sendBinary(Buffer.concat([connectPacket('aligned'), subscribePacket('big/#')]))
    await raw.waitFor(() => parseAll(Buffer.concat(raw.messages)).length >= 2, 2000, 'CONNACK and SUBACK')
    const publisher = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
    t.after(() => publisher.endAsync())
    // Payload sizes that make the broker's bytes cross TCP chunk boundaries.
    const sizes = [10, 5000, 70_000, 1, 200_000, 3, 65_536]
    for (const size of sizes) publisher.publish('big/x', Buffer.alloc(size, 7))
    await raw.waitFor(() => raw.messages.length >= 2 + sizes.length, 5000, 'all publishes')
    for (const message of raw.messages) parseAll(message) // throws unless whole packets
    const publishes = raw.messages.flatMap((m) => parseAll(m)).filter((p) => p.cmd === 'publish')
    assert.deepEqual(publishes.map((p) => (p as { payload: Buffer }).payload.length), sizes)
  })
})

describe('publish then disconnect at once (upstream Aedes over TCP)', () => {
  let broker: TcpBroker
  let gateway: Gateway
  let url: string
  before(async () => {
    broker = await startTcpBroker()
    // A high-water mark above the burst keeps the client unpaused, so the
    // close frame is read while megabytes still wait in the gateway.
    gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, upstream: broker.url, logLevel: 'silent', highWaterMark: 64 * 1024 * 1024 })
    url = (await gateway.listen()).url
  })
  after(async () => {
    await gateway.close()
    await broker.kill()
  })

  it('delivers all N messages a client sent before DISCONNECT and close', async (t) => {
    const N = 2000
    const received: number[] = []
    const subscriber = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
    t.after(() => subscriber.endAsync())
    await subscriber.subscribeAsync('burst', { qos: 0 })
    subscriber.on('message', (_t, payload) => received.push(payload.readUInt32BE(0)))
    const raw = await connectRaw(url)
    raw.sendBinary(connectPacket('burst-publisher'))
    await raw.waitFor(() => raw.messages.length >= 1, 2000, 'CONNACK')
    // The broker falls behind, so bytes pile up in the gateway's buffers
    // when the close arrives: they must still be delivered.
    broker.pauseReads(1000)
    // All in one go: N publishes, DISCONNECT, close frame; no waiting.
    for (let i = 0; i < N; i++) {
      const payload = Buffer.alloc(16 * 1024)
      payload.writeUInt32BE(i)
      raw.sendBinary(publishPacket('burst', payload))
    }
    raw.sendBinary(Buffer.from([0xe0, 0x00]))
    raw.sendClose(1000)
    raw.socket.end()
    const deadline = Date.now() + 15_000
    while (received.length < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    assert.equal(received.length, N)
    assert.deepEqual(received, [...Array(N).keys()])
  })
})

describe('MQTT 5 through Mosquitto', () => {
  const skip = skipUnlessAvailable('MQTT 5 data path', 'mosquitto')
  let mosquitto: Mosquitto
  let gateway: Gateway
  let url: string
  before(async () => {
    if (skip !== false) return
    mosquitto = await startMosquitto()
    gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, upstream: mosquitto.url, logLevel: 'silent' })
    url = (await gateway.listen()).url
  })
  after(async () => {
    await gateway?.close()
    await mosquitto?.stop()
  })

  it('round-trips QoS 0, 1 and 2 in MQTT 5', { skip }, () => roundTrips(url, 5))
  it('round-trips QoS 0, 1 and 2 in MQTT 3.1.1', { skip }, () => roundTrips(url, 4))
})

/**
 * Endings: takeover, a client that vanishes, a broker that dies, clean
 * closes from either side. No zombie upstream may outlive its client.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { createGateway } from '../../src/index.js'
import { startMosquitto } from '../support/mosquitto.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { startTcpBroker } from '../support/brokers.js'
import { startBridged } from '../support/bridged.js'
import type { Bridged } from '../support/bridged.js'
import { connectPacket, parseAll, publishPacket } from '../support/mqtt-bytes.js'
import { connectRaw } from '../support/raw-client.js'
import type { RawClient } from '../support/raw-client.js'

async function until (check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

async function connected (url: string, clientId: string, version: 4 | 5 = 4, keepalive = 60): Promise<RawClient> {
  const raw = await connectRaw(url)
  raw.sendBinary(connectPacket(clientId, version, keepalive))
  await raw.waitFor(() => raw.messages.length >= 1, 3000, `CONNACK for ${clientId}`)
  return raw
}

describe('teardown with an upstream broker (Aedes over TCP)', () => {
  let fixture: Bridged
  let broker: Bridged['broker']
  let gateway: Bridged['gateway']
  let url: string
  let logs: Bridged['logs']
  before(async () => {
    fixture = await startBridged({ closeTimeout: 1000 })
    ;({ broker, gateway, url, logs } = fixture)
  })
  after(() => fixture.close())

  it('takes over: a second CONNECT with the same id ends the first bridge, both sockets, first', async () => {
    const first = await connected(url, 'takeover-3')
    const second = await connected(url, 'takeover-3')
    await first.closedPromise
    assert.equal(first.closeCode, 1000)
    assert.equal(first.closeReason, 'session taken over')
    assert.equal(second.closed, false)
    await until(() => gateway.connections === 1 && broker.broker.connectedClients === 1, 2000, 'one bridge, one broker client')
    assert.ok(logs.find({ event: 'takeover', clientId: 'takeover-3' }))
    assert.ok(logs.find({ event: 'close', clientId: 'takeover-3', reason: 'takeover', closedBy: 'gateway' }))
    second.destroy()
    await until(() => gateway.connections === 0, 2000, 'no bridge left')
  })

  it('ends a reconnect storm with exactly one live bridge per client id', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `storm-${i}`)
    const clients = await Promise.all(ids.flatMap(() => Array.from({ length: 5 }, () => connectRaw(url))))
    clients.forEach((raw, i) => raw.sendBinary(connectPacket(ids[Math.floor(i / 5)] as string)))
    await until(() => gateway.connections === ids.length, 5000, 'one bridge per id')
    await until(() => broker.broker.connectedClients === ids.length, 5000, 'one broker client per id')
    const open = clients.filter((c) => !c.closed)
    assert.equal(open.length, ids.length)
    for (const raw of clients) raw.destroy()
    await until(() => gateway.connections === 0 && broker.broker.connectedClients === 0, 3000, 'all closed')
  })

  it('destroys the upstream at once when the client vanishes, so the will is published promptly', async (t) => {
    const watcher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
    t.after(() => watcher.endAsync())
    await watcher.subscribeAsync('wills/#')
    let willAt = 0
    watcher.on('message', () => { willAt = Date.now() })
    const raw = await connectRaw(url)
    const { encode } = await import('../support/mqtt-bytes.js')
    raw.sendBinary(encode({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'vanisher', clean: true, keepalive: 60,
      will: { topic: 'wills/vanisher', payload: Buffer.from('gone'), qos: 0, retain: false }
    }))
    await raw.waitFor(() => raw.messages.length >= 1, 2000, 'CONNACK')
    const vanishedAt = Date.now()
    raw.socket.resetAndDestroy()
    await until(() => willAt > 0, 2000, 'the will message')
    assert.ok(willAt - vanishedAt < 500, `will after ${willAt - vanishedAt} ms`)
    assert.ok(logs.find({ event: 'close', clientId: 'vanisher', closedBy: 'client', reason: 'client_error' }))
  })

  it('treats a FIN without a close frame as a clean close and ends the upstream', async () => {
    const raw = await connected(url, 'half-open')
    raw.sendBinary(publishPacket('x', 'y'))
    raw.socket.end()
    await raw.closedPromise
    await until(() => logs.find({ event: 'close', clientId: 'half-open' }) !== undefined, 2000, 'close log')
    assert.equal(logs.find({ event: 'close', clientId: 'half-open' })?.reason, 'client_end')
  })

  it('logs one close line with who closed, why, and bytes and packets each way', async () => {
    const raw = await connected(url, 'counted')
    raw.sendBinary(publishPacket('count', 'abc'))
    raw.sendBinary(Buffer.from([0xe0, 0x00]))
    raw.sendClose(1000, 'bye')
    await raw.closedPromise
    await until(() => logs.find({ event: 'close', clientId: 'counted' }) !== undefined, 2000, 'close log')
    const line = logs.find({ event: 'close', clientId: 'counted' })
    assert.equal(line?.closedBy, 'client')
    assert.equal(line?.packetsIn, 3) // CONNECT, PUBLISH, DISCONNECT
    assert.equal(line?.packetsOut, 1) // CONNACK
    assert.equal(line?.bytesIn, connectPacket('counted').length + publishPacket('count', 'abc').length + 2)
    assert.equal(line?.connack, 0)
    assert.equal(typeof line?.durationMs, 'number')
  })
})

describe('when the broker goes away', () => {
  it('sends 1000 when the broker closes cleanly (MQTT keep-alive expiry), at once', async (t) => {
    const broker = await startTcpBroker()
    t.after(() => broker.kill())
    const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, upstream: broker.url, logLevel: 'silent', wsPingIdle: 0 })
    const { url } = await gateway.listen()
    t.after(() => gateway.close())
    // Keep-alive 1 s and then silence: the broker closes after 1.5 s
    // [MQTT-3.1.2-24]; the gateway must pass that on at once.
    const raw = await connected(url, 'sleepy', 4, 1)
    const started = Date.now()
    await raw.waitFor(() => raw.closeCode !== undefined, 4000, 'close frame')
    assert.equal(raw.closeCode, 1000)
    assert.ok(Date.now() - started < 2500)
    raw.sendClose(1000)
    await raw.closedPromise
  })

  it('sends 1011 when the broker connection resets, and the client can reconnect once it is back', async (t) => {
    let broker = await startTcpBroker()
    const port = broker.port
    t.after(() => broker.kill())
    const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, upstream: broker.url, logLevel: 'silent' })
    const { url } = await gateway.listen()
    t.after(() => gateway.close())
    const raw = await connected(url, 'reset-me')
    broker.resetAll()
    await raw.waitFor(() => raw.closeCode !== undefined, 3000, 'close frame')
    assert.equal(raw.closeCode, 1011)
    await broker.kill()
    broker = await startTcpBroker(port)
    const again = await connected(url, 'reset-me')
    again.destroy()
  })
})

describe('takeover in MQTT 5 (Mosquitto)', () => {
  const skip = skipUnlessAvailable('MQTT 5 takeover', 'mosquitto')
  it('sends the old client DISCONNECT 0x8E "session taken over" before the close frame', { skip }, async (t) => {
    const mosquitto = await startMosquitto()
    t.after(() => mosquitto.stop())
    const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, upstream: mosquitto.url, logLevel: 'silent' })
    const { url } = await gateway.listen()
    t.after(() => gateway.close())
    const first = await connected(url, 'takeover-5', 5)
    const second = await connected(url, 'takeover-5', 5)
    await first.closedPromise
    const packets = first.messages.flatMap((m) => parseAll(m, 5))
    assert.deepEqual(packets.map((p) => p.cmd), ['connack', 'disconnect'])
    assert.equal((packets[1] as { reasonCode?: number }).reasonCode, 0x8e)
    assert.equal(first.closeCode, 1000)
    assert.equal(second.closed, false)
    second.destroy()
  })
})

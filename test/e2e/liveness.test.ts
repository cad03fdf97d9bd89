/**
 * Liveness: the 20-second drop must be impossible. A busy connection is
 * never pinged (so it can never time out on a pong stuck behind its data);
 * a silent one is pinged; a dead one is closed within two periods.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import mqtt from 'mqtt'
import { WebSocket } from 'ws'
import { createGateway } from '../../src/index.js'
import { startTcpBroker } from '../support/brokers.js'
import { captureLogs } from '../support/logs.js'
import { connectPacket, parseAll, publishPacket, subscribePacket } from '../support/mqtt-bytes.js'
import { connectRaw } from '../support/raw-client.js'

const PERIOD_S = 1

async function gatewayWithPings (t: { after: (fn: () => Promise<void>) => void }): Promise<{ url: string, logs: ReturnType<typeof captureLogs> }> {
  const broker = await startTcpBroker()
  t.after(() => broker.kill())
  const logs = captureLogs()
  const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, upstream: broker.url, logger: logs.logger, wsPingIdle: PERIOD_S })
  t.after(() => gateway.close())
  return { url: (await gateway.listen()).url, logs }
}

describe('idle pings', () => {
  it('never pings a busy client that ignores pings, for 8 periods', async (t) => {
    const { url } = await gatewayWithPings(t)
    const raw = await connectRaw(url)
    t.after(() => raw.destroy())
    // This client never answers a ping: a gateway that pinged busy
    // connections on a timer would close it after the first period.
    raw.sendBinary(Buffer.concat([connectPacket('busy', 4, 0), subscribePacket('echo')]))
    await raw.waitFor(() => parseAll(Buffer.concat(raw.messages)).length >= 2, 2000, 'CONNACK and SUBACK')
    const sent = PERIOD_S * 8 * 20
    for (let i = 0; i < sent; i++) {
      raw.sendBinary(publishPacket('echo', `m${i}`))
      await new Promise((r) => setTimeout(r, 50))
    }
    await raw.waitFor(() => parseAll(Buffer.concat(raw.messages)).length >= 2 + sent, 2000, 'every echo')
    assert.equal(raw.frames.filter((f) => f.opcode === 0x9).length, 0, 'no ping on a busy connection')
    assert.equal(raw.closed, false)
  })

  it('pings a silent client that answers, and keeps it', async (t) => {
    const { url } = await gatewayWithPings(t)
    const ws = new WebSocket(url, 'mqtt')
    t.after(() => ws.terminate())
    await once(ws, 'open')
    let pings = 0
    let closed = false
    ws.on('ping', () => pings++)
    ws.on('close', () => { closed = true })
    ws.send(connectPacket('quiet', 4, 0)) // keep-alive 0: the broker never checks it
    await new Promise((r) => setTimeout(r, PERIOD_S * 4500))
    assert.ok(pings >= 3, `${pings} pings in 4.5 periods`)
    assert.equal(closed, false)
  })

  it('closes a client that stops answering within two periods of its last frame', async (t) => {
    const { url, logs } = await gatewayWithPings(t)
    const raw = await connectRaw(url)
    t.after(() => raw.destroy())
    raw.sendBinary(connectPacket('dead', 4, 0))
    await raw.waitFor(() => raw.messages.length >= 1, 2000, 'CONNACK')
    const silentSince = Date.now()
    await raw.closedPromise
    const after = (Date.now() - silentSince) / 1000
    assert.ok(after >= 1.8 * PERIOD_S && after <= 2.6 * PERIOD_S, `closed after ${after} s`)
    assert.equal(raw.frames.filter((f) => f.opcode === 0x9).length, 1, 'one ping first')
    await raw.waitFor(() => logs.find({ event: 'close', clientId: 'dead' }) !== undefined, 2000, 'close log')
    assert.equal(logs.find({ event: 'close', clientId: 'dead' })?.reason, 'idle_timeout')
  })
})

describe('soak: high rate both ways with idle pings at 1 s', () => {
  it('carries traffic for 12 periods with zero disconnects and zero loss', async (t) => {
    const { url } = await gatewayWithPings(t)
    const client = await mqtt.connectAsync(url, { clientId: 'soak', keepalive: 60, reconnectPeriod: 0 })
    t.after(() => client.endAsync(true))
    let disconnects = 0
    client.on('close', () => disconnects++)
    await client.subscribeAsync('soak', { qos: 1 })
    const seen = new Set<number>()
    client.on('message', (_topic, payload) => seen.add(payload.readUInt32BE(0)))
    const until = Date.now() + 12_000 * PERIOD_S
    let sent = 0
    while (Date.now() < until) {
      // A window of 200 QoS 1 publishes in flight, then wait for their PUBACKs.
      const batch = []
      for (let i = 0; i < 200; i++) {
        const payload = Buffer.alloc(256)
        payload.writeUInt32BE(sent++)
        batch.push(client.publishAsync('soak', payload, { qos: 1 }))
      }
      await Promise.all(batch)
    }
    const deadline = Date.now() + 5000
    while (seen.size < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.equal(disconnects, 0)
    assert.equal(seen.size, sent, `${sent - seen.size} of ${sent} lost`)
    assert.ok(sent > 10_000, `only ${sent} messages in 12 s`)
    t.diagnostic(`${sent} messages echoed in 12 s`)
  })
})

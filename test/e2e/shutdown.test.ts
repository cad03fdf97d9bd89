/**
 * Graceful shutdown: closes spread over the drain period, each only after
 * what its client sent has reached the broker, and 503 for newcomers.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import mqtt from 'mqtt'
import { WebSocket } from 'ws'
import { startBridged } from '../support/bridged.js'
import { connectPacket, publishPacket } from '../support/mqtt-bytes.js'
import { upgrade } from '../support/raw-client.js'

const CLIENTS = 1000
const DRAIN_MS = 3000

describe('graceful shutdown', () => {
  it(`closes ${CLIENTS} clients over the drain period, losing nothing they sent`, async (t) => {
    const fixture = await startBridged({ maxConnections: CLIENTS + 10 })
    t.after(() => fixture.broker.kill())
    const received = new Set<string>()
    const watcher = await mqtt.connectAsync(fixture.broker.url, { reconnectPeriod: 0 })
    t.after(() => watcher.endAsync())
    await watcher.subscribeAsync('last/#')
    watcher.on('message', (topic) => received.add(topic))

    const clients: WebSocket[] = []
    const closedAt: number[] = []
    const codes: number[] = []
    for (let i = 0; i < CLIENTS; i += 100) {
      await Promise.all(Array.from({ length: 100 }, async (_, k) => {
        const ws = new WebSocket(fixture.url, 'mqtt')
        ws.on('error', () => {})
        await once(ws, 'open')
        ws.send(connectPacket(`drain-${i + k}`))
        await once(ws, 'message')
        ws.on('close', (code) => { closedAt.push(Date.now()); codes.push(code) })
        clients.push(ws)
      }))
    }
    assert.equal(fixture.gateway.connections, CLIENTS)

    // Each client publishes once more and the gateway starts shutting down
    // at the same moment: those last messages are "pending bytes".
    clients.forEach((ws, i) => ws.send(publishPacket(`last/${i}`, 'bye')))
    const started = Date.now()
    const closing = fixture.gateway.close({ drainMs: DRAIN_MS })

    const refused = await upgrade(fixture.url, { protocol: 'mqtt' })
    assert.equal(!refused.ok && refused.status, 503, 'newcomers are told to come back')
    assert.ok(!refused.ok && refused.headers['retry-after'] !== undefined)

    await closing
    const took = Date.now() - started
    assert.equal(closedAt.length, CLIENTS)
    assert.ok(codes.every((code) => code === 1001), 'every client saw 1001 going away')
    const first = Math.min(...closedAt) - started
    const last = Math.max(...closedAt) - started
    t.diagnostic(`closes from ${first} ms to ${last} ms; close() took ${took} ms`)
    assert.ok(first < DRAIN_MS * 0.2, `first close at ${first} ms`)
    assert.ok(last > DRAIN_MS * 0.7 && last < DRAIN_MS + 2000, `last close at ${last} ms`)

    const deadline = Date.now() + 5000
    while (received.size < CLIENTS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(received.size, CLIENTS, 'every last message reached the broker')
  })
})

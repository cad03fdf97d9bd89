/**
 * Brokers that misbehave: one that accepts TCP and never answers, one that
 * answers in HTTP (a wrong port), one that resets. The gateway must never
 * hold its clients forever nor pass foreign bytes on as MQTT: each client
 * gets an answer it understands (CONNACK "server unavailable") and a close,
 * within the CONNACK deadline, with a log reason.
 */
import { describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { once } from 'node:events'
import { createGateway } from '../../src/index.js'
import { captureLogs } from '../support/logs.js'
import { connectPacket, parseAll } from '../support/mqtt-bytes.js'
import { connectRaw } from '../support/raw-client.js'

const CONNACK_TIMEOUT_MS = 400

type Misbehaviour = (socket: net.Socket) => void

/** A TCP "broker" that treats every connection with `misbehave`; closed after the test. */
async function fakeBroker (t: TestContext, misbehave: Misbehaviour): Promise<string> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    misbehave(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`
}

async function gatewayTo (t: TestContext, upstream: string): Promise<{ url: string, logs: ReturnType<typeof captureLogs> }> {
  const logs = captureLogs()
  const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, upstream, connackTimeout: CONNACK_TIMEOUT_MS, closeTimeout: 500, logger: logs.logger })
  const { url } = await gateway.listen()
  t.after(() => gateway.close())
  return { url, logs }
}

const cases: { name: string, misbehave: Misbehaviour, reason: string, code: number, within: number }[] = [
  { name: 'accepts TCP and never answers', misbehave: (s) => s.resume(), reason: 'connack_timeout', code: 1013, within: CONNACK_TIMEOUT_MS + 1000 },
  {
    name: 'answers in HTTP (a wrong port)',
    misbehave: (s) => s.once('data', () => s.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')),
    reason: 'broker_protocol_error',
    code: 1011,
    within: 1000
  }
]

describe('a broker that misbehaves', () => {
  for (const version of [4, 5] as const) {
    for (const c of cases) {
      it(`${c.name}: MQTT ${version} clients get CONNACK "server unavailable" and close ${c.code}, nothing else`, async (t) => {
        const { url, logs } = await gatewayTo(t, await fakeBroker(t, c.misbehave))
        const clients = await Promise.all(Array.from({ length: 20 }, () => connectRaw(url)))
        t.after(() => { for (const client of clients) client.destroy() })
        const started = performance.now()
        for (const [i, client] of clients.entries()) client.sendBinary(connectPacket(`victim-${i}`, version))
        await Promise.all(clients.map((client) => client.waitFor(() => client.closeCode !== undefined, c.within, 'a close frame')))
        t.diagnostic(`20 clients answered within ${(performance.now() - started).toFixed(0)} ms`)
        const unavailable = version === 5 ? 0x88 : 3
        for (const client of clients) {
          const packets = parseAll(Buffer.concat(client.messages), version)
          assert.equal(packets.length, 1, 'bytes other than one CONNACK reached the client')
          const connack = packets[0] as { cmd: string, returnCode?: number, reasonCode?: number }
          assert.equal(connack.cmd, 'connack')
          assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, unavailable)
          assert.equal(client.closeCode, c.code)
        }
        const closes = logs.lines.filter((l) => l.event === 'close')
        await new Promise((resolve) => setTimeout(resolve, 600)) // the close handshakes end
        assert.equal(logs.lines.filter((l) => l.event === 'close' && l.reason === c.reason).length, 20, JSON.stringify(closes.slice(0, 2)))
      })
    }
  }

  it('resets after the CONNECT: the client is closed with 1011 at once, broker_error', async (t) => {
    const { url, logs } = await gatewayTo(t, await fakeBroker(t, (s) => s.once('data', () => s.resetAndDestroy())))
    const client = await connectRaw(url)
    t.after(() => client.destroy())
    client.sendBinary(connectPacket('reset-victim'))
    await client.waitFor(() => client.closeCode !== undefined, 1000, 'a close frame')
    assert.equal(client.closeCode, 1011)
    assert.deepEqual(client.messages, [])
    await client.waitFor(() => logs.find({ event: 'close' }) !== undefined, 2000, 'the close log line')
    assert.equal(logs.find({ event: 'close' })?.reason, 'broker_error')
  })
})

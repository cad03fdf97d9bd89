/**
 * The two Aedes defects behind issue 13's losses, each reproduced on a raw
 * MQTT connection (docs/upstream/aedes-*.md): the embedded broker, with its
 * own session queues (src/upstream/session-queue.ts), must not show them;
 * stock Aedes 1.2 with aedes-persistence 11 still does. When a stock case
 * starts failing, a release has fixed that defect: the containment may go.
 * Also: an MQTT 5 client is refused in MQTT 5 terms (CONNACK 0x84), on the
 * embedded broker's TCP port and through the gateway.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { Aedes } from 'aedes'
import mqtt from 'mqtt'
import { resolveOptions } from '../../src/options.js'
import { createEmbeddedAedes } from '../../src/upstream/embedded.js'
import { freePort } from '../support/free-port.js'
import { startGateway } from '../support/gateway.js'
import type { Packet } from 'mqtt-packet'
import { connectRawMqtt } from '../support/raw-mqtt.js'
import type { RawMqtt } from '../support/raw-mqtt.js'

interface Served { broker: Aedes, port: number, close: () => Promise<void> }

async function serve (broker: Aedes): Promise<Served> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    broker.handle(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    broker,
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      server.close()
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => broker.close(() => resolve()))
    }
  }
}

const BROKERS = [
  { name: 'embedded broker', fixed: true, create: async () => await createEmbeddedAedes(resolveOptions({})) },
  { name: 'stock Aedes 1.2 + aedes-persistence 11', fixed: false, create: async () => await Aedes.createBroker() }
] as const

async function publish (broker: Aedes, topic: string, payload: string, qos: 1 | 2): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false }, (err) => err ? reject(err) : resolve())
  })
}

/** The payloads of the PUBLISH packets received, in order. */
function payloads (packets: readonly Packet[]): string[] {
  return packets.flatMap((p) => p.cmd === 'publish' ? [p.payload.toString()] : [])
}

async function subscribed (served: Served, clientId: string, qos: 1 | 2): Promise<RawMqtt> {
  const sub = await connectRawMqtt(served.port, { clientId, clean: false })
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: clientId, qos }] })
  await sub.until(() => sub.received('suback').length === 1, 2000, 'SUBACK')
  return sub
}

/** Ends the connection without DISCONNECT and waits until the broker has let the client go. */
async function vanish (served: Served, sub: RawMqtt, clientId: string): Promise<void> {
  sub.destroy()
  const clients = (served.broker as unknown as { clients: Record<string, unknown> }).clients
  await sub.until(() => clients[clientId] === undefined, 2000, 'the broker to see the disconnect')
}

/**
 * Two QoS 2 messages in flight; the client's two PUBRECs reach the broker
 * in one read. aedes-persistence's outgoingUpdate matched the second PUBREC
 * to the PUBREL queued for the first (neither has a broker id) and renamed
 * it before it was written: both PUBRELs went out with the second
 * identifier, and the client never releases the first message.
 */
async function pubrelIdsCase (served: Served): Promise<{ sent: number[], pubrels: number[] }> {
  const id = `pubrel-ids-${Math.random().toString(36).slice(2)}`
  const sub = await subscribed(served, id, 2)
  await publish(served.broker, id, 'a', 2)
  await publish(served.broker, id, 'b', 2)
  await sub.until(() => sub.received('publish').length === 2, 2000, 'two PUBLISH')
  const sent = sub.received('publish').map((p) => p.messageId ?? 0)
  sub.send(...sent.map((messageId) => ({ cmd: 'pubrec', messageId })))
  await sub.until(() => sub.received('pubrel').length === 2 || sub.closed, 2000, 'two PUBREL')
  const pubrels = sub.received('pubrel').map((p) => p.messageId ?? 0)
  sub.destroy()
  return { sent, pubrels }
}

/**
 * The same defect one step later: the second PUBREC renames the first
 * message's PUBREL (already sent) and leaves the second message queued as a
 * PUBLISH; both complete, yet the second is sent again on the next
 * connection, as a new message.
 */
async function staleCase (served: Served): Promise<string[]> {
  const id = `pubrel-stale-${Math.random().toString(36).slice(2)}`
  const sub = await subscribed(served, id, 2)
  await publish(served.broker, id, 'a', 2)
  await publish(served.broker, id, 'b', 2)
  await sub.until(() => sub.received('publish').length === 2, 2000, 'two PUBLISH')
  for (const [i, packet] of sub.received('publish').entries()) {
    sub.send({ cmd: 'pubrec', messageId: packet.messageId })
    await sub.until(() => sub.received('pubrel').length === i + 1, 2000, `PUBREL ${i + 1}`)
  }
  sub.send(...sub.received('pubrel').map((p) => ({ cmd: 'pubcomp', messageId: p.messageId })))
  await sleep(100)
  await vanish(served, sub, id)
  const again = await connectRawMqtt(served.port, { clientId: id, clean: false, autoAck: true })
  await sleep(300)
  again.destroy()
  return payloads(again.packets)
}

/**
 * A persistent subscriber comes back to 50 queued messages; one more is
 * published while Aedes connects it, after its subscriptions are restored
 * and before the replay of the queue: it goes out live, the client
 * acknowledges it, and the replay then reaches it in its copy of the queue.
 * Aedes 1.2 took the failed update for a client error and closed the
 * connection, the rest of the queue undelivered.
 */
async function replayCase (served: Served, qos: 1 | 2): Promise<{ closed: boolean, counts: Map<string, number> }> {
  const id = `replay-${qos}-${Math.random().toString(36).slice(2)}`
  await vanish(served, await subscribed(served, id, qos), id)
  const expected = Array.from({ length: 50 }, (_, i) => `queued-${i}`)
  for (const payload of expected) await publish(served.broker, id, payload, qos)
  expected.push('live')
  // 'client' is emitted once the session's subscriptions are live again, before the CONNACK.
  const onClient = (client: { id: string }): void => {
    if (client.id === id) void publish(served.broker, id, 'live', qos)
  }
  served.broker.on('client', onClient)
  const again = await connectRawMqtt(served.port, { clientId: id, clean: false, autoAck: true })
  served.broker.off('client', onClient)
  const counts = (): Map<string, number> => {
    const seen = new Map<string, number>()
    for (const payload of payloads(again.packets)) seen.set(payload, (seen.get(payload) ?? 0) + 1)
    return seen
  }
  await again.until(() => again.closed || expected.every((p) => counts().has(p)), 3000, 'all 51 messages').catch(() => {})
  await sleep(200)
  const closed = again.closed
  again.destroy()
  return { closed, counts: counts() }
}

for (const target of BROKERS) {
  describe(`${target.name}: ${target.fixed ? 'contains' : 'still has'} the defects of issue 13`, async () => {
    const served = await serve(await target.create())
    after(() => served.close())

    it(`${target.fixed ? 'sends' : 'does not send'} each PUBREL with its own identifier`, async (t) => {
      const { sent, pubrels } = await pubrelIdsCase(served)
      t.diagnostic(`PUBLISH ids ${sent.join(', ')}, PUBREL ids ${pubrels.join(', ')}`)
      const right = [...pubrels].sort().join() === [...sent].sort().join()
      assert.equal(right, target.fixed, `PUBLISH ids ${sent.join(', ')}, PUBREL ids ${pubrels.join(', ')}`)
    })

    it(`${target.fixed ? 'keeps no' : 'keeps a'} completed QoS 2 message queued`, async (t) => {
      const replayed = await staleCase(served)
      t.diagnostic(`sent again on the next connection: [${replayed.join(', ')}]`)
      assert.equal(replayed.length === 0, target.fixed, `sent again after completion: [${replayed.join(', ')}]`)
    })

    for (const qos of [1, 2] as const) {
      it(`QoS ${qos}: ${target.fixed ? 'delivers' : 'does not deliver'} the queue once when a message goes out live during the replay`, async (t) => {
        const { closed, counts } = await replayCase(served, qos)
        const missing = 51 - counts.size
        const repeated = [...counts].filter(([, n]) => n > 1).map(([p]) => p)
        const what = `connection closed: ${closed}, missing ${missing}, more than once [${repeated.join(', ')}]`
        t.diagnostic(what)
        assert.equal(!closed && missing === 0 && repeated.length === 0, target.fixed, what)
      })
    }
  })
}

describe('embedded broker: an MQTT 5 client is refused in its own version', async () => {
  const tcpPort = await freePort()
  const gateway = await startGateway({ tcpPort })
  after(() => gateway.close())

  const paths: [string, string][] = [['its TCP port', `mqtt://127.0.0.1:${tcpPort}`], ['the gateway', gateway.url]]
  for (const [path, url] of paths) {
    it(`answers CONNACK 0x84 Unsupported Protocol Version on ${path}`, async () => {
      await assert.rejects(mqtt.connectAsync(url, { clientId: 'v5-refused', protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 3000 }),
        (err: Error & { code?: number }) => {
          assert.equal(err.code, 0x84, `got ${err.message} (code ${String(err.code)})`)
          return true
        })
    })
  }
})

/**
 * Trace filters on a live gateway: four clients from three loopback
 * addresses, publishing and subscribing on different topics; each trace
 * (by client id, by prefix, by address, by CIDR, by topic, by connection)
 * must follow exactly the connections it selects, and no other. A topic
 * trace started while the clients run picks them up at their next matching
 * packet, including in the middle of a PUBLISH split over two WebSocket
 * messages (its tap starts after the packet under way).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { GatewayServer } from '../../src/gateway.js'
import { freePort } from '../support/free-port.js'
import { waitUntil, withTimeout } from '../support/wait.js'
import { encode } from '../support/mqtt-bytes.js'
import { connectPacket, publishPacket, subscribePacket } from '../support/mqtt-bytes.js'
import { connectRaw } from '../support/raw-client.js'
import type { RawClient } from '../support/raw-client.js'
import { capturingLogger, streamTrace } from '../support/trace-viewers.js'
import type { StreamViewer, TraceEventJson } from '../support/trace-viewers.js'

interface Client { id: string, from: string, raw?: RawClient, conn?: number }

describe('trace filters select the right connections and no others', () => {
  let gateway: GatewayServer
  let adminUrl = ''
  let wsUrl = ''
  const clients: Client[] = [
    { id: 'sensor-1', from: '127.0.0.2' },
    { id: 'sensor-10', from: '127.0.0.3' },
    { id: 'pump-1', from: '127.0.0.3' },
    { id: 'pump-2', from: '127.0.0.4' }
  ]
  const traces: Record<string, StreamViewer> = {}
  const byId = (id: string): Client => clients.find((c) => c.id === id) as Client

  async function start (client: Client): Promise<void> {
    const raw = await connectRaw(wsUrl, { protocol: 'mqtt', localAddress: client.from })
    client.raw = raw
    raw.sendBinary(connectPacket(client.id))
    await raw.waitFor(() => raw.messages.length >= 1, 5000, `${client.id}: CONNACK`)
  }

  /** Sends `packet` and waits until the broker answered (`answers` more messages). */
  async function send (client: Client, packet: Buffer, answers: number): Promise<void> {
    const raw = client.raw as RawClient
    const before = raw.messages.length
    raw.sendBinary(packet)
    await raw.waitFor(() => raw.messages.length >= before + answers, 5000, `${client.id}: answer`)
  }

  function connsOf (events: readonly TraceEventJson[]): number[] {
    return [...new Set(events.filter((e) => typeof e.conn === 'number').map((e) => e.conn as number))].sort((a, b) => a - b)
  }

  function connsFor (...ids: string[]): number[] {
    return ids.map((id) => byId(id).conn as number).sort((a, b) => a - b)
  }

  before(async () => {
    gateway = new GatewayServer({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: await freePort(), logger: capturingLogger().logger, wsPingIdle: 0, trustedProxies: ['127.0.0.5'] })
    const address = await gateway.listen()
    adminUrl = address.adminUrl ?? ''
    wsUrl = address.url
    for (const [name, query] of Object.entries({
      client: 'client=sensor-1',
      prefix: 'clientPrefix=sensor-',
      ip: 'ip=127.0.0.3',
      cidr: 'ip=127.0.0.2/31',
      topic: 'topic=plant/%2B/temp'
    })) traces[name] = await streamTrace(adminUrl, query)

    for (const client of clients) await start(client)
    const live = await (await fetch(`${adminUrl}api/connections?limit=10`)).json() as { rows: { connectionId: number, clientId: string }[] }
    for (const row of live.rows) byId(row.clientId).conn = row.connectionId

    await send(byId('sensor-10'), subscribePacket('plant/#'), 1)
    await send(byId('pump-2'), subscribePacket('other/#'), 1)
    await send(byId('sensor-1'), publishPacket('plant/line-1/temp', '21.5'), 0)
    await byId('sensor-10').raw?.waitFor(() => (byId('sensor-10').raw as RawClient).messages.length >= 3, 5000, 'sensor-10 receives the publish')
    await send(byId('pump-1'), publishPacket('other/x', 'on'), 0)
    await byId('pump-2').raw?.waitFor(() => (byId('pump-2').raw as RawClient).messages.length >= 3, 5000, 'pump-2 receives the publish')
  })

  after(async () => {
    for (const trace of Object.values(traces)) trace.stop()
    for (const client of clients) client.raw?.destroy()
    await gateway?.close()
  })

  const expected: Record<string, string[]> = {
    client: ['sensor-1'],
    prefix: ['sensor-1', 'sensor-10'],
    ip: ['sensor-10', 'pump-1'],
    cidr: ['sensor-1', 'sensor-10', 'pump-1'],
    topic: ['sensor-1', 'sensor-10']
  }
  for (const [name, ids] of Object.entries(expected)) {
    test(`${name}: ${ids.join(', ')}`, async () => {
      const events = (traces[name] as StreamViewer).events
      await waitUntil(() => connsOf(events).length >= ids.length, 5000, `${name} sees its connections`)
      await new Promise((resolve) => setTimeout(resolve, 200))
      assert.deepEqual(connsOf(events), connsFor(...ids))
    })
  }

  test('topic: each connection attached by the packet that matched, then traced', () => {
    const events = (traces.topic as StreamViewer).events
    const attached = events.filter((e) => e.type === 'attached').map((e) => [e.conn, e.matched])
    assert.deepEqual(attached, [
      [byId('sensor-10').conn, 'topic "plant/#" (SUBSCRIBE)'],
      [byId('sensor-1').conn, 'topic "plant/line-1/temp" (PUBLISH)']
    ])
    const published = events.find((e) => e.packet === 'PUBLISH' && e.conn === byId('sensor-1').conn)
    assert.equal(published?.topic, 'plant/line-1/temp')
    const received = events.find((e) => e.packet === 'PUBLISH' && e.conn === byId('sensor-10').conn)
    assert.equal(received?.dir, 'broker->client')
  })

  test('a connection number: that connection only; closed, the trace ends', async () => {
    const pump = byId('pump-2')
    const trace = await streamTrace(adminUrl, `conn=${pump.conn as number}`)
    await waitUntil(() => trace.events.some((e) => e.type === 'attached'), 5000, 'attached')
    await send(byId('pump-1'), publishPacket('other/y', 'off'), 0)
    await waitUntil(() => trace.events.some((e) => e.packet === 'PUBLISH'), 5000, 'the publish it receives')
    pump.raw?.destroy()
    await withTimeout(trace.done, 5000, 'the trace ends with its connection')
    assert.deepEqual(connsOf(trace.events), [pump.conn])
    assert.deepEqual(trace.events.at(-1)?.reason, 'connection_closed')
    const missing = await fetch(`${adminUrl}api/trace?conn=999999`)
    assert.equal(missing.status, 404)
    assert.equal((await missing.json() as { error: string }).error, 'MWG_ERR_TRACE_NOT_FOUND')
  })

  test('an address from a trusted proxy\'s header: selected by it, and the trace says how it was found', async () => {
    const trace = await streamTrace(adminUrl, 'ip=198.51.100.0/24')
    await waitUntil(() => trace.events.length > 0, 5000, 'trace_start')
    const raw = await connectRaw(wsUrl, { protocol: 'mqtt', localAddress: '127.0.0.5', headers: { 'X-Forwarded-For': '198.51.100.7', Origin: 'https://app.example.com' } })
    raw.sendBinary(connectPacket('behind-proxy'))
    await waitUntil(() => trace.events.some((e) => e.packet === 'CONNACK'), 5000, 'traced')
    const open = trace.events.find((e) => e.type === 'open') as TraceEventJson
    assert.deepEqual([open.remote, open.peer, open.addressFrom, open.origin], ['198.51.100.7', '127.0.0.5', 'x-forwarded-for', 'https://app.example.com'])
    assert.deepEqual(connsOf(trace.events), [open.conn])
    trace.stop()
    raw.destroy()
  })

  test('a topic trace started on live connections, one of them in the middle of a packet', async () => {
    // The earlier traces end: no tap is left on any connection.
    for (const earlier of Object.values(traces)) earlier.stop()
    await waitUntil(async () => (await (await fetch(`${adminUrl}api/traces`)).json() as { traces: unknown[] }).traces.length === 0, 5000, 'earlier traces ended')
    const pump = byId('pump-1')
    const raw = pump.raw as RawClient
    // A 10 kB PUBLISH in two WebSocket messages: the trace starts between them.
    const big = encode({ cmd: 'publish', topic: 'other/big', payload: Buffer.alloc(10_000, 0x61), qos: 0, retain: false, dup: false })
    const sent = gateway.stats().bytesFromClients
    raw.sendBinary(big.subarray(0, 4000))
    await waitUntil(() => gateway.stats().bytesFromClients >= sent + 4000, 5000, 'the first half forwarded')
    const trace = await streamTrace(adminUrl, 'topic=other/%23')
    await waitUntil(() => trace.events.some((e) => e.type === 'trace_start'), 5000, 'trace started')
    raw.sendBinary(big.subarray(4000))
    raw.sendBinary(publishPacket('other/after', 'x'))
    await waitUntil(() => trace.events.some((e) => e.packet === 'PUBLISH' && e.topic === 'other/after' && e.dir === 'client->broker'), 5000, 'the next PUBLISH, decoded')
    const fromPump = trace.events.filter((e) => e.conn === pump.conn)
    assert.deepEqual(fromPump.map((e) => e.type === 'packet' ? `${String(e.packet)} ${String(e.topic)}` : e.type), ['attached', 'PUBLISH other/after'])
    assert.equal(fromPump[1]?.size, publishPacket('other/after', 'x').length)
    trace.stop()
  })

  test('no trace left: no tap on any connection, nothing subscribed', async () => {
    await waitUntil(() => !gateway.traces.active, 5000, 'every trace ended')
    const live = [...gateway.traces.liveConnections()]
    assert.ok(live.length >= 3)
    for (const bridge of live) assert.equal(bridge.tap, undefined, `connection #${bridge.connectionId} still tapped`)
    assert.equal(gateway.traces.tracedConnections, 0)
  })
})

/**
 * Several upstream brokers: failover to the next when one goes away, with
 * no failed upgrade, round-robin spreading new connections, and hash by
 * client id keeping each client (and its session) on one broker.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { createGateway } from '../../src/index.js'
import { startMosquitto } from '../support/mosquitto.js'
import type { Mosquitto } from '../support/mosquitto.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { connectRaw, maskedFrame, upgrade } from '../support/raw-client.js'
import { blackhole } from '../support/blackhole.js'
import { captureLogs } from '../support/logs.js'
import { connectPacket, encode, publishPacket } from '../support/mqtt-bytes.js'
import { freePort } from '../support/free-port.js'
import { httpGet } from '../support/http.js'
import { waitUntil } from '../support/wait.js'

const skip = skipUnlessAvailable('several upstreams', 'mosquitto')

/** Which broker a client reached: publish through the gateway, see who delivers it. */
async function reached (url: string, brokers: Mosquitto[], id: string): Promise<number> {
  const watchers = await Promise.all(brokers.map(async (b) => {
    const w = await mqtt.connectAsync(b.url, { reconnectPeriod: 0 })
    await w.subscribeAsync(`which/${id}`)
    return w
  }))
  try {
    const heard = Promise.race(watchers.map((w, i) => new Promise<number>((resolve) => w.once('message', () => resolve(i)))))
    const client = await mqtt.connectAsync(url, { clientId: id, reconnectPeriod: 0 })
    await client.publishAsync(`which/${id}`, 'x', { qos: 1 })
    await client.endAsync()
    return await heard
  } finally {
    await Promise.all(watchers.map((w) => w.endAsync()))
  }
}

describe('several upstream brokers', () => {
  it('fails over to the second broker when the first stops, without a failed upgrade', { skip }, async (t) => {
    const first = await startMosquitto()
    const second = await startMosquitto()
    t.after(() => Promise.all([first.stop(), second.stop()]).then(() => {}))
    const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, logLevel: 'silent', upstream: `${first.url},${second.url}` })
    const { url, upstream } = await gateway.listen()
    t.after(() => gateway.close())
    assert.match(upstream, /\(failover\)$/)
    assert.equal(await reached(url, [first, second], 'f1'), 0, 'the first broker while it runs')
    await first.stop()
    for (let i = 0; i < 3; i++) {
      const result = await upgrade(url, { protocol: 'mqtt' })
      assert.ok(result.ok, 'no failed upgrade while one broker is up')
      result.client.destroy()
    }
    assert.equal(await reached(url, [second], 'f2'), 0, 'the second broker takes over')
  })

  it('spreads new connections round-robin', { skip }, async (t) => {
    const a = await startMosquitto()
    const b = await startMosquitto()
    t.after(() => Promise.all([a.stop(), b.stop()]).then(() => {}))
    const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, logLevel: 'silent', upstream: `${a.url},${b.url}`, upstreamStrategy: 'round-robin' })
    const { url } = await gateway.listen()
    t.after(() => gateway.close())
    const hits = [await reached(url, [a, b], 'r1'), await reached(url, [a, b], 'r2')]
    assert.deepEqual(hits.sort(), [0, 1])
  })
})

describe('several upstream brokers: hash by client id', () => {
  const ids = ['sensor-1', 'sensor-2', 'sensor-3', 'sensor-4', 'sensor-5', 'sensor-6']

  it('keeps each client id on one broker, so a persistent session is found again; another gateway agrees', { skip }, async (t) => {
    const a = await startMosquitto()
    const b = await startMosquitto()
    t.after(() => Promise.all([a.stop(), b.stop()]).then(() => {}))
    const one = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, logLevel: 'silent', upstream: `${a.url},${b.url}`, upstreamStrategy: 'hash' })
    const two = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, logLevel: 'silent', upstream: `${b.url},${a.url}`, upstreamStrategy: 'hash' })
    const first = await one.listen()
    const second = await two.listen()
    t.after(() => Promise.all([one.close(), two.close()]).then(() => {}))
    assert.match(first.upstream, /\(hash\)$/)

    const where = new Map<string, number>()
    for (const id of ids) where.set(id, await reached(first.url, [a, b], id))
    assert.deepEqual(new Set(where.values()), new Set([0, 1]), 'the ids are spread over both brokers')
    for (const id of ids) {
      assert.equal(await reached(first.url, [a, b], id), where.get(id), `${id} again through the same gateway`)
      assert.equal(await reached(second.url, [a, b], id), where.get(id), `${id} through a gateway that lists the brokers in the other order`)
    }
    // What hashing is for: a session kept by the broker is there on reconnect
    // (with round-robin about half of these would land on the other broker).
    for (const id of ids) {
      const c = await mqtt.connectAsync(first.url, { clientId: id, clean: false, reconnectPeriod: 0 })
      await c.subscribeAsync(`session/${id}`, { qos: 1 })
      await c.endAsync()
    }
    for (const id of ids) {
      const c = mqtt.connect(second.url, { clientId: id, clean: false, reconnectPeriod: 0 })
      const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
        c.once('connect', resolve)
        c.once('error', reject)
      })
      await c.endAsync()
      assert.equal(connack.sessionPresent, true, `${id} found its session`)
    }
  })

  it('moves the clients of a stopped broker to the other without a refused connection, and back when it returns', { skip }, async (t) => {
    const a = await startMosquitto()
    const b = await startMosquitto()
    t.after(() => Promise.all([a.stop(), b.stop()]).then(() => {}))
    const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, logLevel: 'silent', upstream: `${a.url},${b.url}`, upstreamStrategy: 'hash', upstreamBackoff: 100 })
    const { url } = await gateway.listen()
    t.after(() => gateway.close())
    const where = new Map<string, number>()
    for (const id of ids) where.set(id, await reached(url, [a, b], id))
    const onA = ids.filter((id) => where.get(id) === 0)
    assert.ok(onA.length > 0 && onA.length < ids.length)

    await a.stop()
    for (const id of onA) assert.equal(await reached(url, [b], id), 0, `${id} moved to the broker still up`)
    await a.restart()
    await new Promise((resolve) => setTimeout(resolve, 150)) // past the back-off
    for (const id of ids) assert.equal(await reached(url, [a, b], id), where.get(id), `${id} back on its own broker`)
  })

  it('answers CONNACK "server unavailable" and closes with 1013 when no broker takes the client', { skip }, async (t) => {
    const a = await startMosquitto()
    const b = await startMosquitto()
    await Promise.all([a.stop(), b.stop()])
    const logs = captureLogs()
    const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, logger: logs.logger, upstream: `${a.url},${b.url}`, upstreamStrategy: 'hash' })
    const { url } = await gateway.listen()
    t.after(() => gateway.close())

    // The upgrade succeeds (the broker is chosen after CONNECT): the refusal comes in MQTT.
    await assert.rejects(mqtt.connectAsync(url, { clientId: 'v4', reconnectPeriod: 0 }), (err: Error & { code?: number }) => err.code === 3)
    await assert.rejects(mqtt.connectAsync(url, { clientId: 'v5', protocolVersion: 5, reconnectPeriod: 0 }), (err: Error & { code?: number }) => err.code === 0x88)

    const raw = await connectRaw(url)
    raw.sendBinary(connectPacket('raw'))
    await raw.waitFor(() => raw.closeCode !== undefined, 3000, 'close frame')
    raw.sendClose(1013)
    await raw.closedPromise
    assert.deepEqual([...(raw.messages[0] ?? [])], [0x20, 0x02, 0x00, 0x03])
    assert.equal(raw.closeCode, 1013)
    await waitUntil(() => logs.lines.filter((l) => l.event === 'close').length === 3, 2000, 'three close lines')
    const line = logs.find({ event: 'close', clientId: 'raw' })
    assert.equal(line?.reason, 'upstream_unreachable')
    assert.equal(line?.closedBy, 'gateway')
    assert.equal(line?.connack, 3)
    assert.equal(line?.broker, null)
    assert.match(String(line?.detail), /ECONNREFUSED/)
  })

  it('delivers what a client sent while its broker was being connected, when it closes cleanly at once', { skip }, async (t) => {
    const a = await startMosquitto()
    const b = await startMosquitto()
    t.after(() => Promise.all([a.stop(), b.stop()]).then(() => {}))
    const logs = captureLogs()
    const adminPort = await freePort()
    const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort, logger: logs.logger, upstream: `${a.url},${b.url}`, upstreamStrategy: 'hash' })
    const { url } = await gateway.listen()
    t.after(() => gateway.close())
    const watchers = await Promise.all([a, b].map(async (broker) => {
      const w = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
      await w.subscribeAsync('hurried/#')
      return w
    }))
    t.after(() => Promise.all(watchers.map((w) => w.endAsync())).then(() => {}))
    const heard: string[] = []
    for (const w of watchers) w.on('message', (topic) => heard.push(topic))

    const ids = ['hurried-1', 'hurried-2', 'hurried-3', 'hurried-4']
    for (const id of ids) {
      const raw = await connectRaw(url)
      // One write: CONNECT, PUBLISH, DISCONNECT and the close frame arrive
      // together, before any broker is chosen for this client.
      const frames = [connectPacket(id), publishPacket(`hurried/${id}`, 'x'), encode({ cmd: 'disconnect' })]
        .map((packet) => maskedFrame(0x2, packet))
      raw.send(Buffer.concat([...frames, maskedFrame(0x8, Buffer.from([0x03, 0xe8]))]))
      await raw.closedPromise
      assert.equal(raw.closeCode, 1000)
    }
    await waitUntil(() => heard.length === ids.length, 3000, 'every message delivered')
    assert.deepEqual(heard.sort(), ids.map((id) => `hurried/${id}`))
    await waitUntil(() => logs.lines.filter((l) => l.event === 'close').length === ids.length, 2000, 'close lines')
    for (const line of logs.lines.filter((l) => l.event === 'close')) {
      assert.equal(line.reason, 'client_close')
      assert.match(String(line.broker), /^mqtt:\/\/127\.0\.0\.1:\d+$/)
      const chosen = logs.find({ event: 'upstream', conn: line.conn })
      assert.equal(chosen?.broker, line.broker, 'the broker chosen after CONNECT is logged')
      assert.equal(typeof chosen?.connectMs, 'number')
    }
    // The connect after CONNECT is timed like the one before a 101.
    const { body } = await httpGet(adminPort, '/metrics')
    assert.match(body, new RegExp(`^mqtt_ws_gateway_upstream_connect_duration_seconds_count(?:\\{[^}]*\\})? ${ids.length}$`, 'm'))
  })

  it('lets go of a broker connect in flight at once when its client vanishes or its id connects again', async (t) => {
    const logs = captureLogs()
    // Two brokers whose connects hang: the connect after CONNECT stays in flight.
    const upstream = `mqtt://127.0.0.1:${await blackhole(t)},mqtt://127.0.0.1:${await blackhole(t)}`
    const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, logger: logs.logger, upstream, upstreamStrategy: 'hash', upstreamConnectTimeout: 10_000 })
    const { url } = await gateway.listen()
    t.after(() => gateway.close())

    const vanishing = await connectRaw(url)
    vanishing.sendBinary(connectPacket('vanishing'))
    await waitUntil(() => logs.find({ event: 'connect', clientId: 'vanishing' }) !== undefined, 2000, 'CONNECT seen')
    const gone = performance.now()
    vanishing.socket.resetAndDestroy()
    await waitUntil(() => logs.find({ event: 'close', clientId: 'vanishing' }) !== undefined, 2000, 'close line')
    assert.ok(performance.now() - gone < 1000, 'not after the 10 s connect timeout')
    assert.equal(logs.find({ event: 'close', clientId: 'vanishing' })?.reason, 'client_error')

    const older = await connectRaw(url)
    older.sendBinary(connectPacket('twice'))
    await waitUntil(() => logs.find({ event: 'connect', clientId: 'twice' }) !== undefined, 2000, 'first CONNECT seen')
    const newer = await connectRaw(url)
    t.after(() => newer.destroy())
    newer.sendBinary(connectPacket('twice'))
    await older.waitFor(() => older.closeCode !== undefined, 2000, 'the older connection closed')
    assert.equal(older.closeCode, 1000)
    older.destroy()
    await waitUntil(() => logs.find({ event: 'close', clientId: 'twice' }) !== undefined, 2000, 'close line')
    assert.equal(logs.find({ event: 'close', clientId: 'twice' })?.reason, 'takeover')
    assert.equal(gateway.connections, 1, 'only the newer connection is left')
    newer.socket.resetAndDestroy()
    await waitUntil(() => gateway.connections === 0, 2000, 'no connection left')
  })
})

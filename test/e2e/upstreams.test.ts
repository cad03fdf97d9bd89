/**
 * Several upstream brokers: failover to the next when one goes away, with
 * no failed upgrade, and round-robin spreading new connections.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { createGateway } from '../../src/index.js'
import { startMosquitto } from '../helpers/mosquitto.js'
import type { Mosquitto } from '../helpers/mosquitto.js'
import { skipUnlessAvailable } from '../helpers/programs.js'
import { upgrade } from './support/raw-client.js'

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

/**
 * A client id that connects again through another gateway: the broker ends
 * the first connection, and to an MQTT 5 client it says why with DISCONNECT
 * 0x8E "Session taken over" [MQTT-3.1.4-3]. The first gateway logs and
 * counts that as a takeover (closedBy broker, reason broker_takeover), not
 * as a broker that closed on its own. Debian's Mosquitto 2.0.11 sends no
 * DISCONNECT (2.0.15 and later do), so the MQTT 5 case runs against a
 * stand-in broker that does what the spec says; with Mosquitto, as with any
 * MQTT 3.1.1 client, the broker's close is all a gateway sees (broker_close).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { createGateway } from '../../src/index.js'
import { freePort } from '../support/free-port.js'
import { httpGet } from '../support/http.js'
import { startMosquitto } from '../support/mosquitto.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { waitUntil, withTimeout } from '../support/wait.js'
import { captureLogs } from '../support/logs.js'
import { startTakeoverBroker } from '../support/takeover-broker.js'

async function gatewayTo (t: TestContext, upstream: string): Promise<{ url: string, adminPort: number, logs: ReturnType<typeof captureLogs> }> {
  const logs = captureLogs()
  const adminPort = await freePort()
  const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort, upstream, logger: logs.logger, closeTimeout: 500 })
  const { url } = await gateway.listen()
  t.after(() => gateway.close())
  return { url, adminPort, logs }
}

async function connect (t: TestContext, url: string, clientId: string, protocolVersion: 4 | 5): Promise<MqttClient> {
  const client = await withTimeout(mqtt.connectAsync(url, { clientId, protocolVersion, reconnectPeriod: 0, connectTimeout: 5000 }), 6000, `connect ${clientId}`)
  client.on('error', () => {})
  t.after(() => client.end(true))
  return client
}

function metric (body: string, name: string): number {
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'm').exec(body)?.[1])
}

describe('the same client id through another gateway', () => {
  test('MQTT 5: the first gateway logs broker_takeover within 1 s and counts it as a takeover', async (t) => {
    const broker = await startTakeoverBroker()
    t.after(() => broker.close())
    const a = await gatewayTo(t, broker.url)
    const b = await gatewayTo(t, broker.url)
    const first = await connect(t, a.url, 'roaming-5', 5)
    const disconnected = new Promise<number | undefined>((resolve) => first.once('disconnect', (packet) => resolve(packet.reasonCode)))
    const started = Date.now()
    await connect(t, b.url, 'roaming-5', 5)
    assert.equal(await withTimeout(disconnected, 1000, 'DISCONNECT to the first client'), 0x8e)
    await waitUntil(() => a.logs.find({ event: 'close' }) !== undefined, 1000, 'gateway A\'s close line')
    const line = a.logs.find({ event: 'close' })
    t.diagnostic(`gateway A logged the takeover ${Date.now() - started} ms after the second CONNECT`)
    assert.equal(line?.closedBy, 'broker')
    assert.equal(line?.reason, 'broker_takeover')
    assert.equal(line?.clientId, 'roaming-5')
    const { body } = await httpGet(a.adminPort, '/metrics')
    assert.equal(metric(body, 'mqtt_ws_gateway_client_id_takeovers_total'), 1)
    assert.match(body, /^mqtt_ws_gateway_connections_closed_total\{[^}]*reason="broker_takeover"[^}]*\} 1$/m)
    assert.deepEqual([...broker.connected.keys()], ['roaming-5'], 'the broker holds one connection')
  })

  test('MQTT 5: a DISCONNECT with another reason reaches the client and is named in the close line', async (t) => {
    const broker = await startTakeoverBroker()
    t.after(() => broker.close())
    const a = await gatewayTo(t, broker.url)
    const client = await connect(t, a.url, 'node-leaving', 5)
    const disconnected = new Promise<number | undefined>((resolve) => client.once('disconnect', (packet) => resolve(packet.reasonCode)))
    broker.disconnect('node-leaving', 0x8b)
    assert.equal(await withTimeout(disconnected, 1000, 'DISCONNECT to the client'), 0x8b)
    await waitUntil(() => a.logs.find({ event: 'close' }) !== undefined, 1000, 'the close line')
    const line = a.logs.find({ event: 'close' })
    assert.equal(line?.reason, 'broker_close')
    assert.equal(line?.detail, 'broker closed the connection: DISCONNECT reason 0x8b server shutting down')
  })
})

describe('the same client id through another gateway, to Mosquitto 2.0.11', { skip: skipUnlessAvailable('takeover across gateways to Mosquitto', 'mosquitto') }, () => {
  for (const version of [4, 5] as const) {
    test(`MQTT ${version === 4 ? '3.1.1' : '5'}: no DISCONNECT to read, a broker close within 1 s`, async (t) => {
      const mosquitto = await startMosquitto()
      t.after(() => mosquitto.stop())
      const a = await gatewayTo(t, mosquitto.url)
      const b = await gatewayTo(t, mosquitto.url)
      await connect(t, a.url, `roaming-${version}`, version)
      await connect(t, b.url, `roaming-${version}`, version)
      await waitUntil(() => a.logs.find({ event: 'close' }) !== undefined, 1000, 'gateway A\'s close line')
      assert.equal(a.logs.find({ event: 'close' })?.reason, 'broker_close')
    })
  }
})

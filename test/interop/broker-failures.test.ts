/**
 * Interop failure cases against a real Mosquitto: a broker that is not
 * running, one that restarts mid-session, and one that refuses CONNECT.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import mqtt from 'mqtt'
import type { IClientOptions, MqttClient } from 'mqtt'
import WebSocket from 'ws'
import { ConnackError, versionName } from '../support/client.js'
import type { ClientDriver, MqttVersion } from '../support/client.js'
import { freePort } from '../support/free-port.js'
import { startGateway } from '../support/gateway.js'
import type { RunningGateway } from '../support/gateway.js'
import { startMosquitto } from '../support/mosquitto.js'
import type { Mosquitto, MosquittoOptions } from '../support/mosquitto.js'
import { clientOptions, mqttjsDriver } from '../support/mqttjs.js'
import { pahoDriver } from '../support/paho.js'
import { assertSamePayload, clientId, payload, uid } from '../support/payload.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { rawMqttConnect, upgradeStatus } from '../support/upgrade.js'
import { waitUntil, withTimeout } from '../support/wait.js'

const VERSIONS: readonly MqttVersion[] = [4, 5]
const TEST_TIMEOUT = 30_000
/** How soon a client must learn that the broker went away. */
const CLOSE_DEADLINE = 3000
const RECONNECT_DEADLINE = 10_000

async function brokerAndGateway (t: TestContext, options: MosquittoOptions = {}): Promise<{ mosquitto: Mosquitto, gateway: RunningGateway }> {
  const mosquitto = await startMosquitto(options)
  t.after(async () => { await mosquitto.stop() })
  const gateway = await startGateway({ upstream: mosquitto.url })
  t.after(gateway.close)
  return { mosquitto, gateway }
}

/**
 * MQTT.js swallows a refused upgrade (the ws error has no `code`), so the
 * test builds MQTT.js's WebSocket itself and records each refusal's status.
 */
function recordRefusals (statuses: number[]): IClientOptions['createWebsocket'] {
  return (url, protocols) => {
    const ws = new WebSocket(url, protocols)
    ws.once('unexpected-response', (_req, res) => {
      statuses.push(res.statusCode ?? 0)
      res.resume()
      ws.terminate()
    })
    return ws
  }
}

interface Watched { client: MqttClient, refusals: number[], closes: number, connects: number }

/** An MQTT.js client that records its refused upgrades, its connects and its closes. */
function watchedClient (t: TestContext, url: string, version: MqttVersion, reconnectPeriod: number): Watched {
  const refusals: number[] = []
  const options = clientOptions({ url, clientId: clientId(), version })
  const client = mqtt.connect(url, { ...options, reconnectPeriod, connectTimeout: 2000, createWebsocket: recordRefusals(refusals) })
  t.after(async () => { await client.endAsync(true) })
  const watched = { client, refusals, closes: 0, connects: 0 }
  client.on('error', () => {})
  client.on('close', () => { watched.closes++ })
  client.on('connect', () => { watched.connects++ })
  return watched
}

describe('interop: broker not running', () => {
  it('the upgrade is refused with HTTP 502, as MQTT.js sees it', { timeout: TEST_TIMEOUT }, async (t) => {
    const gateway = await startGateway({ upstream: `mqtt://127.0.0.1:${await freePort()}` })
    t.after(gateway.close)
    assert.equal(await upgradeStatus(gateway.url), 502)
    const watched = watchedClient(t, gateway.url, 4, 0)
    await waitUntil(() => watched.closes > 0, 5000, 'MQTT.js gives up')
    assert.deepEqual(watched.refusals, [502])
    assert.equal(watched.connects, 0)
  })
})

async function roundTrip (client: MqttClient, topic: string): Promise<void> {
  const sent = payload('after restart')
  const received = new Promise<Buffer>((resolve) => {
    client.on('message', (got, message) => { if (got === topic) resolve(message) })
  })
  await client.publishAsync(topic, sent, { qos: 1 })
  assertSamePayload(await withTimeout(received, 5000, `message on ${topic}`), sent, topic)
}

async function brokerRestart (t: TestContext, version: MqttVersion): Promise<void> {
  const { mosquitto, gateway } = await brokerAndGateway(t)
  const watched = watchedClient(t, gateway.url, version, 200)
  await waitUntil(() => watched.connects === 1, 5000, 'MQTT.js connects')
  const topic = `interop/restart/${uid()}`
  await watched.client.subscribeAsync(topic, { qos: 1 })
  const raw = await rawMqttConnect(gateway.url, clientId(), version)
  t.after(() => raw.ws.terminate())

  await mosquitto.kill()
  await waitUntil(() => watched.closes > 0, CLOSE_DEADLINE, 'MQTT.js sees the connection close')
  // The broker's FIN (or RST) becomes a WebSocket close frame, not a bare TCP drop (1006).
  assert.ok([1000, 1011].includes(await withTimeout(raw.closed, CLOSE_DEADLINE, 'raw close frame')))
  await waitUntil(() => watched.refusals.length > 0, RECONNECT_DEADLINE, 'a reconnect attempt while the broker is down')
  assert.ok(watched.refusals.every((status) => status === 502), `statuses ${watched.refusals.join(', ')}`)

  await mosquitto.restart()
  await waitUntil(() => watched.connects === 2, RECONNECT_DEADLINE, 'MQTT.js reconnects once the broker is back')
  // MQTT.js resubscribes on reconnect; the new session must carry traffic both ways.
  await roundTrip(watched.client, topic)
}

describe('interop: broker restarted mid-session', { skip: skipUnlessAvailable('interop broker restart', 'mosquitto') }, () => {
  for (const version of VERSIONS) {
    it(`MQTT ${versionName(version)}: the client sees a close, gets 502 while the broker is down, then reconnects`, { timeout: TEST_TIMEOUT }, async (t) => {
      await brokerRestart(t, version)
    })
  }
})

const AUTH = { username: 'interop', password: 'right' }
/** 3.1.1: 5 "not authorized". v5: 0x86 "bad user name or password" or 0x87 "not authorized". */
const REFUSED: Record<MqttVersion, readonly number[]> = { 4: [5], 5: [0x86, 0x87] }

async function connectRefused (t: TestContext, driver: ClientDriver, version: MqttVersion): Promise<void> {
  const { gateway } = await brokerAndGateway(t, { auth: AUTH })
  const options = { url: gateway.url, version, username: AUTH.username }
  await assert.rejects(driver.connect({ ...options, clientId: clientId(), password: 'wrong' }), (err: unknown) => {
    assert.ok(err instanceof ConnackError, `expected the broker's CONNACK refusal, got ${String(err)}`)
    assert.ok(REFUSED[version].includes(err.reasonCode), `CONNACK code ${err.reasonCode}`)
    return true
  })
  const accepted = await driver.connect({ ...options, clientId: clientId(), password: AUTH.password })
  t.after(accepted.close)
  await accepted.disconnect()
}

describe('interop: broker rejects CONNECT', { skip: skipUnlessAvailable('interop CONNECT refused', 'mosquitto', 'mosquittoPasswd') }, () => {
  const pahoSkip = skipUnlessAvailable('interop CONNECT refused (Paho)', 'paho')
  for (const [driver, skip] of [[mqttjsDriver, false], [pahoDriver, pahoSkip]] as const) {
    for (const version of VERSIONS) {
      it(`${driver.name}, MQTT ${versionName(version)}: a wrong password gets the broker's CONNACK code`, { skip, timeout: TEST_TIMEOUT }, async (t) => {
        await connectRefused(t, driver, version)
      })
    }
  }
})

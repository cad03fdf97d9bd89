/**
 * MQTT 5 in a trace, through a real Mosquitto with a password: the CONNECT's
 * properties, the CONNACK's reason code and properties (decoded as MQTT 5
 * because the CONNECT said so), SUBACK reason codes, a PUBLISH's user
 * properties both ways, DISCONNECT's reason; a refused password shows as
 * its reason code, the password itself never.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import mqtt from 'mqtt'
import { GatewayServer } from '../../src/gateway.js'
import { freePort } from '../support/free-port.js'
import { startMosquitto } from '../support/mosquitto.js'
import type { Mosquitto } from '../support/mosquitto.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { waitUntil } from '../support/wait.js'
import { capturingLogger, streamTrace } from '../support/trace-viewers.js'
import type { StreamViewer, TraceEventJson } from '../support/trace-viewers.js'

const PASSWORD = 'v5-password-Hq3k9-never-shown'

describe('MQTT 5 in a trace, through Mosquitto', { skip: skipUnlessAvailable('MQTT 5 trace', 'mosquitto') }, () => {
  let mosquitto: Mosquitto
  let gateway: GatewayServer
  let trace: StreamViewer
  let refused: StreamViewer
  /** By address: its tap is there from the first byte, so the MQTT version comes from the CONNECT it decodes. */
  let byAddress: StreamViewer

  before(async () => {
    mosquitto = await startMosquitto({ auth: { username: 'meter', password: PASSWORD } })
    gateway = new GatewayServer({ host: '127.0.0.1', port: 0, adminPort: await freePort(), upstream: mosquitto.url, logger: capturingLogger().logger, wsPingIdle: 0 })
    const address = await gateway.listen()
    trace = await streamTrace(address.adminUrl ?? '', 'client=v5-meter&payload=16')
    refused = await streamTrace(address.adminUrl ?? '', 'client=v5-intruder')
    byAddress = await streamTrace(address.adminUrl ?? '', 'ip=127.0.0.1')
    const client = await mqtt.connectAsync(address.url, {
      protocolVersion: 5, clientId: 'v5-meter', username: 'meter', password: PASSWORD, reconnectPeriod: 0, connectTimeout: 5000,
      properties: { sessionExpiryInterval: 120 }
    })
    await client.subscribeAsync('v5/#', { qos: 1 })
    await client.publishAsync('v5/a', 'hello v5', { qos: 1, properties: { userProperties: { site: 'north' }, contentType: 'text/plain' } })
    await waitUntil(() => trace.events.some((e) => e.packet === 'PUBLISH' && e.dir === 'broker->client'), 5000, 'the echo')
    await client.endAsync()
    await waitUntil(() => trace.events.some((e) => e.type === 'close'), 5000, 'the close')
    await mqtt.connectAsync(address.url, { protocolVersion: 5, clientId: 'v5-intruder', username: 'meter', password: 'wrong-password', reconnectPeriod: 0, connectTimeout: 5000 })
      .then(() => assert.fail('a wrong password was accepted'), () => {})
    await waitUntil(() => refused.events.some((e) => e.type === 'close'), 5000, 'the refused close')
  })

  after(async () => {
    trace?.stop()
    refused?.stop()
    byAddress?.stop()
    await gateway?.close()
    await mosquitto?.stop()
  })

  const find = (events: TraceEventJson[], match: (e: TraceEventJson) => boolean): TraceEventJson => {
    const found = events.find(match)
    assert.ok(found !== undefined)
    return found
  }

  test('CONNECT and CONNACK: version 5, properties, reason code', () => {
    const connect = find(trace.events, (e) => e.packet === 'CONNECT')
    assert.deepEqual([connect.version, connect.password, (connect.properties as Record<string, unknown>).sessionExpiryInterval], [5, '(redacted)', 120])
    const connack = find(trace.events, (e) => e.packet === 'CONNACK')
    assert.deepEqual([connack.code, connack.codeName], [0, 'success'])
    assert.equal(typeof connack.properties, 'object', 'Mosquitto announces its limits in CONNACK properties')
  })

  test('SUBACK reason codes, PUBLISH properties both ways, DISCONNECT; the same by client id and by address', () => {
    const conn = find(trace.events, (e) => e.packet === 'CONNECT').conn
    const mine = byAddress.events.filter((e) => e.conn === conn)
    for (const events of [trace.events, mine]) {
      assert.deepEqual(find(events, (e) => e.packet === 'SUBACK').granted, [{ code: 1, name: 'granted QoS 1' }])
      assert.equal(typeof find(events, (e) => e.packet === 'CONNACK').properties, 'object')
    }
    for (const dir of ['client->broker', 'broker->client']) {
      const publish = find(trace.events, (e) => e.packet === 'PUBLISH' && e.dir === dir)
      assert.deepEqual((publish.properties as Record<string, unknown>).userProperties, { site: 'north' }, dir)
      assert.equal((publish.properties as Record<string, unknown>).contentType, 'text/plain', dir)
      assert.equal(publish.payload, 'hello v5', dir)
    }
    assert.equal(find(trace.events, (e) => e.packet === 'DISCONNECT').codeName, 'normal disconnection')
  })

  test('a refused password: the reason code, never the password', () => {
    const connack = find(refused.events, (e) => e.packet === 'CONNACK')
    assert.ok(['bad user name or password', 'not authorized'].includes(String(connack.codeName)), String(connack.codeName))
    for (const raw of [trace.raw(), refused.raw()]) {
      assert.ok(!raw.includes(PASSWORD) && !raw.includes('wrong-password'))
    }
  })
})

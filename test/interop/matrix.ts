/**
 * The interop matrix, shared by every client suite: for each broker kind
 * (embedded Aedes, Mosquitto upstream; RabbitMQ upstream in its own suite)
 * and each MQTT version the client speaks, the same scenarios run through
 * the gateway. QoS 0, 1 and 2 share one client session per scenario to keep
 * the matrix fast. Where a broker departs from Mosquitto and Aedes in ways
 * it documents (`brokerTraits`: RabbitMQ grants at most QoS 1, sends
 * retained messages only to exact-topic subscriptions, and closes an MQTT 5
 * connection without CONNACK), the matrix expects what the broker does.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { ConnackError, QOS_LEVELS, versionName } from '../support/client.js'
import type { ClientDriver, ConnectOptions, MqttVersion, QoS, Received, TestClient, Will } from '../support/client.js'
import { BROKER_KINDS, brokerTraits, brokerVersions, startTarget } from '../support/gateway.js'
import type { BrokerKind, BrokerTraits, Target } from '../support/gateway.js'
import { connectMqttjs } from '../support/mqttjs.js'
import { assertSamePayload, byTopic, clientId, payload, uid } from '../support/payload.js'

/** A will must arrive this soon after the socket dies; MQTT keep-alive (60 s) would take 90 s. */
const WILL_DEADLINE = 5000
const TEST_TIMEOUT = 30_000
/** How long a subscriber listens to be sure that nothing comes. */
const SILENCE_MS = 500
/** A refusal by closing must reach the client well before its connect timeout (5 s). */
const REFUSAL_DEADLINE = 3000
/** Silence long enough for the idle target's gateway (wsPingIdle 1) to ping twice. */
const IDLE_MS = 2500
/** Sizes per QoS: one small, one spanning many TCP segments, one medium. */
const SIZES: Record<QoS, number> = { 0: 300, 1: 128 * 1024, 2: 8 * 1024 }

export interface DriverHarness {
  readonly driver: ClientDriver
  close: () => Promise<void>
}

interface Scenario {
  /** Connects the client under test; closes it after the test. */
  connect: (t: TestContext, options?: Partial<ConnectOptions>) => Promise<TestClient>
  /** Connects an MQTT.js (Node) observer through the same target; closes it after the test. */
  observe: (t: TestContext) => Promise<TestClient>
  /** A topic unique to this test. */
  topic: (name: string) => string
  /** Where the broker departs from Mosquitto and Aedes. */
  traits: BrokerTraits
}

type Connect = ClientDriver['connect']

function scenario (connect: Connect, target: () => Target, version: MqttVersion, traits: BrokerTraits): Scenario {
  const open = async (t: TestContext, how: Connect, options: Partial<ConnectOptions>): Promise<TestClient> => {
    const client = await how({ url: target().url, clientId: clientId(), version, ...options })
    t.after(client.close)
    return client
  }
  return {
    connect: async (t, options = {}) => await open(t, connect, options),
    observe: async (t) => await open(t, connectMqttjs, {}),
    topic: (name) => `interop/${name}/${uid()}`,
    traits
  }
}

interface Expected {
  topic: string
  payload: Buffer
  /** QoS it is published (or willed) with. */
  qos: QoS
  /** QoS it arrives with: the lower of `qos` and what the broker grants. */
  delivered: QoS
}

function assertMessages (received: Received[], expected: Expected[], retain: boolean): void {
  const sorted = byTopic(received)
  assert.deepEqual(sorted.map((message) => message.topic), expected.map((message) => message.topic))
  expected.forEach((sent, i) => {
    const got = sorted[i]
    assert.ok(got !== undefined)
    assertSamePayload(got.payload, sent.payload, sent.topic)
    assert.equal(got.qos, sent.delivered, `QoS of ${sent.topic}`)
    assert.equal(got.retain, retain, `retain flag of ${sent.topic}`)
  })
}

function perQos (s: Scenario, base: string, label: string, size?: (qos: QoS) => number): Expected[] {
  return QOS_LEVELS.map((qos) => ({
    topic: `${base}/qos${qos}`,
    payload: payload(`${label} qos ${qos}`, size?.(qos) ?? 1024),
    qos,
    delivered: Math.min(qos, s.traits.maxQos) as QoS
  }))
}

async function subscribePublishReceive (t: TestContext, s: Scenario): Promise<void> {
  const client = await s.connect(t)
  const base = s.topic('pubsub')
  assert.deepEqual(await client.subscribe(`${base}/#`, 2), [s.traits.maxQos])
  const sent = perQos(s, base, 'pubsub', (qos) => SIZES[qos])
  for (const message of sent) await client.publish(message.topic, message.payload, message.qos)
  assertMessages(await client.take(sent.length), sent, false)
  assert.equal(client.connectionLosses, 0)
  await client.disconnect()
}

async function retained (t: TestContext, s: Scenario): Promise<void> {
  const base = s.topic('retained')
  const sent = perQos(s, base, 'retained')
  const publisher = await s.connect(t)
  for (const message of sent) await publisher.publish(message.topic, message.payload, message.qos, true)
  // The DISCONNECT follows the publishes on the same stream: the gateway must deliver all before closing.
  await publisher.disconnect()
  const subscriber = await s.connect(t)
  if (s.traits.retainedToWildcards) {
    await subscriber.subscribe(`${base}/#`, 2)
  } else {
    await assertNoRetainedFor(t, s, `${base}/#`)
    for (const message of sent) await subscriber.subscribe(message.topic, 2)
  }
  assertMessages(await subscriber.take(sent.length), sent, true)
  await subscriber.disconnect()
}

/** A broker that keeps retained messages from wildcard subscriptions keeps them from this one too. */
async function assertNoRetainedFor (t: TestContext, s: Scenario, filter: string): Promise<void> {
  const client = await s.connect(t)
  await client.subscribe(filter, 2)
  await sleep(SILENCE_MS)
  assert.equal(client.pending, 0, `retained messages reached ${filter}, which this broker is known not to do`)
  await client.disconnect()
}

async function lastWill (t: TestContext, s: Scenario): Promise<void> {
  const base = s.topic('will')
  const observer = await s.observe(t)
  await observer.subscribe(`${base}/#`, 2)
  const expected = perQos(s, base, 'will')
  const wills: Will[] = expected.map(({ topic, payload, qos }) => ({ topic, payload, qos, retain: false }))
  const victims = await Promise.all(wills.map(async (will) => await s.connect(t, { will })))
  const killedAt = Date.now()
  await Promise.all(victims.map(async (victim) => await victim.kill()))
  assertMessages(await observer.take(wills.length, WILL_DEADLINE), expected, false)
  t.diagnostic(`wills arrived ${Date.now() - killedAt} ms after the kill`)
}

async function roundTrip (client: TestClient, topic: string): Promise<void> {
  await client.subscribe(topic, 1)
  const sent = payload('round trip')
  await client.publish(topic, sent, 1)
  const [got] = await client.take(1)
  assert.ok(got !== undefined)
  assertSamePayload(got.payload, sent, topic)
}

async function reconnectAfterDisconnect (t: TestContext, s: Scenario): Promise<void> {
  const base = s.topic('reconnect')
  const observer = await s.observe(t)
  await observer.subscribe(`${base}/will`, 1)
  const id = clientId()
  const first = await s.connect(t, { clientId: id, will: { topic: `${base}/will`, payload: payload('will'), qos: 1, retain: false } })
  await roundTrip(first, `${base}/data`)
  await first.disconnect()
  const second = await s.connect(t, { clientId: id })
  assert.equal(second.sessionPresent, false)
  await roundTrip(second, `${base}/data`)
  await second.disconnect()
  await sleep(200)
  assert.equal(observer.pending, 0, 'a clean DISCONNECT must not publish the will')
}

async function reconnectAfterSocketDeath (t: TestContext, s: Scenario): Promise<void> {
  const base = s.topic('zombie')
  const id = clientId()
  const first = await s.connect(t, { clientId: id })
  await first.kill()
  // Straight back in with the same id, as the seed article's client did: the
  // old connection's teardown must not disturb the new session.
  const second = await s.connect(t, { clientId: id })
  await roundTrip(second, `${base}/data`)
  await sleep(300)
  await roundTrip(second, `${base}/data2`)
  assert.equal(second.connectionLosses, 0)
  await second.disconnect()
}

async function idlePings (t: TestContext, s: Scenario): Promise<void> {
  const client = await s.connect(t)
  const base = s.topic('idle')
  await roundTrip(client, `${base}/before`)
  await sleep(IDLE_MS)
  assert.equal(client.connectionLosses, 0, 'connection lost while idle')
  await roundTrip(client, `${base}/after`)
  assert.equal(client.connectionLosses, 0)
  await client.disconnect()
}

/**
 * CONNACK "unacceptable protocol version": 3.1.1 return code 1 on the wire.
 * Paho, speaking v5, reports it as the v5 equivalent 0x84.
 */
const UNACCEPTABLE_PROTOCOL_VERSION = [1, 0x84]

async function versionRefused (t: TestContext, s: Scenario): Promise<void> {
  if (s.traits.unsupportedVersion === 'close') {
    await versionClosed(t, s)
    return
  }
  await assert.rejects(s.connect(t), (err: unknown) => {
    assert.ok(err instanceof ConnackError, `expected the broker's CONNACK refusal, got ${String(err)}`)
    assert.ok(UNACCEPTABLE_PROTOCOL_VERSION.includes(err.reasonCode), `CONNACK code ${err.reasonCode}`)
    return true
  })
}

/** A broker that closes on an unknown version: the client sees the close at once, not its own timeout. */
async function versionClosed (t: TestContext, s: Scenario): Promise<void> {
  const started = Date.now()
  await assert.rejects(s.connect(t), (err: unknown) => {
    assert.ok(!(err instanceof ConnackError), `this broker sends no CONNACK for an unknown version, got ${String(err)}`)
    return true
  })
  const took = Date.now() - started
  assert.ok(took < REFUSAL_DEADLINE, `the close took ${took} ms to reach the client`)
}

const scenarios: [string, (t: TestContext, s: Scenario) => Promise<void>][] = [
  ['subscribe, publish and receive at QoS 0, 1, 2 (payload intact)', subscribePublishReceive],
  ['retained messages at QoS 0, 1, 2 reach a later subscriber', retained],
  ['last wills at QoS 0, 1, 2 arrive promptly when the socket dies without DISCONNECT', lastWill],
  ['clean reconnect with the same client id after DISCONNECT (no will sent)', reconnectAfterDisconnect],
  ['reconnect with the same client id right after the socket died', reconnectAfterSocketDeath]
]

/**
 * Registers the matrix for one client. `openDriver` starts the client side
 * (a browser, say); one gateway per broker kind is shared by the whole file.
 * The idle-ping check comes with the embedded broker's kind.
 */
export function interopMatrix (openDriver: () => Promise<DriverHarness>, versions: readonly MqttVersion[], kinds: readonly BrokerKind[] = BROKER_KINDS): void {
  const idle = kinds.includes('aedes')
  let harness: DriverHarness | undefined
  const targets = new Map<BrokerKind | 'idle', Target>()
  before(async () => {
    harness = await openDriver()
    for (const kind of kinds) targets.set(kind, await startTarget(kind))
    // WebSocket pings are the gateway's own business, whatever the broker: one kind is enough.
    if (idle) targets.set('idle', await startTarget('aedes', { wsPingIdle: 1 }))
  })
  after(async () => {
    for (const target of targets.values()) await target.close()
    await harness?.close()
  })
  const target = (key: BrokerKind | 'idle') => (): Target => {
    const found = targets.get(key)
    assert.ok(found !== undefined, `${key} target not started`)
    return found
  }
  const connect: Connect = async (options) => {
    assert.ok(harness !== undefined, 'client driver not started')
    return await harness.driver.connect(options)
  }
  for (const kind of kinds) {
    for (const version of versions) {
      describe(`${kind} broker, MQTT ${versionName(version)}`, () => {
        const s = scenario(connect, target(kind), version, brokerTraits(kind))
        if (!brokerVersions(kind).includes(version)) {
          const refusal = brokerTraits(kind).unsupportedVersion === 'connack' ? 'its CONNACK code' : 'its close'
          it(`the broker refuses this version and ${refusal} reaches the client`, { timeout: TEST_TIMEOUT }, async (t) => await versionRefused(t, s))
          return
        }
        for (const [name, run] of scenarios) it(name, { timeout: TEST_TIMEOUT }, async (t) => await run(t, s))
      })
    }
  }
  if (!idle) return
  describe('idle WebSocket pings (gateway with wsPingIdle 1, embedded broker, MQTT 3.1.1)', () => {
    const s = scenario(connect, target('idle'), 4, brokerTraits('aedes'))
    it(`stays connected through ${IDLE_MS} ms of silence and carries traffic after it`, { timeout: TEST_TIMEOUT }, async (t) => await idlePings(t, s))
  })
}

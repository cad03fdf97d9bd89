/**
 * A broker cluster upstream: the gateway in front of a 2-node RabbitMQ 3.10
 * cluster (`upstream: 'mqtt://A,mqtt://B'`, failover), and a persistent
 * session that outlives the node it was made on.
 *
 * RabbitMQ keeps an MQTT 3.1.1 session (clean=false, QoS 1) in a durable
 * queue `mqtt-subscription-<client id>qos1`. A classic queue lives on one
 * node: with node A stopped, resuming the session through node B fails. The
 * operator's fix on 3.10 is a policy mirroring those queues to every node
 * (`ha-mode: all`); quorum queues (`mqtt.durable_queue_type = quorum`) need
 * a majority of replicas, so on 2 nodes they stop taking messages when one
 * node is down. The README's per-broker notes say the same.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startGateway } from '../support/gateway.js'
import type { RunningGateway } from '../support/gateway.js'
import { connectMqttjs } from '../support/mqttjs.js'
import type { TestClient } from '../support/client.js'
import { clientId, uid } from '../support/payload.js'
import { skipUnlessRabbitmq, startRabbitCluster } from '../support/rabbitmq.js'
import { waitUntil, withTimeout } from '../support/wait.js'
import type { RabbitCluster, RabbitNode, RabbitPolicy } from '../support/rabbitmq.js'

const skip = skipUnlessRabbitmq('broker cluster upstream (RabbitMQ)')

/** What an operator of a 3.10 cluster sets so that MQTT sessions survive a node: mirror them everywhere. */
const MIRRORED_MQTT_SESSIONS: RabbitPolicy = {
  name: 'mqtt-sessions-mirrored',
  pattern: '^mqtt-subscription-',
  definition: { 'ha-mode': 'all', 'ha-sync-mode': 'automatic' }
}

/** Messages queued in each phase: while node A still runs, and after it stopped. */
const QUEUED = 25
const DELIVERY_TIMEOUT = 15_000
/** A broker that cannot take a QoS 1 message may never PUBACK it (quorum queues without a majority). */
const PUBACK_TIMEOUT = 5000
/** The fleet's promise: a client id that connects elsewhere closes its old connection this soon. */
const TAKEOVER_DEADLINE = 1000

/** The node names in an Erlang pid list as rabbitmqctl prints it: `<mwg-a@localhost.1796.908.0>`. */
function pidNodes (text: string): string[] {
  return [...text.matchAll(/<([^<>.]+@[^<>.]+)\./g)].map((match) => match[1] ?? '')
}

/** The session queue's master and synchronised mirrors, as node names. */
async function sessionQueue (cluster: RabbitCluster, on: RabbitNode, id: string): Promise<{ master: string, mirrors: string[] }> {
  const out = await cluster.ctl(on, ['list_queues', '--silent', 'name', 'pid', 'synchronised_slave_pids'])
  const row = out.split('\n').map((line) => line.split('\t')).find(([name]) => name === `mqtt-subscription-${id}qos1`)
  assert.ok(row !== undefined, `no session queue for ${id} in:\n${out}`)
  return { master: pidNodes(row[1] ?? '')[0] ?? '', mirrors: pidNodes(row[2] ?? '') }
}

async function publishAll (url: string, topics: string[]): Promise<void> {
  const publisher = await connectMqttjs({ url, clientId: clientId('pub'), version: 4 })
  try {
    for (const topic of topics) await withTimeout(publisher.publish(topic, Buffer.from(topic), 1), PUBACK_TIMEOUT, `PUBACK for ${topic}`)
    await publisher.disconnect()
  } finally {
    await publisher.close()
  }
}

/** Takes messages until every one of `expected` came at least once (QoS 1 allows duplicates). */
async function receiveAll (client: TestClient, expected: string[]): Promise<{ duplicates: number }> {
  const missing = new Set(expected)
  const deadline = Date.now() + DELIVERY_TIMEOUT
  let duplicates = 0
  while (missing.size > 0) {
    const remaining = deadline - Date.now()
    assert.ok(remaining > 0, `${missing.size} of ${expected.length} queued messages never came, e.g. ${[...missing][0]}`)
    const [message] = await client.take(1, remaining)
    assert.ok(message !== undefined)
    assert.equal(message.payload.toString(), message.topic, 'payload intact')
    assert.equal(message.qos, 1, `QoS of ${message.topic}`)
    if (!missing.delete(message.topic)) duplicates++
  }
  return { duplicates }
}

describe('broker cluster upstream: RabbitMQ 3.10, 2 nodes, MQTT 3.1.1', { skip }, () => {
  let cluster: RabbitCluster | undefined
  let gateway: RunningGateway | undefined
  before(async () => {
    cluster = await startRabbitCluster({ nodes: 2, policies: [MIRRORED_MQTT_SESSIONS] })
    gateway = await startGateway({ upstream: cluster.upstream })
  })
  after(async () => {
    await gateway?.close()
    await cluster?.close()
  })

  it('the same client id through a gateway to node A, then one to node B: the first connection is closed', async (t) => {
    assert.ok(cluster !== undefined && gateway !== undefined)
    const [a, b] = cluster.nodes
    assert.ok(a !== undefined && b !== undefined)
    t.diagnostic(`cluster up in ${cluster.startMs} ms: ${a.name} alone ${a.startMs} ms, then ${b.name} joined in ${b.startMs} ms`)
    const toB = await startGateway({ upstream: `${b.url},${a.url}` })
    t.after(toB.close)
    const id = clientId('twice')
    const first = await connectMqttjs({ url: gateway.url, clientId: id, version: 4 })
    t.after(first.close)
    const connecting = performance.now()
    const second = await connectMqttjs({ url: toB.url, clientId: id, version: 4 })
    t.after(second.close)
    // RabbitMQ's client id tracker (a Raft cluster over the nodes) tells node A's connection to go.
    await waitUntil(() => first.connectionLosses === 1, TAKEOVER_DEADLINE, 'the first connection closed')
    t.diagnostic(`node A's connection closed ${Math.round(performance.now() - connecting)} ms after the second CONNECT`)
    const topic = `fleet/${uid()}/twice`
    assert.deepEqual(await second.subscribe(topic, 1), [1])
    await second.publish(topic, Buffer.from('still here'), 1)
    assert.equal((await second.take(1))[0]?.payload.toString(), 'still here')
    assert.equal(second.connectionLosses, 0)
    await second.disconnect()
  })

  it('a persistent session made through node A is found through node B after A stops, with what was queued meanwhile', async (t) => {
    assert.ok(cluster !== undefined && gateway !== undefined)
    const [a, b] = cluster.nodes
    assert.ok(a !== undefined && b !== undefined)
    const id = clientId('fleet')
    const base = `fleet/${uid()}`

    const subscriber = await connectMqttjs({ url: gateway.url, clientId: id, version: 4, clean: false })
    t.after(subscriber.close)
    assert.equal(subscriber.sessionPresent, false)
    assert.deepEqual(await subscriber.subscribe(`${base}/#`, 1), [1])
    await subscriber.disconnect()
    // Failover order puts the session on A; the policy gave it a synchronised mirror on B.
    assert.deepEqual(await sessionQueue(cluster, b, id), { master: a.name, mirrors: [b.name] })

    const before = Array.from({ length: QUEUED }, (_, i) => `${base}/before-stop/${i}`)
    await publishAll(gateway.url, before)
    const stopping = performance.now()
    await a.stop()
    const stopMs = Math.round(performance.now() - stopping)
    // Through the same gateway, which now finds A refusing and goes on to B.
    const afterStop = Array.from({ length: QUEUED }, (_, i) => `${base}/after-stop/${i}`)
    await publishAll(gateway.url, afterStop)

    const resuming = performance.now()
    const back = await connectMqttjs({ url: gateway.url, clientId: id, version: 4, clean: false })
    t.after(back.close)
    assert.equal(back.sessionPresent, true, 'node B knows the session')
    const { duplicates } = await receiveAll(back, [...before, ...afterStop])
    t.diagnostic(`node A stopped in ${stopMs} ms; session resumed on B and ${2 * QUEUED} messages received in ${Math.round(performance.now() - resuming)} ms (${duplicates} duplicates)`)
    assert.equal((await sessionQueue(cluster, b, id)).master, b.name)
    await back.disconnect()
  })
})

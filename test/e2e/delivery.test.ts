/**
 * Delivery guarantees across a reconnect: a persistent subscriber whose
 * connection dies mid-stream (vanishes, is reset, or is closed) and comes
 * back once must end with every QoS 1 message at least once and every QoS 2
 * message exactly once, through the gateway as straight to the broker.
 *
 * Targets: Mosquitto straight over TCP (the control), the gateway in front
 * of Mosquitto, the gateway with its embedded broker, and that broker's own
 * TCP port (plain MQTT clients of `npm start`). The publisher
 * always talks to the broker straight over TCP. The races this guards
 * against (issue 13) hit about one reconnect in two, so each case runs
 * several rounds; the embedded broker, where they lived, runs the most.
 * Order is checked as well: Mosquitto keeps publish order across the
 * reconnect, and so must the gateway.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { freePort } from '../support/free-port.js'
import { startGateway } from '../support/gateway.js'
import type { RunningGateway } from '../support/gateway.js'
import { startMosquitto } from '../support/mosquitto.js'
import type { Mosquitto } from '../support/mosquitto.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { KILL_MODES, startRelay } from '../support/relay.js'
import type { KillMode, Relay } from '../support/relay.js'
import { runRound } from '../support/delivery.js'
import type { Qos, RoundResult, Version } from '../support/delivery.js'

const MESSAGES = 600
const KILL_AFTER = 200
/**
 * Mosquitto 2.0.11 (Debian 12) stops sending queued QoS 2 messages to a
 * subscriber once max_inflight_messages (20) have completed, whatever the
 * client; with no inflight limit nothing is held back by that defect.
 */
const MOSQUITTO_CONFIG = ['max_inflight_messages 0']

interface Endpoints {
  /** Where the subscriber goes, before the relay is put in front. */
  subscriber: string
  /** Where the publisher goes: the broker's TCP port. */
  publisher: string
  close: () => Promise<void>
}

interface TargetSpec {
  name: string
  versions: readonly Version[]
  rounds: number
  start: () => Promise<Endpoints>
}

async function mosquittoEndpoints (viaGateway: boolean): Promise<Endpoints> {
  const mosquitto: Mosquitto = await startMosquitto({ config: MOSQUITTO_CONFIG })
  if (!viaGateway) return { subscriber: mosquitto.url, publisher: mosquitto.url, close: mosquitto.stop }
  let gateway: RunningGateway
  try {
    gateway = await startGateway({ upstream: mosquitto.url })
  } catch (err) {
    await mosquitto.stop()
    throw err
  }
  return {
    subscriber: gateway.url,
    publisher: mosquitto.url,
    close: async () => { await gateway.close(); await mosquitto.stop() }
  }
}

async function embeddedEndpoints (viaTcp: boolean): Promise<Endpoints> {
  const tcpPort = await freePort()
  const gateway = await startGateway({ tcpPort })
  const tcpUrl = `mqtt://127.0.0.1:${tcpPort}`
  return { subscriber: viaTcp ? tcpUrl : gateway.url, publisher: tcpUrl, close: gateway.close }
}

const TARGETS: readonly TargetSpec[] = [
  { name: 'straight to Mosquitto (control)', versions: [4, 5], rounds: 2, start: async () => await mosquittoEndpoints(false) },
  { name: 'gateway → Mosquitto', versions: [4, 5], rounds: 2, start: async () => await mosquittoEndpoints(true) },
  // Aedes 1.x speaks MQTT 3.1 and 3.1.1 only.
  { name: 'gateway → embedded broker', versions: [4], rounds: 6, start: async () => await embeddedEndpoints(false) },
  { name: 'embedded broker on its own TCP port', versions: [4], rounds: 3, start: async () => await embeddedEndpoints(true) }
]

function listed (counts: Uint8Array, keep: (count: number) => boolean): string {
  const seqs: number[] = []
  counts.forEach((count, seq) => { if (keep(count)) seqs.push(seq) })
  return seqs.length <= 12 ? seqs.join(', ') : `${seqs.slice(0, 12).join(', ')}, … (${seqs.length})`
}

function judge (result: RoundResult, qos: Qos): void {
  const what = `${result.name}: missing [${listed(result.counts, (c) => c === 0)}], ` +
    `more than once [${listed(result.counts, (c) => c > 1)}], second connection dropped ${result.droppedAfterReconnect} time(s)`
  assert.equal(result.droppedAfterReconnect, 0, `the connection after the reconnect must hold; ${what}`)
  assert.equal(result.missing, 0, `every message must arrive by the end of the first reconnect; ${what}`)
  if (qos === 2) assert.equal(result.duplicates, 0, `QoS 2 is exactly once; ${what}`)
  assert.equal(result.outOfOrder, 0, `messages arrive in publish order, as straight to Mosquitto; ${what}, ${result.outOfOrder} out of order`)
}

async function rounds (t: TestContext, relay: Relay, endpoints: Endpoints, target: TargetSpec, version: Version, qos: Qos, mode: KillMode): Promise<void> {
  let duplicates = 0
  let ms = 0
  for (let round = 0; round < target.rounds; round++) {
    const result = await runRound({
      subscriberUrl: relay.via(endpoints.subscriber),
      publisherUrl: endpoints.publisher,
      relay,
      version,
      qos,
      mode,
      name: `v${version}-q${qos}-${mode}-${round}-${Math.random().toString(36).slice(2, 8)}`,
      messages: MESSAGES,
      killAfter: KILL_AFTER
    })
    judge(result, qos)
    duplicates += result.duplicates
    ms += result.ms
  }
  t.diagnostic(`${target.rounds} rounds of ${MESSAGES}: QoS ${qos} duplicates ${duplicates} in all, ${ms} ms`)
}

describe('delivery across a reconnect', { skip: skipUnlessAvailable('delivery', 'mosquitto') }, () => {
  for (const target of TARGETS) {
    describe(target.name, () => {
      let endpoints: Endpoints
      let relay: Relay
      before(async () => {
        endpoints = await target.start()
        relay = await startRelay(Number(new URL(endpoints.subscriber).port))
      })
      after(async () => {
        await relay?.close()
        await endpoints?.close()
      })
      for (const version of target.versions) {
        for (const qos of [1, 2] as const) {
          for (const mode of KILL_MODES) {
            it(`MQTT ${version === 4 ? '3.1.1' : '5'}, QoS ${qos}, connection ${mode}: ${qos === 1 ? 'at least' : 'exactly'} once`, async (t) => {
              await rounds(t, relay, endpoints, target, version, qos, mode)
            })
          }
        }
      }
    })
  }
})

/**
 * Embedded broker: one subscriber that stops reading costs only itself
 * (issue 13). Aedes delivers a message to every subscriber before it reads
 * the publisher's next packet, so a subscriber whose writes wait stalls the
 * whole topic; the gateway therefore never makes Aedes wait, holds what the
 * slow client cannot take up to a bound, and drops that client.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { skipUnlessAvailable } from '../support/programs.js'
import { spawnGateway } from '../support/gateway-process.js'
import { connectPacket, subscribePacket } from '../support/mqtt-bytes.js'
import { floodPings } from '../support/ping-flooder.js'

const RATE = 2000
const PAYLOAD = Buffer.alloc(1024, 0x61)
/** Short, so the stall it bounds today shows within the test's time. */
const DRAIN_TIMEOUT_MS = 3000

describe('embedded broker: a frozen subscriber', () => {
  const skip = skipUnlessAvailable('frozen subscriber', 'paho')
  it('stalls no one: every message reaches a healthy subscriber on the same topic within 1 s; the frozen one is dropped', { skip }, async (t) => {
    const gw = await spawnGateway(['--drain-timeout', String(DRAIN_TIMEOUT_MS), '--log-level', 'info', '--tcp-port', '0'])
    t.after(() => gw.stop())

    const healthy = await mqtt.connectAsync(gw.url, { clientId: 'healthy', reconnectPeriod: 0 })
    t.after(() => healthy.end(true))
    // Each message carries its send time: its delay, not the gap between
    // arrivals, is what a stall shows (a busy test process may itself pause
    // its publishing for a moment).
    const delays: number[] = []
    healthy.on('message', (_topic, payload) => delays.push(performance.now() - payload.readDoubleBE(0)))
    await healthy.subscribeAsync('feed')

    // A subscriber that subscribes, then never reads again (4 KiB receive buffer).
    const frozen = floodPings(gw.url, {
      ms: DRAIN_TIMEOUT_MS + 8000,
      first: Buffer.concat([connectPacket('frozen'), subscribePacket('feed')]),
      pingsPerSend: 1,
      gapMicros: 100_000
    }, () => {})

    const publisher = await mqtt.connectAsync(gw.url, { clientId: 'publisher', reconnectPeriod: 0 })
    t.after(() => publisher.end(true))
    await new Promise((resolve) => setTimeout(resolve, 300)) // the frozen subscription is in place
    const started = performance.now()
    const sendFor = DRAIN_TIMEOUT_MS + 3000
    let sent = 0
    while (performance.now() - started < sendFor) {
      const due = Math.floor((performance.now() - started) * RATE / 1000)
      for (; sent < due; sent++) {
        const payload = Buffer.from(PAYLOAD)
        payload.writeDoubleBE(performance.now(), 0)
        publisher.publish('feed', payload, { qos: 0 })
      }
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    await new Promise((resolve) => setTimeout(resolve, 500))

    const worstDelay = Math.max(...delays)
    const result = await frozen
    const close = gw.logs.find((l) => l.event === 'close' && l.clientId === 'frozen')
    t.diagnostic(`${sent} published, ${delays.length} received by the healthy subscriber, worst delay ${worstDelay.toFixed(0)} ms; frozen: ${result.outcome} after ${result.elapsedMs} ms, ${String(close?.reason)}`)
    assert.ok(worstDelay < 1000, `a message reached the healthy subscriber ${worstDelay.toFixed(0)} ms after it was sent`)
    assert.ok(delays.length >= sent * 0.99, `the healthy subscriber got ${delays.length} of ${sent}`)
    assert.equal(result.outcome, 'dropped', 'the frozen subscriber was never dropped')
    assert.ok(close?.reason === 'client_queue_full' || close?.reason === 'client_drain_timeout', `frozen closed for ${String(close?.reason)}`)
  })
})

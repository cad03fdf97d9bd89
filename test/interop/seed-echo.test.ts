/**
 * The seed article's scenario: a Paho client (its client.py) publishes
 * "Payload N" at 100 msg/s to the topic it subscribes to, keep-alive 60,
 * through the gateway to Mosquitto. Behind uvicorn the connection dropped
 * every 20 s because WebSocket pings queued behind data went unanswered.
 * Here it must run 45 s (more than two of those periods) with no disconnect
 * and every message echoed, while the gateway pings after 1 s of silence —
 * so an idle ping that fired under load would show up. (How each client
 * answers idle pings is the matrix's "idle" test.)
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import { startTarget } from '../support/gateway.js'
import type { Target } from '../support/gateway.js'
import { connectPahoProcess } from '../support/paho.js'
import type { PahoLine, PahoProcess } from '../support/paho.js'
import { uid } from '../support/payload.js'
import { skipUnlessAvailable } from '../support/programs.js'

const TOPIC = 'iot'
const RATE = 100
const DURATION_S = 45
/** The pacing loop sleeps between sends; allow it 5 % of slack. */
const MIN_SENT = RATE * DURATION_S * 0.95

interface EchoSummary { sent: number, received: number, missing: number, first_missing: number[], duplicates: number, out_of_order: number, max_latency_ms: number, disconnects: number }

async function echo (paho: PahoProcess): Promise<EchoSummary> {
  const reply = await paho.call('echo', { topic: TOPIC, rate: RATE, duration: DURATION_S, qos: 0, drain: 10 }, (DURATION_S + 30) * 1000)
  return reply as PahoLine & EchoSummary
}

function assertAllEchoed (summary: EchoSummary): void {
  assert.equal(summary.disconnects, 0, 'disconnects')
  assert.ok(summary.sent >= MIN_SENT, `sent only ${summary.sent}, expected about ${RATE * DURATION_S}`)
  assert.equal(summary.missing, 0, `missing echoes, first: ${summary.first_missing.join(', ')}`)
  assert.equal(summary.received, summary.sent)
  assert.equal(summary.duplicates, 0, 'duplicates')
}

function report (t: TestContext, summary: EchoSummary): void {
  t.diagnostic(`sent ${summary.sent}, echoed ${summary.received}, max latency ${summary.max_latency_ms} ms, out of order ${summary.out_of_order}, disconnects ${summary.disconnects}`)
}

describe('interop: the seed article scenario (Paho, 100 msg/s, through the gateway to Mosquitto)', { skip: skipUnlessAvailable('interop seed echo', 'mosquitto', 'paho') }, () => {
  let target: Target | undefined
  before(async () => { target = await startTarget('mosquitto', { wsPingIdle: 1 }) })
  after(async () => { await target?.close() })

  it(`echoes every message for ${DURATION_S} s with zero disconnects`, { timeout: (DURATION_S + 60) * 1000 }, async (t) => {
    assert.ok(target !== undefined)
    const { paho } = await connectPahoProcess({ url: target.url, clientId: `bench-${uid()}`, version: 4, keepalive: 60 })
    t.after(async () => { await paho.kill() })
    paho.onEvent = (line) => {
      if (line.event === 'progress') t.diagnostic(`progress: sent ${String(line.sent)}, echoed ${String(line.received)}`)
      if (line.event === 'disconnect') t.diagnostic(`paho disconnected, rc ${String(line.rc)}`)
    }
    await paho.call('subscribe', { topic: TOPIC, qos: 0 })

    const load = await echo(paho)
    report(t, load)
    assertAllEchoed(load)
    await paho.call('disconnect')
  })
})

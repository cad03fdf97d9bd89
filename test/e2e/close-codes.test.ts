/**
 * What a client gets, in both modes: the embedded broker and Mosquitto
 * upstream (issue 13). Table-driven: one row per thing a client can do,
 * with the close code, the log reason and the packets it sees.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createGateway } from '../../src/index.js'
import type { Gateway } from '../../src/index.js'
import { startMosquitto } from '../support/mosquitto.js'
import type { Mosquitto } from '../support/mosquitto.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { captureLogs } from '../support/logs.js'
import { connectPacket, encode, parseAll } from '../support/mqtt-bytes.js'
import { connectRaw } from '../support/raw-client.js'
import type { RawClient } from '../support/raw-client.js'

type Mode = 'embedded' | 'mosquitto'

interface Expectation {
  /** Close code the client gets, or undefined when the connection stays open. */
  code: number | undefined
  reason: string | undefined
  /** MQTT packets the client receives, by command (and code for CONNACK). */
  packets: string[]
  /** What the close log line's detail must say, when the reason alone does not. */
  detail?: RegExp
}

interface Row {
  name: string
  send: (client: RawClient) => void
  /** How long the row may take. */
  within: number
  expect: Record<Mode, Expectation>
}

const FIRST_PACKET_TIMEOUT_MS = 500
const QUEUE_LIMIT = 42

const pingreq = encode({ cmd: 'pingreq' })

const rows: Row[] = [
  {
    name: 'no CONNECT within --first-packet-timeout',
    send: () => {},
    within: FIRST_PACKET_TIMEOUT_MS + 2000,
    expect: {
      embedded: { code: 1008, reason: 'connect_timeout', packets: [] },
      mosquitto: { code: 1008, reason: 'connect_timeout', packets: [] }
    }
  },
  {
    name: 'an MQTT 5 CONNECT',
    send: (c) => c.sendBinary(connectPacket('v5-client', 5)),
    within: 2000,
    expect: {
      // Aedes 1.x speaks 3.1.1: refused in MQTT 5's own words, reason 0x84.
      embedded: { code: 1000, reason: 'connack_refused', packets: ['connack 132'], detail: /0x84 unsupported protocol version/ },
      mosquitto: { code: undefined, reason: undefined, packets: ['connack 0'] }
    }
  },
  {
    name: 'a CONNECT the broker refuses (empty client id with clean session 0)',
    // By hand: mqtt-packet will not write it. Protocol "MQTT" level 4, flags 0 (clean session 0), keep-alive 60, client id "".
    send: (c) => c.sendBinary(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x3c, 0x00, 0x00])),
    within: 2000,
    expect: {
      // [MQTT-3.1.3-8] CONNACK 2 "identifier rejected", then the broker closes.
      embedded: { code: 1000, reason: 'connack_refused', packets: ['connack 2'], detail: /return code 2 identifier rejected/ },
      mosquitto: { code: 1000, reason: 'connack_refused', packets: ['connack 2'], detail: /return code 2 identifier rejected/ }
    }
  },
  {
    name: `${QUEUE_LIMIT + 8} packets after the CONNECT, before the CONNACK`,
    send: (c) => c.sendBinary(Buffer.concat([connectPacket('eager'), ...Array.from({ length: QUEUE_LIMIT + 8 }, () => pingreq)])),
    within: 2000,
    expect: {
      // The embedded broker queues them (--broker-queue-limit); Mosquitto reads them in turn.
      embedded: { code: 1008, reason: 'queue_limit', packets: [] },
      mosquitto: { code: undefined, reason: undefined, packets: ['connack 0', ...Array.from({ length: QUEUE_LIMIT + 8 }, () => 'pingresp')] }
    }
  },
  {
    name: 'a malformed packet after the CONNACK (PUBLISH with QoS 3)',
    send: (c) => {
      c.sendBinary(connectPacket('malformed-after'))
      setTimeout(() => c.sendBinary(Buffer.from([0x36, 0x03, 0x00, 0x01, 0x74])), 200)
    },
    within: 2000,
    expect: {
      embedded: { code: 1000, reason: 'broker_close', packets: ['connack 0'] },
      mosquitto: { code: 1000, reason: 'broker_close', packets: ['connack 0'] }
    }
  }
]

function summarize (client: RawClient, version: 4 | 5): string[] {
  return parseAll(Buffer.concat(client.messages), version).map((p) => {
    const packet = p as { cmd: string, returnCode?: number, reasonCode?: number }
    return packet.cmd === 'connack' ? `connack ${String(packet.returnCode ?? packet.reasonCode)}` : packet.cmd
  })
}

describe('close codes and CONNACKs, the same in both modes where MQTT allows', () => {
  const skip = skipUnlessAvailable('close codes', 'mosquitto')
  const gateways = new Map<Mode, { gateway: Gateway, url: string, logs: ReturnType<typeof captureLogs> }>()
  let mosquitto: Mosquitto | undefined

  before(async () => {
    if (skip !== false) return
    mosquitto = await startMosquitto()
    for (const mode of ['embedded', 'mosquitto'] as const) {
      const logs = captureLogs()
      const gateway = createGateway({
        host: '127.0.0.1',
        port: 0,
        tcpPort: 0,
        adminPort: 0,
        firstPacketTimeout: FIRST_PACKET_TIMEOUT_MS,
        brokerQueueLimit: QUEUE_LIMIT,
        closeTimeout: 500,
        logger: logs.logger,
        ...(mode === 'mosquitto' ? { upstream: mosquitto.url } : {})
      })
      const { url } = await gateway.listen()
      gateways.set(mode, { gateway, url, logs })
    }
  })
  after(async () => {
    for (const { gateway } of gateways.values()) await gateway.close()
    await mosquitto?.stop()
  })

  for (const row of rows) {
    for (const mode of ['embedded', 'mosquitto'] as const) {
      const want = row.expect[mode]
      it(`${mode}: ${row.name} → ${want.code === undefined ? 'stays open' : `close ${want.code} ${String(want.reason)}`}`, { skip }, async (t) => {
        const { url, logs } = gateways.get(mode) as { url: string, logs: ReturnType<typeof captureLogs> }
        const client = await connectRaw(url)
        t.after(() => client.destroy())
        const version = row.name.includes('MQTT 5') ? 5 : 4
        row.send(client)
        if (want.code === undefined) {
          await client.waitFor(() => summarize(client, version).length >= want.packets.length, row.within, 'the packets')
          assert.deepEqual(summarize(client, version), want.packets)
          assert.equal(client.closeCode, undefined)
          return
        }
        await client.waitFor(() => client.closeCode !== undefined, row.within, 'a close frame')
        client.sendClose(client.closeCode)
        assert.equal(client.closeCode, want.code)
        assert.deepEqual(summarize(client, version), want.packets)
        const logged = (): boolean => logs.lines.some((l) => l.event === 'close' && l.reason === want.reason && (want.detail === undefined || want.detail.test(String(l.detail))))
        await client.waitFor(logged, 2000, `a close log line with reason ${String(want.reason)}${want.detail === undefined ? '' : ` and detail ${String(want.detail)}`}`)
      })
    }
  }
})

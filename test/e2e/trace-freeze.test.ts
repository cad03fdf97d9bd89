/**
 * A dropped connection diagnosed from the trace alone, as the seed's team
 * had to with tcpdump: a client connects, subscribes, publishes, then
 * freezes (reads nothing, answers nothing, sends no FIN). Read only from
 * what `mqtt-ws-gateway trace` printed, the test finds its last packets, the
 * idle ping sent after --ws-ping-idle of silence and never answered, and the
 * gateway's close one period later with its reason, in that order and at
 * those times. The human output is left in .tmp/trace-freeze.txt (the
 * README's walkthrough is one such run). And a client that only stops
 * reading: the trace shows the backpressure, paused then resumed.
 */
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { GatewayServer } from '../../src/gateway.js'
import { freePort } from '../support/free-port.js'
import { waitUntil } from '../support/wait.js'
import { connectPacket, encode, subscribePacket } from '../support/mqtt-bytes.js'
import { connectRaw } from '../support/raw-client.js'
import type { RawClient } from '../support/raw-client.js'
import { capturingLogger, sequenceOf, startCliTrace } from '../support/trace-viewers.js'
import type { CliViewer, TraceEventJson } from '../support/trace-viewers.js'

const OUTPUT = fileURLToPath(new URL('../../.tmp/trace-freeze.txt', import.meta.url))
const PING_IDLE_MS = 1000
/** How late a timer may fire on a loaded 2-core CI machine and still count as on time. */
const LATE_MS = 600

describe('a frozen client, diagnosed from its trace', () => {
  let gateway: GatewayServer
  let human: CliViewer
  let json: CliViewer
  let client: RawClient
  let events: TraceEventJson[] = []

  before(async () => {
    gateway = new GatewayServer({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: await freePort(), logger: capturingLogger().logger, wsPingIdle: PING_IDLE_MS / 1000 })
    const address = await gateway.listen()
    const admin = address.adminUrl ?? ''
    human = startCliTrace(['--client', 'meter-7', '--admin', admin, '--no-color'])
    json = startCliTrace(['--client', 'meter-7', '--admin', admin, '--json'])
    await waitUntil(() => human.lines().length > 0 && json.lines().length > 0, 20_000, 'the trace commands started')

    client = await connectRaw(address.url)
    const answers = async (n: number): Promise<void> => { await client.waitFor(() => client.messages.length >= n, 5000, `${n} answers`) }
    client.sendBinary(connectPacket('meter-7', 4, 60))
    await answers(1)
    client.sendBinary(subscribePacket('cmd/meter-7', 1))
    await answers(2)
    client.sendBinary(encode({ cmd: 'publish', topic: 'meters/7/kwh', payload: Buffer.from('1432.7'), qos: 1, messageId: 2, retain: false, dup: false }))
    await answers(3)
    // Frozen: reads nothing more, answers nothing, never closes.
    client.socket.pause()

    const parsed = (): TraceEventJson[] => json.lines().map((l) => JSON.parse(l) as TraceEventJson)
    await waitUntil(() => parsed().some((e) => e.type === 'close'), 3 * PING_IDLE_MS + 5000, 'the close')
    await waitUntil(() => human.stdout().includes('closed by gateway'), 5000, 'the human line of the close')
    assert.equal(await human.interrupt(), 0)
    assert.equal(await json.interrupt(), 0)
    events = parsed()
    mkdirSync(fileURLToPath(new URL('../../.tmp/', import.meta.url)), { recursive: true })
    writeFileSync(OUTPUT, `$ mqtt-ws-gateway trace --client meter-7\n${human.stderr()}${human.stdout()}`)
  })

  after(async () => {
    await human?.stop()
    await json?.stop()
    client?.destroy()
    await gateway?.close()
  })

  const at = (sig: (e: TraceEventJson) => boolean): TraceEventJson => {
    const found = events.find(sig)
    assert.ok(found !== undefined, 'event missing from the trace')
    return found
  }

  test('the trace tells the whole story, in order: last packets, a ping never answered, the close', () => {
    const conn = at((e) => e.type === 'open').conn as number
    assert.deepEqual(sequenceOf(events, conn), [
      'open', 'client->broker CONNECT', 'broker->client CONNACK',
      'client->broker SUBSCRIBE', 'broker->client SUBACK',
      'client->broker PUBLISH', 'broker->client PUBACK',
      'gateway->client ws ping',
      'gateway->client ws close',
      'close'
    ])
    const close = at((e) => e.type === 'close')
    assert.deepEqual([close.initiator, close.reason, close.code], ['gateway', 'idle_timeout', 1001])
    assert.equal(close.detail, 'no frame from the client for 1 s after a ping')
    assert.equal(at((e) => e.packet === 'PUBLISH').topic, 'meters/7/kwh')
    assert.equal(at((e) => e.packet === 'PUBACK').id, 2)
    assert.equal(at((e) => e.frame === 'close').code, 1001)
  })

  test('with the right timings: a ping after one idle period, the close one period after it', () => {
    const puback = at((e) => e.packet === 'PUBACK').mono as number
    const ping = at((e) => e.frame === 'ping')
    const closeFrame = at((e) => e.frame === 'close').mono as number
    const close = at((e) => e.type === 'close').mono as number
    const silence = (ping.mono as number) - puback
    assert.ok(silence >= PING_IDLE_MS - 5 && silence < PING_IDLE_MS + LATE_MS, `ping ${silence} ms after the last packet`)
    assert.ok((ping.idleMs as number) >= PING_IDLE_MS - 5, `the ping says ${String(ping.idleMs)} ms of silence`)
    const unanswered = closeFrame - (ping.mono as number)
    assert.ok(unanswered >= PING_IDLE_MS - 5 && unanswered < PING_IDLE_MS + LATE_MS, `closed ${unanswered} ms after the ping`)
    assert.ok(close - closeFrame < LATE_MS, `sockets closed ${close - closeFrame} ms after the close frame`)
  })

  test('the human lines say it in words', () => {
    const text = human.stdout()
    assert.match(text, /G→C {2}ping \(idle: no traffic either way for 1\.0 s\)\n.*G→C {2}close 1001 "no frame from the client for 1 s after a ping"\n.*GW {3}closed by gateway, idle_timeout \(close 1001\)/)
    assert.doesNotMatch(text, /pong/)
  })
})

describe('a slow reader, traced: backpressure as it happens', () => {
  let gateway: GatewayServer
  let json: CliViewer
  const raws: RawClient[] = []

  before(async () => {
    gateway = new GatewayServer({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: await freePort(), logger: capturingLogger().logger, wsPingIdle: 0, highWaterMark: 16 * 1024 })
    const address = await gateway.listen()
    json = startCliTrace(['--client', 'slow-reader', '--admin', address.adminUrl ?? '', '--json'])
    await waitUntil(() => json.lines().length > 0, 20_000, 'the trace command started')
    const reader = await connectRaw(address.url)
    const flooder = await connectRaw(address.url)
    raws.push(reader, flooder)
    reader.sendBinary(connectPacket('slow-reader'))
    reader.sendBinary(subscribePacket('bulk/#'))
    await reader.waitFor(() => reader.messages.length >= 2, 5000, 'SUBACK')
    flooder.sendBinary(connectPacket('flooder'))
    await flooder.waitFor(() => flooder.messages.length >= 1, 5000, 'CONNACK')
    reader.socket.pause()
    const publish = encode({ cmd: 'publish', topic: 'bulk/x', payload: Buffer.alloc(4000, 0x62), qos: 0, retain: false, dup: false })
    const parsed = (): TraceEventJson[] => json.lines().map((l) => JSON.parse(l) as TraceEventJson)
    // More than the kernel's socket buffers hold, in bursts, until the gateway holds back.
    await waitUntil(() => {
      flooder.sendBinary(Buffer.concat(Array.from({ length: 64 }, () => publish)))
      return parsed().some((e) => e.type === 'backpressure')
    }, 20_000, 'backpressure', 50)
    reader.frames.length = 0
    reader.socket.on('data', () => { reader.frames.length = 0 })
    reader.socket.resume()
    await waitUntil(() => parsed().some((e) => e.type === 'backpressure' && e.paused === false), 20_000, 'resumed')
    await json.interrupt()
  })

  after(async () => {
    await json?.stop()
    for (const raw of raws) raw.destroy()
    await gateway?.close()
  })

  test('paused when the client stops reading, with what is buffered each side; resumed when it reads again', () => {
    const events = json.lines().map((l) => JSON.parse(l) as TraceEventJson).filter((e) => e.type === 'backpressure')
    const [paused, resumed] = events
    assert.deepEqual([paused?.slowSide, paused?.paused, resumed?.slowSide, resumed?.paused], ['client', true, 'client', false])
    assert.ok((paused?.bufferedToClient as number) >= 16 * 1024, `${String(paused?.bufferedToClient)} bytes buffered to the client`)
    assert.equal(typeof paused?.bufferedToBroker, 'number')
  })
})

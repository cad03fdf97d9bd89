/**
 * permessage-deflate, opt-in: negotiated only when enabled, and the same
 * rules and data path through ws's compressing socket.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import mqtt from 'mqtt'
import { WebSocket } from 'ws'
import { startBridged } from '../support/bridged.js'
import type { Bridged } from '../support/bridged.js'
import { connectPacket, parseAll, publishPacket, subscribePacket } from '../support/mqtt-bytes.js'
import { maskedFrame, upgrade } from '../support/raw-client.js'

async function open (url: string): Promise<{ ws: WebSocket, received: Buffer[] }> {
  const ws = new WebSocket(url, 'mqtt', { perMessageDeflate: true })
  const received: Buffer[] = []
  ws.on('message', (data: Buffer) => received.push(data))
  await once(ws, 'open')
  return { ws, received }
}

async function until (check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('permessage-deflate enabled', () => {
  let fixture: Bridged
  before(async () => { fixture = await startBridged({ perMessageDeflate: true, maxMessageSize: 100_000 }) })
  after(() => fixture.close())

  it('negotiates compression and carries MQTT both ways', async (t) => {
    const { ws, received } = await open(fixture.url)
    t.after(() => ws.terminate())
    assert.match(ws.extensions, /permessage-deflate/)
    ws.send(Buffer.concat([connectPacket('deflated'), subscribePacket('z/#')]))
    const payload = Buffer.alloc(50_000, 'compressible ')
    ws.send(publishPacket('z/1', payload))
    await until(() => parseAll(Buffer.concat(received)).length >= 3, 'CONNACK, SUBACK, PUBLISH')
    const packets = parseAll(Buffer.concat(received))
    assert.deepEqual(packets.map((p) => p.cmd), ['connack', 'suback', 'publish'])
    assert.deepEqual((packets[2] as { payload: Buffer }).payload, payload)
  })

  it('works with MQTT.js asking for compression, and logs the clean close', async () => {
    const client = await mqtt.connectAsync(fixture.url, { clientId: 'mqttjs-deflate', reconnectPeriod: 0, wsOptions: { perMessageDeflate: true } })
    await client.subscribeAsync('d')
    const got = new Promise<Buffer>((resolve) => client.once('message', (_t, p) => resolve(p)))
    await client.publishAsync('d', 'hello', { qos: 1 })
    assert.equal((await got).toString(), 'hello')
    await client.endAsync()
    await until(() => fixture.logs.find({ event: 'close', clientId: 'mqttjs-deflate' }) !== undefined, 'close log')
    assert.equal(fixture.logs.find({ event: 'close', clientId: 'mqttjs-deflate' })?.closedBy, 'client')
  })

  it('still closes a text message with 1003', async () => {
    const { ws } = await open(fixture.url)
    ws.send('not binary')
    const [code] = await once(ws, 'close') as [number]
    assert.equal(code, 1003)
  })

  it('still drops the upstream at once when the client vanishes', async () => {
    const { ws, received } = await open(fixture.url)
    ws.send(connectPacket('vanishing-deflate'))
    await until(() => received.length >= 1, 'CONNACK')
    assert.equal(fixture.broker.broker.connectedClients, 1)
    ws.terminate()
    await until(() => fixture.broker.broker.connectedClients === 0 && fixture.gateway.connections === 0, 'upstream closed')
  })
})

describe('permessage-deflate: what the gateway refuses is closed and logged as the gateway\'s doing', () => {
  let fixture: Bridged
  before(async () => { fixture = await startBridged({ perMessageDeflate: true, maxMessageSize: 100_000, closeTimeout: 500 }) })
  after(() => fixture.close())

  async function closedWith (send: (ws: WebSocket) => void, clientId: string): Promise<{ code: number, log: Record<string, unknown> | undefined }> {
    const { ws, received } = await open(fixture.url)
    ws.send(connectPacket(clientId))
    await until(() => received.length >= 1, 'CONNACK')
    send(ws)
    const [code] = await once(ws, 'close') as [number]
    await until(() => fixture.logs.find({ event: 'close', clientId }) !== undefined, 'close log')
    return { code, log: fixture.logs.find({ event: 'close', clientId }) }
  }

  const cases: { name: string, send: (ws: WebSocket) => void, code: number, reason: string }[] = [
    { name: 'a message over --max-message-size', send: (ws) => ws.send(Buffer.alloc(150_000, 7)), code: 1009, reason: 'message_too_big' },
    { name: 'a text message that is not UTF-8', send: (ws) => ws.send(Buffer.from([0x68, 0xc3, 0x28]), { binary: false }), code: 1007, reason: 'invalid_utf8' },
    { name: 'a text message', send: (ws) => ws.send('text'), code: 1003, reason: 'text_frame' }
  ]
  for (const c of cases) {
    it(`${c.name}: close ${c.code}, logged closedBy=gateway reason=${c.reason}`, async () => {
      const { code, log } = await closedWith(c.send, `deflate-${c.reason}`)
      assert.equal(code, c.code)
      assert.equal(log?.closedBy, 'gateway')
      assert.equal(log?.reason, c.reason)
      assert.equal(log?.code, c.code)
    })
  }

  // As on the lean path: one pong per read, and the bounds of the data path
  // (not ws's own cut-off after 60 unanswered pings) decide the rest.
  it('a ping flood gets one pong per read, not one per ping, and the connection goes on', async (t) => {
    const result = await upgrade(fixture.url, { protocol: 'mqtt', headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate' } })
    assert.ok(result.ok, 'upgrade refused')
    const raw = result.client
    t.after(() => raw.destroy())
    assert.match(String(raw.headers['sec-websocket-extensions']), /permessage-deflate/)
    const ping = maskedFrame(0x9, Buffer.from('flood'))
    raw.send(Buffer.concat(Array.from({ length: 10_000 }, () => ping)))
    await new Promise((resolve) => setTimeout(resolve, 300))
    const pongs = raw.frames.filter((f) => f.opcode === 0xa).length
    assert.ok(pongs >= 1 && pongs < 100, `${pongs} pongs for 10,000 pings`)
    assert.equal(raw.closed, false, 'the flooding client was cut off instead of answered')
  })
})

describe('permessage-deflate disabled (the default)', () => {
  it('does not negotiate compression even when the client offers it', async (t) => {
    const fixture = await startBridged()
    t.after(() => fixture.close())
    const { ws } = await open(fixture.url)
    t.after(() => ws.terminate())
    assert.equal(ws.extensions, '')
  })
})

/**
 * permessage-deflate, opt-in: negotiated only when enabled, and the same
 * rules and data path through ws's compressing socket.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import mqtt from 'mqtt'
import { WebSocket } from 'ws'
import { startBridged } from './support/bridged.js'
import type { Bridged } from './support/bridged.js'
import { connectPacket, parseAll, publishPacket, subscribePacket } from './support/mqtt-bytes.js'

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

describe('permessage-deflate disabled (the default)', () => {
  it('does not negotiate compression even when the client offers it', async (t) => {
    const fixture = await startBridged()
    t.after(() => fixture.close())
    const { ws } = await open(fixture.url)
    t.after(() => ws.terminate())
    assert.equal(ws.extensions, '')
  })
})

/**
 * Malformed and hostile input: each gets the right close code and a log line
 * that says why, the process keeps running, and no socket is left behind.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { startBridged } from '../support/bridged.js'
import type { Bridged } from '../support/bridged.js'
import { connectPacket, publishPacket } from '../support/mqtt-bytes.js'
import { connectRaw, maskedFrame } from '../support/raw-client.js'

describe('bad input', () => {
  let fixture: Bridged
  let broker: Bridged['broker']
  let gateway: Bridged['gateway']
  let url: string
  let logs: Bridged['logs']
  before(async () => {
    fixture = await startBridged({ maxMessageSize: 4096, firstPacketTimeout: 300, closeTimeout: 500 })
    ;({ broker, gateway, url, logs } = fixture)
  })
  after(() => fixture.close())

  /** After each case: no bridge and no broker connection left. */
  async function noLeaks (): Promise<void> {
    const deadline = Date.now() + 3000
    while (gateway.connections > 0 || broker.broker.connectedClients > 0) {
      if (Date.now() > deadline) assert.fail(`leak: ${gateway.connections} bridges, ${broker.broker.connectedClients} broker clients`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  async function closedWith (send: (raw: Awaited<ReturnType<typeof connectRaw>>) => void, code: number, reason: string): Promise<void> {
    const closes = (): number => logs.lines.filter((l) => l.event === 'close').length
    const before = closes()
    const raw = await connectRaw(url)
    send(raw)
    await raw.closedPromise
    assert.equal(raw.closeCode, code)
    await raw.waitFor(() => closes() > before, 2000, 'the close log line')
    const line = logs.lines.findLast((l) => l.event === 'close')
    assert.equal(line?.reason, reason)
    await noLeaks()
  }

  it('closes a text frame with 1003 [MQTT-6.0.0-1]', () =>
    closedWith((raw) => raw.send(maskedFrame(0x1, Buffer.from('{"hello":1}'))), 1003, 'text_frame'))

  it('closes a text frame sent after CONNECT with 1003', () =>
    closedWith((raw) => {
      raw.sendBinary(connectPacket('then-text'))
      raw.send(maskedFrame(0x1, Buffer.from('oops')))
    }, 1003, 'text_frame'))

  it('closes a message over maxMessageSize with 1009, before forwarding it', () =>
    closedWith((raw) => {
      raw.sendBinary(connectPacket('big'))
      raw.sendBinary(publishPacket('big', Buffer.alloc(5000)))
    }, 1009, 'message_too_big'))

  it('closes an oversized message split into fragments with 1009', () =>
    closedWith((raw) => {
      raw.send(maskedFrame(0x2, Buffer.alloc(3000), false))
      raw.send(maskedFrame(0x0, Buffer.alloc(3000), true))
    }, 1009, 'message_too_big'))

  it('holds messages to maxMessageSizeBeforeConnack until the broker accepts the client', async (t) => {
    const small = await startBridged({ maxMessageSizeBeforeConnack: 1024, maxMessageSize: 100_000 })
    t.after(() => small.close())
    const early = await connectRaw(small.url)
    early.sendBinary(Buffer.concat([connectPacket('early-big'), publishPacket('big', Buffer.alloc(5000))]))
    await early.closedPromise
    assert.equal(early.closeCode, 1009)
    const later = await connectRaw(small.url)
    t.after(() => later.destroy())
    later.sendBinary(connectPacket('later-big'))
    await later.waitFor(() => later.messages.length >= 1, 2000, 'CONNACK')
    later.sendBinary(publishPacket('big', Buffer.alloc(5000)))
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(later.closed, false, 'the full limit applies after CONNACK')
  })

  it('closes a connection that never sends CONNECT after the timeout (1008)', async () => {
    const started = Date.now()
    await closedWith(() => {}, 1008, 'connect_timeout')
    assert.ok(Date.now() - started >= 250)
  })

  it('ends TCP as soon as the client answers a gateway-initiated close', async (t) => {
    const slow = await startBridged({ firstPacketTimeout: 200, closeTimeout: 5000 })
    t.after(() => slow.close())
    const raw = await connectRaw(slow.url)
    await raw.waitFor(() => raw.closeCode !== undefined, 2000, 'close frame')
    assert.equal(raw.closeCode, 1008)
    const answered = Date.now()
    raw.sendClose(1008)
    await raw.closedPromise
    assert.ok(Date.now() - answered < 1000, `closed ${Date.now() - answered} ms after the answer, not at the 5 s close timeout`)
  })

  it('closes a connection whose first packet is not CONNECT with 1002', () =>
    closedWith((raw) => raw.sendBinary(publishPacket('early', 'x')), 1002, 'malformed_packet'))

  it('closes a malformed CONNECT with 1002', () =>
    closedWith((raw) => raw.sendBinary(Buffer.from([0x10, 0x04, 0x00, 0x04, 0x4d, 0x51])), 1002, 'malformed_packet'))

  it('closes a remaining length longer than 4 bytes with 1002', () =>
    closedWith((raw) => raw.sendBinary(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])), 1002, 'malformed_packet'))

  it('closes an unmasked frame with 1002', () =>
    closedWith((raw) => raw.send(maskedFrame(0x2, connectPacket('unmasked'), true, false)), 1002, 'protocol_error'))

  it('survives garbage bytes instead of frames', async () => {
    for (let i = 0; i < 20; i++) {
      const raw = await connectRaw(url)
      raw.send(randomBytes(1 + (i * 37) % 300))
      raw.socket.end()
      await raw.closedPromise
    }
    await noLeaks()
  })

  it('survives resets at every stage of a connection', async () => {
    for (const stage of ['after-upgrade', 'mid-frame', 'after-connect', 'mid-publish'] as const) {
      const raw = await connectRaw(url)
      if (stage !== 'after-upgrade') {
        const connect = maskedFrame(0x2, connectPacket(`reset-${stage}`))
        raw.send(stage === 'mid-frame' ? connect.subarray(0, 5) : connect)
      }
      if (stage === 'after-connect' || stage === 'mid-publish') await raw.waitFor(() => raw.messages.length >= 1, 2000, 'CONNACK')
      if (stage === 'mid-publish') raw.send(maskedFrame(0x2, publishPacket('p', Buffer.alloc(3000))).subarray(0, 1000))
      await new Promise((r) => setImmediate(r))
      raw.socket.resetAndDestroy()
    }
    await noLeaks()
  })

  it('keeps serving after all of the above', async () => {
    const raw = await connectRaw(url)
    raw.sendBinary(connectPacket('still-alive'))
    await raw.waitFor(() => raw.messages.length >= 1, 2000, 'CONNACK')
    raw.sendClose()
    await raw.closedPromise
    await noLeaks()
  })
})

/**
 * Cutting each direction's stream into packets, without sockets: what the
 * client side lets through (never a byte of an oversized packet, whatever
 * the cuts) and what the broker side sends as whole packets.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import mqttPacket from 'mqtt-packet'
import type { Packet } from 'mqtt-packet'
import { BrokerPackets, ClientPackets, MALFORMED, OVERSIZE } from '../../../src/bridge/packet-flow.js'

function publish (payloadBytes: number): Buffer {
  return mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(payloadBytes, 1), qos: 0, retain: false, dup: false } as Packet)
}

/** Feeds `stream` cut at `cuts` to a client side; returns what it let through and how it ended. */
function admitAll (flow: ClientPackets, stream: Buffer, cuts: number[]): { through: Buffer, ended: string | undefined } {
  const through: Buffer[] = []
  let at = 0
  for (const cut of [...cuts, stream.length]) {
    const result = flow.admit(stream, at, cut)
    if (typeof result === 'string') return { through: Buffer.concat(through), ended: result }
    for (const slice of result) through.push(Buffer.from(slice))
    at = cut
  }
  return { through: Buffer.concat(through), ended: undefined }
}

describe('client → broker packets', () => {
  test('every byte of packets within the limit goes through, in order, for every cut', () => {
    const stream = Buffer.concat([publish(10), publish(200), publish(0)])
    for (let a = 1; a < stream.length; a++) {
      for (const b of [a + 1, a + 3, stream.length - 1]) {
        if (b <= a || b >= stream.length) continue
        const { through, ended } = admitAll(new ClientPackets(1024), stream, [a, b])
        assert.equal(ended, undefined)
        assert.deepEqual(through, stream, `cuts ${a}, ${b}`)
      }
    }
  })

  test('no byte of an oversized packet goes through, for every cut before its header completes', () => {
    const ok = publish(10)
    const big = publish(5000) // 2-byte remaining length
    const stream = Buffer.concat([ok, big])
    for (let cut = 1; cut < ok.length + 3; cut++) {
      const { through, ended } = admitAll(new ClientPackets(1024), stream, [cut])
      assert.equal(ended, OVERSIZE, `cut at ${cut}`)
      assert.ok(through.length <= ok.length, `cut at ${cut}: ${through.length - ok.length} bytes of the oversized packet went through`)
    }
  })

  test('a remaining length of 5 bytes is malformed', () => {
    assert.equal(new ClientPackets(1024).admit(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]), 0, 6), MALFORMED)
  })

  test('the held-back header is a copy: the reader may overwrite its chunk', () => {
    const flow = new ClientPackets(1024)
    const packet = publish(300)
    const chunk = Buffer.from(packet.subarray(0, 2)) // type byte and the first of 2 length bytes
    assert.deepEqual(flow.admit(chunk, 0, 2), [])
    chunk.fill(0)
    const rest = flow.admit(packet, 2, packet.length)
    assert.ok(Array.isArray(rest))
    assert.deepEqual(Buffer.concat(rest as Buffer[]), packet)
  })
})

describe('broker → client packets', () => {
  test('whole packets out, a partial one held until it completes', () => {
    const a = publish(10)
    const b = publish(100)
    const stream = Buffer.concat([a, b])
    const flow = new BrokerPackets(1024)
    assert.equal(flow.cut(stream.subarray(0, a.length + 5)), undefined)
    assert.deepEqual(Buffer.concat(flow.parts), a)
    assert.equal(flow.size, a.length)
    assert.equal(flow.heldBytes, 5)
    assert.equal(flow.cut(stream.subarray(a.length + 5)), undefined)
    assert.deepEqual(Buffer.concat(flow.parts), b)
    assert.equal(flow.size, b.length)
    assert.equal(flow.heldBytes, 0)
  })

  test('an oversized packet: the whole ones before it still go out, nothing is held', () => {
    const a = publish(10)
    const flow = new BrokerPackets(64)
    assert.equal(flow.cut(Buffer.concat([a, publish(500)])), OVERSIZE)
    assert.deepEqual(Buffer.concat(flow.parts), a)
    assert.equal(flow.heldBytes, 0)
  })

  test('once released, the packets sent are no longer held (an idle connection keeps no chunk)', () => {
    const flow = new BrokerPackets(1024)
    const chunk = publish(10)
    flow.cut(chunk)
    assert.equal(flow.parts[0]?.buffer, chunk.buffer)
    flow.release()
    assert.equal(flow.parts.length, 0)
    assert.equal(flow.size, 0)
    // The next chunk is cut as before.
    flow.cut(publish(20))
    assert.deepEqual(Buffer.concat(flow.parts), publish(20))
  })
})

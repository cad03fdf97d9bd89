/**
 * PacketAssembler against real packets from mqtt-packet: whole, split at
 * every byte position, and split at seeded random points, with the caller's
 * chunks overwritten after each call (the bridge reuses its read memory).
 * Each packet's first byte, size and head must come out the same, heads
 * bounded by the limit asked; a start in the middle of a packet is skipped.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import mqttPacket from 'mqtt-packet'
import type { Packet } from 'mqtt-packet'
import { PacketAssembler } from '../../../src/trace/assembler.js'
import type { PacketHead } from '../../../src/trace/assembler.js'
import { prng } from '../../support/prng.js'

const packets: Packet[] = [
  { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'asm', clean: true, keepalive: 30 },
  { cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(200, 1), qos: 1, messageId: 7, retain: false, dup: false },
  { cmd: 'pingreq' },
  { cmd: 'publish', topic: 'big', payload: Buffer.alloc(20_000, 2), qos: 0, retain: true, dup: false },
  { cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'x/#', qos: 1 }] },
  { cmd: 'disconnect' }
]
const encoded = packets.map((p) => mqttPacket.generate(p))
const stream = Buffer.concat(encoded)

interface Seen { first: number, size: number, bodySize: number, head: Buffer }

function expected (limit: number): Seen[] {
  return encoded.map((bytes) => {
    const body = bytes.subarray(bytes.length - bodyLength(bytes))
    return { first: bytes[0] as number, size: bytes.length, bodySize: body.length, head: Buffer.from(body.subarray(0, Math.min(limit, body.length))) }
  })
}

function bodyLength (bytes: Buffer): number {
  let i = 1
  let length = 0
  let multiplier = 1
  for (;;) {
    const b = bytes[i++] as number
    length += (b & 0x7f) * multiplier
    multiplier *= 128
    if ((b & 0x80) === 0) return length
  }
}

function run (chunks: Buffer[], limit: number, skip = 0): Seen[] {
  const seen: Seen[] = []
  const assembler = new PacketAssembler(() => limit, (p: PacketHead) => {
    // Copied here: the head may be a view of the chunk, valid during the call only.
    seen.push({ first: p.first, size: p.size, bodySize: p.bodySize, head: Buffer.from(p.head) })
  }, (detail) => { throw new Error(detail) }, skip)
  for (const chunk of chunks) {
    const reused = Buffer.from(chunk)
    assembler.feed(reused)
    reused.fill(0xee)
  }
  return seen
}

function splitEvery (bytes: Buffer, at: number): Buffer[] {
  return [bytes.subarray(0, at), bytes.subarray(at)]
}

describe('PacketAssembler', () => {
  for (const limit of [0, 16, 4096]) {
    test(`whole stream, head limit ${limit}`, () => {
      assert.deepEqual(run([stream], limit), expected(limit))
    })
  }

  test('split at every byte position', () => {
    for (let at = 1; at < 400; at++) assert.deepEqual(run(splitEvery(stream, at), 64), expected(64), `split at ${at}`)
  })

  test('one byte at a time', () => {
    const chunks = [...stream].map((b) => Buffer.from([b]))
    assert.deepEqual(run(chunks, 300), expected(300))
  })

  test('seeded random splits', () => {
    const random = prng(15)
    for (let round = 0; round < 200; round++) {
      const chunks: Buffer[] = []
      let pos = 0
      while (pos < stream.length) {
        const n = 1 + Math.floor(random() * 3000)
        chunks.push(stream.subarray(pos, pos + n))
        pos += n
      }
      assert.deepEqual(run(chunks, 1000), expected(1000), `round ${round}`)
    }
  })

  test('a start inside a packet skips to the next one', () => {
    const first = encoded[0] as Buffer
    const inside = stream.subarray(5)
    assert.deepEqual(run([inside], 64, first.length - 5), expected(64).slice(1))
  })

  test('a remaining length of five bytes loses the stream, once', () => {
    const errors: string[] = []
    const assembler = new PacketAssembler(() => 0, () => {}, (d) => errors.push(d))
    assembler.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]))
    assembler.feed(Buffer.from([0x30, 0x00]))
    assert.deepEqual(errors, ['remaining length longer than 4 bytes'])
    assert.equal(assembler.lost, true)
  })
})

/**
 * FrameReader against client frames built here [RFC 6455 §5.2]: masked with
 * seeded random keys, 7-, 16- and 64-bit lengths, fed whole, split at every
 * byte position and split at seeded random points.
 *
 * The reader unmasks in place and compacts payloads inside the chunk it is
 * given, so every chunk fed is a fresh copy and expectations are computed
 * from the unmasked payloads before encoding.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, test } from 'node:test'
import type { CloseReason } from '../../../src/errors.js'
import { Opcode } from '../../../src/wire/websocket.js'
import { FrameReader } from '../../../src/ws/frame-reader.js'
import type { FrameSink } from '../../../src/ws/frame-reader.js'
import { prng } from '../../support/prng.js'


const random = prng(0x6455)

function randomBuffer (size: number): Buffer {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = Math.floor(random() * 256)
  return b
}

interface FrameOptions {
  fin?: boolean
  /** The three RSV bits, 0..7. */
  rsv?: number
  masked?: boolean
  /** Declared payload length when it must differ from the bytes sent. */
  length?: number
}

/** One client frame: masked with a random key unless told otherwise. */
function frame (opcode: number, payload: Buffer = Buffer.alloc(0), options: FrameOptions = {}): Buffer {
  const masked = options.masked ?? true
  const length = options.length ?? payload.length
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8
  const header = Buffer.alloc(2 + extended + (masked ? 4 : 0))
  header[0] = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode
  header[1] = (masked ? 0x80 : 0) | (extended === 0 ? length : extended === 2 ? 126 : 127)
  if (extended === 2) header.writeUInt16BE(length, 2)
  if (extended === 8) {
    header.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    header.writeUInt32BE(length >>> 0, 6)
  }
  const body = Buffer.from(payload)
  if (masked) {
    const key = randomBuffer(4)
    key.copy(header, 2 + extended)
    for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (key[i & 3] as number)
  }
  return Buffer.concat([header, body])
}

function closePayload (code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason))
  b.writeUInt16BE(code, 0)
  b.write(reason, 2)
  return b
}

/** A frame the test knows the meaning of, for computing what the sink must see. */
interface Spec {
  opcode: number
  payload: Buffer
  fin?: boolean
}

type Event =
  | { kind: 'payload', data: Buffer }
  | { kind: 'ping', data: Buffer }
  | { kind: 'pong' }
  | { kind: 'close', code: number, reason: string }
  | { kind: 'error', reason: CloseReason }

class Recorder implements FrameSink {
  readonly events: Event[] = []
  /** Every onPayload slice as handed over, with a copy taken at once: the slice is the sink's to keep. */
  readonly kept: { view: Buffer, copy: Buffer }[] = []
  emptyPayloads = 0

  onPayload (buf: Buffer, start: number, end: number): void {
    if (end <= start) this.emptyPayloads++
    const view = buf.subarray(start, end)
    this.kept.push({ view, copy: Buffer.from(view) })
    this.events.push({ kind: 'payload', data: Buffer.from(view) })
  }

  onPing (payload: Buffer): void {
    this.events.push({ kind: 'ping', data: Buffer.from(payload) })
  }

  onPong (): void {
    this.events.push({ kind: 'pong' })
  }

  onCloseFrame (code: number, reason: string): void {
    this.events.push({ kind: 'close', code, reason })
  }

  onFrameError (reason: CloseReason, _detail: string): void {
    this.events.push({ kind: 'error', reason })
  }

  /** Events with adjacent payload slices merged: how payloads are sliced is the reader's choice. */
  normalized (): string[] {
    return summarize(this.events)
  }

  payloadEvents (): number {
    return this.events.filter((e) => e.kind === 'payload').length
  }

  /** No slice handed to the sink was overwritten later. */
  assertKeptIntact (label: string): void {
    for (const [i, { view, copy }] of this.kept.entries()) {
      assert.ok(view.equals(copy), `${label}: payload slice ${i} was overwritten after it was handed over`)
    }
  }
}

function digest (data: Buffer): string {
  return `${data.length}:${createHash('sha1').update(data).digest('hex').slice(0, 12)}`
}

/** Readable, comparable event list; payloads merged and shown as length:hash. */
function summarize (events: Event[]): string[] {
  const out: string[] = []
  let pending: Buffer[] = []
  const flush = (): void => {
    const data = Buffer.concat(pending)
    if (data.length > 0) out.push(`payload ${digest(data)}`)
    pending = []
  }
  for (const e of events) {
    if (e.kind === 'payload') {
      pending.push(e.data)
      continue
    }
    flush()
    if (e.kind === 'ping') out.push(`ping ${digest(e.data)}`)
    else if (e.kind === 'pong') out.push('pong')
    else if (e.kind === 'close') out.push(`close ${e.code} ${JSON.stringify(e.reason)}`)
    else out.push(`error ${e.reason}`)
  }
  flush()
  return out
}

/** What the sink must see for a valid frame sequence. */
function expectedFor (specs: Spec[]): string[] {
  const events: Event[] = []
  for (const s of specs) {
    if (s.opcode === Opcode.binary || s.opcode === Opcode.continuation) events.push({ kind: 'payload', data: s.payload })
    else if (s.opcode === Opcode.ping) events.push({ kind: 'ping', data: s.payload })
    else if (s.opcode === Opcode.pong) events.push({ kind: 'pong' })
    else if (s.opcode === Opcode.close) {
      const code = s.payload.length >= 2 ? s.payload.readUInt16BE(0) : 1005
      events.push({ kind: 'close', code, reason: s.payload.toString('utf8', 2) })
      break
    }
  }
  return summarize(events)
}

function encode (specs: Spec[]): Buffer {
  return Buffer.concat(specs.map((s) => frame(s.opcode, s.payload, { fin: s.fin ?? true })))
}

/** Feeds `stream` cut at `cuts` (sorted, inside the stream), each chunk a fresh copy. */
function feed (stream: Buffer, cuts: number[], maxMessageSize = 1 << 30): Recorder {
  const sink = new Recorder()
  const reader = new FrameReader(sink, maxMessageSize)
  let from = 0
  for (const to of [...cuts, stream.length]) {
    reader.feed(Buffer.from(stream.subarray(from, to)))
    from = to
  }
  return sink
}

function check (specs: Spec[], stream: Buffer, cuts: number[], label: string): Recorder {
  const sink = feed(stream, cuts)
  assert.deepEqual(sink.normalized(), expectedFor(specs), label)
  assert.equal(sink.emptyPayloads, 0, `${label}: empty payload slices`)
  sink.assertKeptIntact(label)
  return sink
}

function randomCuts (length: number, maxChunk: number): number[] {
  const cuts: number[] = []
  let at = 0
  for (;;) {
    const size = random() < 0.4 ? 1 + Math.floor(random() * 16) : 1 + Math.floor(random() * maxChunk)
    at += size
    if (at >= length) return cuts
    cuts.push(at)
  }
}

const binary = (payload: Buffer, fin = true): Spec => ({ opcode: Opcode.binary, payload, fin })
const continuation = (payload: Buffer, fin = true): Spec => ({ opcode: Opcode.continuation, payload, fin })
const ping = (payload: Buffer = Buffer.alloc(0)): Spec => ({ opcode: Opcode.ping, payload })
const pong = (payload: Buffer = Buffer.alloc(0)): Spec => ({ opcode: Opcode.pong, payload })

/** A small mixed stream: every length form up to 16 bits, fragments, control frames. */
function smallStream (): Spec[] {
  return [
    binary(randomBuffer(3)),
    binary(Buffer.alloc(0)),
    binary(randomBuffer(10), false),
    ping(randomBuffer(4)),
    continuation(Buffer.alloc(0), false),
    pong(),
    continuation(randomBuffer(7)),
    binary(randomBuffer(126)),
    ping(),
    binary(randomBuffer(125)),
    pong(randomBuffer(2)),
    binary(randomBuffer(1))
  ]
}

describe('FrameReader: data frames', () => {
  for (const size of [0, 1, 125, 126, 65535, 65536, 200_000]) {
    test(`a single binary frame of ${size} bytes`, () => {
      const specs = [binary(randomBuffer(size))]
      const stream = encode(specs)
      const sink = check(specs, stream, [], 'whole')
      assert.equal(sink.payloadEvents(), size === 0 ? 0 : 1)
      for (let round = 0; round < 10; round++) check(specs, stream, randomCuts(stream.length, 70_000), `round ${round}`)
    })
  }

  test('many frames in one chunk arrive as one compacted slice, in order', () => {
    const specs = Array.from({ length: 200 }, () => binary(randomBuffer(Math.floor(random() * 300))))
    const sink = check(specs, encode(specs), [], 'one chunk')
    assert.equal(sink.payloadEvents(), 1)
  })

  test('a fragmented message with pings and pongs between its fragments', () => {
    const specs = [
      binary(randomBuffer(50), false),
      ping(randomBuffer(5)),
      continuation(randomBuffer(300), false),
      pong(),
      ping(),
      continuation(randomBuffer(20))
    ]
    const stream = encode(specs)
    check(specs, stream, [], 'one chunk')
    for (let cut = 1; cut < stream.length; cut++) check(specs, stream, [cut], `cut at ${cut}`)
  })

  test('a new message may start after a fragmented one ended', () => {
    const specs = [binary(randomBuffer(5), false), continuation(randomBuffer(5)), binary(randomBuffer(5))]
    check(specs, encode(specs), [], 'one chunk')
  })
})

describe('FrameReader: any split of the stream', () => {
  const specs = smallStream()
  const stream = encode(specs)

  test('split in two at every byte position', () => {
    for (let cut = 1; cut < stream.length; cut++) check(specs, stream, [cut], `cut at ${cut}`)
  })

  test('fed one byte at a time', () => {
    check(specs, stream, Array.from({ length: stream.length - 1 }, (_, i) => i + 1), 'bytewise')
  })

  test('split in three at every pair of positions in the first frames', () => {
    const limit = 60
    for (let a = 1; a < limit; a++) {
      for (let b = a + 1; b < limit; b++) check(specs, stream, [a, b], `cuts at ${a}, ${b}`)
    }
  })

  test('a large mixed stream split at seeded random points', () => {
    const large: Spec[] = [
      ...smallStream(),
      binary(randomBuffer(65535)),
      ping(randomBuffer(125)),
      binary(randomBuffer(70_000), false),
      pong(randomBuffer(125)),
      continuation(randomBuffer(65536), false),
      continuation(randomBuffer(200_000)),
      ...Array.from({ length: 100 }, () => binary(randomBuffer(Math.floor(random() * 200)))),
      binary(randomBuffer(65536)),
      ...smallStream()
    ]
    const bytes = encode(large)
    for (let round = 0; round < 60; round++) {
      const maxChunk = round % 3 === 0 ? 100_000 : round % 3 === 1 ? 4096 : 64
      check(large, bytes, randomCuts(bytes.length, maxChunk), `round ${round}`)
    }
  })
})

describe('FrameReader: control frames', () => {
  test('a 125-byte ping split at every position carries its payload whole', () => {
    const specs = [binary(randomBuffer(9)), ping(randomBuffer(125)), binary(randomBuffer(9))]
    const stream = encode(specs)
    for (let cut = 1; cut < stream.length; cut++) check(specs, stream, [cut], `cut at ${cut}`)
  })

  test('a close frame with a code and a reason', () => {
    const sink = feed(frame(Opcode.close, closePayload(1000, 'bye now')), [])
    assert.deepEqual(sink.events, [{ kind: 'close', code: 1000, reason: 'bye now' }])
  })

  test('a close frame with a code only', () => {
    const sink = feed(frame(Opcode.close, closePayload(4000)), [])
    assert.deepEqual(sink.events, [{ kind: 'close', code: 4000, reason: '' }])
  })

  test('an unmasked pong and an unmasked close are accepted (Paho Python sends them so)', () => {
    const stream = Buffer.concat([
      frame(Opcode.pong, randomBuffer(4), { masked: false }),
      frame(Opcode.close, closePayload(1000, 'paho'), { masked: false })
    ])
    assert.deepEqual(feed(stream, []).events, [{ kind: 'pong' }, { kind: 'close', code: 1000, reason: 'paho' }])
  })

  test('a close frame without a code reports 1005', () => {
    const sink = feed(frame(Opcode.close), [])
    assert.deepEqual(sink.events, [{ kind: 'close', code: 1005, reason: '' }])
  })

  test('a close frame with a UTF-8 reason, split at every position', () => {
    const stream = frame(Opcode.close, closePayload(1001, 'au revoir, à bientôt'))
    for (let cut = 1; cut < stream.length; cut++) {
      assert.deepEqual(feed(stream, [cut]).events, [{ kind: 'close', code: 1001, reason: 'au revoir, à bientôt' }], `cut at ${cut}`)
    }
  })

  test('data before a close frame in the same chunk is delivered first', () => {
    const data = randomBuffer(40)
    const stream = Buffer.concat([frame(Opcode.binary, data), frame(Opcode.close, closePayload(1000))])
    const sink = feed(stream, [])
    assert.deepEqual(sink.events, [{ kind: 'payload', data }, { kind: 'close', code: 1000, reason: '' }])
  })

  test('data before an empty ping in the same chunk is delivered first', () => {
    const data = randomBuffer(40)
    const sink = feed(Buffer.concat([frame(Opcode.binary, data), frame(Opcode.ping)]), [])
    assert.deepEqual(sink.events, [{ kind: 'payload', data }, { kind: 'ping', data: Buffer.alloc(0) }])
  })

  test('nothing after a close frame: same chunk or later chunks', () => {
    const stream = Buffer.concat([
      frame(Opcode.close, closePayload(1000)),
      frame(Opcode.binary, randomBuffer(10)),
      frame(Opcode.ping)
    ])
    const closeLength = 2 + 4 + 2
    for (const cuts of [[], [closeLength], [closeLength + 3]]) {
      assert.deepEqual(feed(stream, cuts).normalized(), ['close 1000 ""'], `cuts ${cuts.join(',')}`)
    }
  })

  // [RFC 6455 §5.5.1] a close body, when present, starts with a 2-byte code.
  test('a close frame with a 1-byte body is a protocol error', () => {
    assert.deepEqual(feed(frame(Opcode.close, Buffer.from([0x03])), []).normalized(), ['error protocol_error'])
  })

  // [RFC 6455 §7.4.1, §7.4.2] 1004, 1005, 1006 and 1015 must never be sent, and
  // 0-999 and 1016-2999 are not assigned: the endpoint fails the connection
  // (as ws's Receiver does, and Autobahn case 7.9.x checks), rather than
  // passing on a code the gateway would then echo in its own close frame.
  test('a close frame with a code no endpoint may send is a protocol error', () => {
    const invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]
    const passedOn = invalid.filter((code) => {
      const events = feed(frame(Opcode.close, closePayload(code)), []).normalized()
      return events[0] !== 'error protocol_error'
    })
    assert.deepEqual(passedOn, [], 'invalid close codes passed on to the sink instead of protocol_error')
  })

  // [RFC 6455 §8.1] a close reason that is not UTF-8 fails the connection with 1007.
  test('a close frame whose reason is not valid UTF-8 is invalid_utf8, split or whole', () => {
    const payload = Buffer.concat([closePayload(1000), Buffer.from([0x68, 0xc3, 0x28])]) // "h" then a broken 2-byte sequence
    const stream = frame(Opcode.close, payload)
    for (let cut = 0; cut < stream.length; cut++) {
      assert.deepEqual(feed(stream, cut === 0 ? [] : [cut]).normalized(), ['error invalid_utf8'], `cut at ${cut}`)
    }
  })

  test('a close frame with any valid code is passed on', () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]) {
      assert.deepEqual(feed(frame(Opcode.close, closePayload(code)), []).normalized(), [`close ${code} ""`], `code ${code}`)
    }
  })
})

describe('FrameReader: errors', () => {
  const cases: { name: string, bytes: () => Buffer, reason: CloseReason }[] = [
    { name: 'text frame', bytes: () => frame(Opcode.text, Buffer.from('hello')), reason: 'text_frame' },
    { name: 'text continuation start (fin=0)', bytes: () => frame(Opcode.text, Buffer.from('he'), { fin: false }), reason: 'text_frame' },
    { name: 'unmasked binary frame', bytes: () => frame(Opcode.binary, randomBuffer(4), { masked: false }), reason: 'protocol_error' },
    { name: 'unmasked ping', bytes: () => frame(Opcode.ping, Buffer.alloc(0), { masked: false }), reason: 'protocol_error' },
    { name: 'RSV1 set', bytes: () => frame(Opcode.binary, randomBuffer(4), { rsv: 4 }), reason: 'protocol_error' },
    { name: 'RSV2 set', bytes: () => frame(Opcode.binary, randomBuffer(4), { rsv: 2 }), reason: 'protocol_error' },
    { name: 'RSV3 set', bytes: () => frame(Opcode.binary, randomBuffer(4), { rsv: 1 }), reason: 'protocol_error' },
    { name: 'RSV bits on a ping', bytes: () => frame(Opcode.ping, Buffer.alloc(0), { rsv: 7 }), reason: 'protocol_error' },
    { name: 'continuation without a message', bytes: () => frame(Opcode.continuation, randomBuffer(4)), reason: 'protocol_error' },
    {
      name: 'continuation after a finished message',
      bytes: () => Buffer.concat([frame(Opcode.binary, randomBuffer(4)), frame(Opcode.continuation, randomBuffer(4))]),
      reason: 'protocol_error'
    },
    {
      name: 'new binary frame inside a fragmented message',
      bytes: () => Buffer.concat([frame(Opcode.binary, randomBuffer(4), { fin: false }), frame(Opcode.binary, randomBuffer(4))]),
      reason: 'protocol_error'
    },
    {
      name: 'text frame inside a fragmented message',
      bytes: () => Buffer.concat([frame(Opcode.binary, randomBuffer(4), { fin: false }), frame(Opcode.text, randomBuffer(4))]),
      reason: 'text_frame'
    },
    { name: 'ping longer than 125 bytes', bytes: () => frame(Opcode.ping, randomBuffer(126)), reason: 'protocol_error' },
    { name: 'close longer than 125 bytes', bytes: () => frame(Opcode.close, closePayload(1000, 'x'.repeat(124))), reason: 'protocol_error' },
    { name: 'fragmented ping', bytes: () => frame(Opcode.ping, randomBuffer(3), { fin: false }), reason: 'protocol_error' },
    { name: 'fragmented close', bytes: () => frame(Opcode.close, closePayload(1000), { fin: false }), reason: 'protocol_error' },
    ...[0x3, 0x4, 0x5, 0x6, 0x7].map((op) => ({
      name: `reserved data opcode 0x${op.toString(16)}`, bytes: () => frame(op, randomBuffer(2)), reason: 'protocol_error' as const
    })),
    ...[0xb, 0xc, 0xd, 0xe, 0xf].map((op) => ({
      name: `reserved control opcode 0x${op.toString(16)}`, bytes: () => frame(op, randomBuffer(2)), reason: 'protocol_error' as const
    })),
    {
      name: '64-bit length beyond 2^53',
      bytes: () => frame(Opcode.binary, Buffer.alloc(0), { length: 2 ** 53 }),
      reason: 'message_too_big'
    }
  ]

  for (const c of cases) {
    test(`${c.name} → ${c.reason}, then nothing more`, () => {
      const bad = c.bytes()
      // Valid frames after the bad one, in the same chunk and in a later one, must be ignored.
      const stream = Buffer.concat([bad, frame(Opcode.binary, randomBuffer(8)), frame(Opcode.ping)])
      const later = Buffer.concat([frame(Opcode.binary, randomBuffer(8)), frame(Opcode.close, closePayload(1000))])
      for (const cuts of [[], [bad.length], [1]]) {
        const sink = new Recorder()
        const reader = new FrameReader(sink, 1 << 20)
        let from = 0
        for (const to of [...cuts, stream.length]) {
          reader.feed(Buffer.from(stream.subarray(from, to)))
          from = to
        }
        reader.feed(Buffer.from(later))
        assert.deepEqual(sink.normalized(), [`error ${c.reason}`], `cuts ${cuts.join(',')}`)
      }
    })
  }
})

describe('FrameReader: maxMessageSize', () => {
  const max = 1000

  test('a single frame of exactly the limit is accepted', () => {
    const specs = [binary(randomBuffer(max))]
    const sink = feed(encode(specs), [], max)
    assert.deepEqual(sink.normalized(), expectedFor(specs))
  })

  test('a single frame one byte over the limit → message_too_big, before any of it is delivered', () => {
    const stream = frame(Opcode.binary, randomBuffer(max + 1))
    for (const cuts of [[], [8], [100]]) {
      assert.deepEqual(feed(stream, cuts, max).normalized(), ['error message_too_big'], `cuts ${cuts.join(',')}`)
    }
  })

  test('fragments adding up to exactly the limit are accepted, and the next message counts afresh', () => {
    const specs = [
      binary(randomBuffer(600), false),
      ping(),
      continuation(randomBuffer(400)),
      binary(randomBuffer(max))
    ]
    const sink = feed(encode(specs), [], max)
    assert.deepEqual(sink.normalized(), expectedFor(specs))
  })

  test('fragments going over the limit → message_too_big at the fragment that crosses it', () => {
    const first = randomBuffer(600)
    const stream = Buffer.concat([
      frame(Opcode.binary, first, { fin: false }),
      frame(Opcode.continuation, randomBuffer(401))
    ])
    const firstFrame = 2 + 2 + 4 + 600
    // In a chunk of its own, the first fragment is delivered before the error.
    const sink = feed(stream, [firstFrame], max)
    assert.deepEqual(sink.normalized(), [`payload ${digest(first)}`, 'error message_too_big'])
    assert.deepEqual(feed(stream, [], max).normalized().at(-1), 'error message_too_big')
  })

  test('many small frames of one message over the limit', () => {
    const frames = Array.from({ length: 11 }, (_, i) => frame(i === 0 ? Opcode.binary : Opcode.continuation, randomBuffer(100), { fin: i === 10 }))
    assert.deepEqual(feed(Buffer.concat(frames), [], max).normalized().at(-1), 'error message_too_big')
  })
})

describe('FrameReader: stop()', () => {
  test('chunks fed after stop() are ignored', () => {
    const sink = new Recorder()
    const reader = new FrameReader(sink, 1 << 20)
    reader.feed(frame(Opcode.binary, randomBuffer(5)))
    reader.stop()
    reader.feed(frame(Opcode.binary, randomBuffer(5)))
    reader.feed(frame(Opcode.ping))
    assert.equal(sink.events.length, 1)
  })
})

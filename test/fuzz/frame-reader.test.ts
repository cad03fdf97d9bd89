/**
 * Fuzzing FrameReader, the first code to touch a WebSocket client's bytes
 * [RFC 6455 §5]: it runs before the handshake's MQTT CONNECT, before any
 * authentication, on TCP chunks cut wherever the network (or an attacker)
 * chose.
 *
 * The reader unmasks in place and moves payloads inside the chunk it is fed,
 * so every chunk is a fresh copy of the stream's bytes, and the generated
 * model (payloads before masking) is never handed to the reader.
 * The sink keeps views of what it was given (`buf[start, end)` is the sink's
 * to keep) and reads them only at the end: a reader that later wrote over
 * bytes it had delivered would show as wrong data.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import type { CloseReason } from '../../src/errors.js'
import { FrameReader } from '../../src/ws/frame-reader.js'
import { Opcode } from '../../src/wire/websocket.js'
import type { FrameSink } from '../../src/ws/frame-reader.js'
import { chunkRanges, fuzz, sizedBytes, splits } from '../support/fuzz.js'
import type { Splits } from '../support/fuzz.js'

// ---------------------------------------------------------------- the sink

type SinkEvent =
  | { type: 'data', bytes: Buffer }
  | { type: 'ping', payload: Buffer }
  | { type: 'pong' }
  | { type: 'close', code: number, reason: string }
  | { type: 'error', reason: CloseReason }

/** Records sink calls and every breach of the sink's contract. */
class RecordingSink implements FrameSink {
  readonly events: SinkEvent[] = []
  readonly breaches: string[] = []
  private ended = false

  onPayload (buf: Buffer, start: number, end: number): void {
    this.expectOpen('onPayload')
    if (!(start >= 0 && start < end && end <= buf.length)) this.breaches.push(`onPayload(${start}, ${end}) of a ${buf.length}-byte buffer`)
    this.events.push({ type: 'data', bytes: buf.subarray(start, end) })
  }

  onPing (payload: Buffer): void {
    this.expectOpen('onPing')
    if (payload.length > 125) this.breaches.push(`ping payload of ${payload.length} bytes`)
    this.events.push({ type: 'ping', payload })
  }

  onPong (): void {
    this.expectOpen('onPong')
    this.events.push({ type: 'pong' })
  }

  onCloseFrame (code: number, reason: string): void {
    this.expectOpen('onCloseFrame')
    this.ended = true
    this.events.push({ type: 'close', code, reason })
  }

  onFrameError (reason: CloseReason): void {
    this.expectOpen('onFrameError')
    this.ended = true
    this.events.push({ type: 'error', reason })
  }

  private expectOpen (call: string): void {
    if (this.ended) this.breaches.push(`${call} after the close frame or frame error`)
  }
}

/** Feeds `stream` cut as `how` says, each chunk a fresh copy; returns the sink. */
function feed (stream: Uint8Array, how: Splits, maxMessageSize: number): RecordingSink {
  const sink = new RecordingSink()
  const reader = new FrameReader(sink, maxMessageSize)
  for (const [start, end] of chunkRanges(stream.length, how)) reader.feed(Buffer.from(stream.subarray(start, end)))
  return sink
}

/**
 * The sink calls in a form that does not depend on how payload bytes were
 * grouped into onPayload calls: adjacent data merged, read only now.
 */
type Flat = Array<{ type: 'data', hex: string } | Exclude<SinkEvent, { type: 'data' }>>

function flatten (events: readonly SinkEvent[]): Flat {
  const out: Flat = []
  for (const e of events) {
    if (e.type !== 'data') {
      out.push(e.type === 'ping' ? { type: 'ping', payload: Buffer.from(e.payload) } : e)
      continue
    }
    const last = out.at(-1)
    if (last?.type === 'data') last.hex += e.bytes.toString('hex')
    else out.push({ type: 'data', hex: e.bytes.toString('hex') })
  }
  return out
}

// ---------------------------------------------------------------- frames

/** One client frame with the minimal length encoding; `mask` undefined sends it unmasked. */
function frame (b0: number, payload: Uint8Array, mask: number | undefined): Buffer {
  const n = payload.length
  const extended = n < 126 ? 0 : n < 65536 ? 2 : 8
  const header = Buffer.alloc(2 + extended + (mask === undefined ? 0 : 4))
  header[0] = b0
  header[1] = (mask === undefined ? 0 : 0x80) | (extended === 0 ? n : extended === 2 ? 126 : 127)
  if (extended === 2) header.writeUInt16BE(n, 2)
  if (extended === 8) header.writeBigUInt64BE(BigInt(n), 2)
  const body = Buffer.from(payload)
  if (mask !== undefined) {
    header.writeUInt32BE(mask, 2 + extended)
    for (let i = 0; i < n; i++) body[i] = (body[i] as number) ^ ((mask >>> ((3 - (i & 3)) * 8)) & 0xff)
  }
  return Buffer.concat([header, body])
}

// ---------------------------------------------------------------- a valid client stream

interface Control { kind: 'ping' | 'pong', payload: Uint8Array, mask: number | undefined }
interface Fragment { before: Control[], payload: Uint8Array, mask: number }
interface Close { payload: Uint8Array, mask: number | undefined, code: number, reason: string }
interface Stream { messages: Fragment[][], close: Close | undefined, trailer: Uint8Array }

const maskKey = fc.integer({ min: 0, max: 0xffffffff })

/** Payloads with 7-, 16- and 64-bit lengths (65535/65536 is the 16/64-bit edge), and many empty ones. */
const payload = fc.oneof(
  { weight: 2, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 140 }) },
  { weight: 2, arbitrary: sizedBytes(126, 1500) },
  { weight: 1, arbitrary: sizedBytes(65530, 65600) }
)

const controlPayload = fc.oneof(fc.uint8Array({ maxLength: 125 }), fc.uint8Array({ minLength: 125, maxLength: 125 }))

/** Pings and pongs, as a client sends them between the fragments of a message (§5.4); some clients send unmasked pongs. */
const control: fc.Arbitrary<Control> = fc.oneof(
  fc.record({ kind: fc.constant('ping' as const), payload: controlPayload, mask: maskKey }),
  fc.record({ kind: fc.constant('pong' as const), payload: controlPayload, mask: fc.option(maskKey, { nil: undefined }) })
)

const fragment: fc.Arbitrary<Fragment> = fc.record({
  before: fc.array(control, { maxLength: 2 }),
  payload,
  mask: maskKey
})

/** A status code a peer may send (§7.4.1), with a UTF-8 reason that fits in 125 bytes. */
const close: fc.Arbitrary<Close> = fc.oneof(
  fc.record({ mask: fc.option(maskKey, { nil: undefined }) })
    .map(({ mask }) => ({ payload: new Uint8Array(0), mask, code: 1005, reason: '' })),
  fc.record({
    code: fc.oneof(fc.constantFrom(1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014), fc.integer({ min: 3000, max: 4999 })),
    reason: fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => Buffer.byteLength(s) <= 123),
    mask: fc.option(maskKey, { nil: undefined })
  }).map(({ code, reason, mask }) => {
    const body = Buffer.alloc(2 + Buffer.byteLength(reason))
    body.writeUInt16BE(code, 0)
    body.write(reason, 2)
    return { payload: body, mask, code, reason }
  })
)

const stream: fc.Arbitrary<Stream> = fc.record({
  messages: fc.array(fc.array(fragment, { minLength: 1, maxLength: 4 }), { maxLength: 4 }),
  close: fc.option(close, { nil: undefined }),
  trailer: fc.uint8Array({ maxLength: 40 })
})

function controlFrame (c: Control): Buffer {
  return frame(0x80 | (c.kind === 'ping' ? Opcode.ping : Opcode.pong), c.payload, c.mask)
}

/**
 * The stream's bytes; with `max`, the sink calls a correct reader makes:
 * every payload byte in order, each control event where it was sent, the
 * close frame last, and nothing of the trailer after it. A message whose
 * size passes `max` ends the stream with message_too_big at the header of
 * the frame that crosses the limit, before any byte of that frame.
 */
function encode (s: Stream, max = Infinity): { bytes: Buffer, expected: Flat } {
  const parts: Buffer[] = []
  const expected: SinkEvent[] = []
  for (const message of s.messages) {
    let size = 0
    for (const [i, f] of message.entries()) {
      for (const c of f.before) {
        parts.push(controlFrame(c))
        expected.push(c.kind === 'ping' ? { type: 'ping', payload: Buffer.from(c.payload) } : { type: 'pong' })
      }
      const fin = i === message.length - 1 ? 0x80 : 0
      parts.push(frame(fin | (i === 0 ? Opcode.binary : Opcode.continuation), f.payload, f.mask))
      size += f.payload.length
      if (size > max && !expected.some((e) => e.type === 'error')) expected.push({ type: 'error', reason: 'message_too_big' })
      if (f.payload.length > 0 && !expected.some((e) => e.type === 'error')) expected.push({ type: 'data', bytes: Buffer.from(f.payload) })
    }
  }
  if (s.close !== undefined) {
    parts.push(frame(0x80 | Opcode.close, s.close.payload, s.close.mask))
    if (!expected.some((e) => e.type === 'error')) expected.push({ type: 'close', code: s.close.code, reason: s.close.reason })
  }
  // Bytes after the close frame: the reader must not look at them.
  if (s.close !== undefined) parts.push(Buffer.from(s.trailer))
  const ended = expected.findIndex((e) => e.type === 'error')
  return { bytes: Buffer.concat(parts), expected: flatten(ended === -1 ? expected : expected.slice(0, ended + 1)) }
}

/**
 * `actual` is `expected`, except that the payload bytes just before a frame
 * error may have been cut short: the reader drops the data it had not yet
 * handed over in the chunk where the error is found (the connection is
 * being closed with an error anyway).
 */
function assertSameUpToError (actual: Flat, expected: Flat): void {
  const error = expected.at(-1)?.type === 'error'
  const beforeError = expected.at(-2)
  if (!error || beforeError?.type !== 'data') return assert.deepEqual(actual, expected)
  const got = actual.length === expected.length ? actual.at(-2) : undefined
  const head = got?.type === 'data' ? got.hex : ''
  assert.ok(beforeError.hex.startsWith(head), 'the data before the error is a prefix of the data sent')
  const withoutTail = (events: Flat): Flat => events.filter((e, i) => !(i === events.length - 2 && e.type === 'data'))
  assert.deepEqual(withoutTail(actual), withoutTail(expected))
}

// ---------------------------------------------------------------- hostile streams

/** A frame with any header bits, any declared length (including ones the bytes never reach), masked or not. */
const rawFrame = fc.record({
  fin: fc.boolean(),
  rsv: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 7 }) }),
  opcode: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0x0, 0x2, 0x8, 0x9, 0xa) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
  mask: fc.oneof({ weight: 6, arbitrary: maskKey }, { weight: 1, arbitrary: fc.constant(undefined) }),
  payload: fc.uint8Array({ maxLength: 200 }),
  // Declared length: the real one in any of the three encodings (the
  // longer ones are not minimal, which RFC 6455 forbids but a client may
  // send), or a lie, up to the 64-bit field's top bit.
  declared: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('7' as const, '16' as const, '64' as const) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }
  )
}).map(({ fin, rsv, opcode, mask, payload, declared }) => {
  const length = typeof declared === 'bigint' ? declared : BigInt(payload.length)
  const form = typeof declared === 'bigint'
    ? (declared < 126n ? '7' : declared < 65536n ? '16' : '64')
    : declared === '7' && payload.length >= 126 ? '16' : declared
  const extended = form === '7' ? 0 : form === '16' ? 2 : 8
  const header = Buffer.alloc(2 + extended + (mask === undefined ? 0 : 4))
  header[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode
  header[1] = (mask === undefined ? 0 : 0x80) | (form === '7' ? Number(length) : form === '16' ? 126 : 127)
  if (form === '16') header.writeUInt16BE(Number(length & 0xffffn), 2)
  if (form === '64') header.writeBigUInt64BE(length, 2)
  if (mask !== undefined) header.writeUInt32BE(mask, 2 + extended)
  return Buffer.concat([header, payload])
})

/** Valid frames, broken frames and raw garbage, in any order. */
const hostileStream = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.oneof(control.map(controlFrame), fragment.map((f) => frame(0x82, f.payload, f.mask))) },
    { weight: 3, arbitrary: rawFrame },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) }
  ),
  { maxLength: 12 }
).map((parts) => Buffer.concat(parts))

const maxMessageSize = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constant(1 << 20))

/**
 * Control events and data for one run, in a form two ways of cutting the
 * same stream can be compared by: the non-data events, and the payload
 * bytes between them.
 */
function segments (flat: Flat): { controls: Flat, data: string[] } {
  const controls: Flat = []
  const data = ['']
  for (const e of flat) {
    if (e.type === 'data') data[data.length - 1] += e.hex
    else {
      controls.push(e)
      data.push('')
    }
  }
  return { controls, data }
}

// ---------------------------------------------------------------- properties

describe('FrameReader fuzz', () => {
  // Same input, any TCP segmentation, same result: otherwise an attacker (or
  // an unlucky network) could choose what the broker receives by choosing
  // where the chunks end, and messages would be corrupted at random.
  test('a valid client stream gives the same sink calls however it is cut into chunks', () => fuzz(
    fc.property(stream, splits, (s, how) => {
      const { bytes, expected } = encode(s)
      const whole = feed(bytes, { points: [] }, 1 << 20)
      assert.deepEqual(whole.breaches, [])
      assert.deepEqual(flatten(whole.events), expected)
      const split = feed(bytes, how, 1 << 20)
      assert.deepEqual(split.breaches, [])
      assert.deepEqual(flatten(split.events), flatten(whole.events))
    }), 100))

  // --max-message-size bounds what one client makes the gateway buffer and
  // forward: no byte of a frame that takes a message past the limit may be
  // delivered, however the message is fragmented and cut. (The limit on the
  // MQTT packet inside the messages is enforced elsewhere.)
  test('the payload delivered for one message never exceeds maxMessageSize', () => fuzz(
    fc.property(stream, splits, fc.integer({ min: 0, max: 2000 }), (s, how, max) => {
      const { bytes, expected } = encode({ ...s, close: undefined }, max)
      const sink = feed(bytes, how, max)
      assert.deepEqual(sink.breaches, [])
      assertSameUpToError(flatten(sink.events), expected)
      // The same bound, counted message by message on what was delivered.
      let delivered = segments(flatten(sink.events)).data.join('').length / 2
      for (const message of s.messages) {
        const size = message.reduce((n, f) => n + f.payload.length, 0)
        assert.ok(Math.min(delivered, size) <= max, `${Math.min(delivered, size)} bytes of one message delivered under a ${max}-byte limit`)
        delivered = Math.max(0, delivered - size)
      }
    }), 300))

  // A throw out of feed() is an exception on the socket's data path: at
  // best one connection dies without a close code, at worst the process.
  test('random bytes never throw out of feed(), and nothing is delivered after the end', () => fuzz(
    fc.property(fc.uint8Array({ maxLength: 300 }), splits, maxMessageSize, (bytes, how, max) => {
      const sink = feed(bytes, how, max)
      assert.deepEqual(sink.breaches, [])
    }), 2000))

  // Frames with lying lengths, reserved bits, unknown opcodes, unmasked
  // data, fragmented control frames, interleaved messages: the reader must
  // refuse them the same way whatever the chunking, deliver nothing after
  // it has ended the stream, and never throw.
  test('hostile frame streams: same control events and data for every chunking, nothing after the end', () => fuzz(
    fc.property(hostileStream, splits, maxMessageSize, (bytes, how, max) => {
      const whole = feed(bytes, { points: [] }, max)
      const split = feed(bytes, how, max)
      assert.deepEqual(whole.breaches, [])
      assert.deepEqual(split.breaches, [])
      const a = segments(flatten(whole.events))
      const b = segments(flatten(split.events))
      assert.deepEqual(b.controls, a.controls)
      const last = a.controls.length
      const errorAtEnd = a.controls.at(-1)?.type === 'error'
      for (let i = 0; i <= last; i++) {
        // Only the data just before a frame error may differ (see assertSameUpToError).
        if (errorAtEnd && i === last - 1) {
          const [short, long] = [a.data[i] as string, b.data[i] as string].sort((x, y) => x.length - y.length)
          assert.ok((long as string).startsWith(short as string), 'data before the error: one chunking delivers a prefix of the other')
        } else {
          assert.equal(b.data[i], a.data[i], `data segment ${i}`)
        }
      }
    }), 800))
})

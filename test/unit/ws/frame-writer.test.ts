/**
 * Server frames [RFC 6455 §5.2], round-tripped through a minimal unmasked
 * parser written here: FIN set, no RSV bits, no mask, the shortest length
 * form, and control payloads within 125 bytes (§5.5).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Opcode } from '../../../src/wire/websocket.js'
import { closeFrame, controlFrame, frameHeader } from '../../../src/ws/frame-writer.js'

interface Parsed {
  fin: boolean
  rsv: number
  opcode: number
  masked: boolean
  /** Bytes of the length field after the first two header bytes: 0, 2 or 8. */
  extendedLength: number
  length: number
  headerSize: number
  payload: Buffer
}

/** Parses one server frame at the start of `buf`; the payload is whatever follows the header, up to `length`. */
function parse (buf: Buffer): Parsed {
  assert.ok(buf.length >= 2, 'a frame header has at least 2 bytes')
  const b0 = buf[0] as number
  const b1 = buf[1] as number
  let length = b1 & 0x7f
  let headerSize = 2
  if (length === 126) {
    length = buf.readUInt16BE(2)
    headerSize = 4
  } else if (length === 127) {
    length = buf.readUInt32BE(2) * 2 ** 32 + buf.readUInt32BE(6)
    headerSize = 10
  }
  return {
    fin: (b0 & 0x80) !== 0,
    rsv: (b0 >> 4) & 0x07,
    opcode: b0 & 0x0f,
    masked: (b1 & 0x80) !== 0,
    extendedLength: headerSize - 2,
    length,
    headerSize,
    payload: buf.subarray(headerSize, headerSize + length)
  }
}

function assertServerHeader (p: Parsed, opcode: number): void {
  assert.equal(p.fin, true, 'FIN')
  assert.equal(p.rsv, 0, 'RSV bits')
  assert.equal(p.masked, false, 'server frames are never masked')
  assert.equal(p.opcode, opcode, 'opcode')
}

/** The length form RFC 6455 §5.2 requires: the minimal number of bytes. */
function minimalExtended (length: number): number {
  return length < 126 ? 0 : length < 65536 ? 2 : 8
}

describe('frameHeader', () => {
  for (const length of [0, 1, 125, 126, 127, 65535, 65536, 70_000, 2 ** 32 + 5]) {
    test(`binary header for ${length} bytes`, () => {
      const header = frameHeader(Opcode.binary, length)
      const p = parse(header)
      assertServerHeader(p, Opcode.binary)
      assert.equal(p.length, length)
      assert.equal(p.extendedLength, minimalExtended(length))
      assert.equal(header.length, p.headerSize, 'nothing after the header')
    })
  }

  test('header plus payload round-trips for each length form', () => {
    for (const length of [0, 125, 126, 65535, 65536, 70_000]) {
      const payload = Buffer.alloc(length)
      for (let i = 0; i < length; i++) payload[i] = (i * 31) & 0xff
      const p = parse(Buffer.concat([frameHeader(Opcode.binary, length), payload]))
      assert.equal(p.length, length)
      assert.ok(p.payload.equals(payload), `payload of ${length} bytes`)
    }
  })

  test('keeps the opcode of any frame type', () => {
    for (const opcode of [Opcode.continuation, Opcode.text, Opcode.binary, Opcode.close, Opcode.ping, Opcode.pong]) {
      assert.equal(parse(frameHeader(opcode, 3)).opcode, opcode)
    }
  })
})

describe('controlFrame', () => {
  test('an empty ping and pong', () => {
    for (const opcode of [Opcode.ping, Opcode.pong]) {
      const bytes = controlFrame(opcode)
      const p = parse(bytes)
      assertServerHeader(p, opcode)
      assert.equal(p.length, 0)
      assert.equal(bytes.length, 2)
    }
  })

  test('a pong echoing a ping payload', () => {
    const payload = Buffer.from('ping-123')
    const bytes = controlFrame(Opcode.pong, payload)
    const p = parse(bytes)
    assertServerHeader(p, Opcode.pong)
    assert.ok(p.payload.equals(payload))
    assert.equal(bytes.length, 2 + payload.length)
  })

  test('a payload of exactly 125 bytes is kept whole', () => {
    const payload = Buffer.alloc(125, 7)
    const p = parse(controlFrame(Opcode.ping, payload))
    assert.equal(p.length, 125)
    assert.equal(p.extendedLength, 0)
    assert.ok(p.payload.equals(payload))
  })

  for (const size of [126, 200, 70_000]) {
    test(`a payload of ${size} bytes is cut to 125 (§5.5)`, () => {
      const payload = Buffer.alloc(size)
      for (let i = 0; i < size; i++) payload[i] = i & 0xff
      const bytes = controlFrame(Opcode.ping, payload)
      const p = parse(bytes)
      assert.equal(p.length, 125)
      assert.equal(p.extendedLength, 0)
      assert.equal(bytes.length, 127)
      assert.ok(p.payload.equals(payload.subarray(0, 125)))
    })
  }

  test('does not alias or change the payload it is given', () => {
    const payload = Buffer.from('abc')
    const bytes = controlFrame(Opcode.ping, payload)
    bytes[2] = 0x7a
    assert.equal(payload.toString(), 'abc')
  })
})

describe('closeFrame', () => {
  function decodeClose (bytes: Buffer): { code: number, reason: Buffer, p: Parsed } {
    const p = parse(bytes)
    assertServerHeader(p, Opcode.close)
    assert.equal(bytes.length, p.headerSize + p.length, 'nothing after the frame')
    assert.ok(p.length >= 2, 'the body starts with a code')
    return { code: p.payload.readUInt16BE(0), reason: p.payload.subarray(2), p }
  }

  test('a code and a short reason', () => {
    const { code, reason } = decodeClose(closeFrame(1000, 'bye'))
    assert.equal(code, 1000)
    assert.equal(reason.toString(), 'bye')
  })

  test('a code with an empty reason', () => {
    const { code, reason, p } = decodeClose(closeFrame(1001, ''))
    assert.equal(code, 1001)
    assert.equal(reason.length, 0)
    assert.equal(p.length, 2)
  })

  for (const code of [1002, 1003, 1008, 1009, 1011, 1013, 4000]) {
    test(`code ${code} round-trips`, () => {
      assert.equal(decodeClose(closeFrame(code, 'x')).code, code)
    })
  }

  test('a reason of exactly 123 bytes fills the 125-byte body', () => {
    const text = 'r'.repeat(123)
    const { reason, p } = decodeClose(closeFrame(1000, text))
    assert.equal(p.length, 125)
    assert.equal(reason.toString(), text)
  })

  test('a longer ASCII reason is cut to 123 bytes so the body fits 125', () => {
    const text = 'abcdefghij'.repeat(30)
    const { code, reason, p } = decodeClose(closeFrame(1008, text))
    assert.equal(code, 1008)
    assert.equal(p.length, 125)
    assert.equal(p.extendedLength, 0)
    assert.equal(reason.toString(), text.slice(0, 123))
  })

  // [RFC 6455 §5.5.1] the reason is UTF-8; receivers (ws, browsers) fail the
  // connection on invalid UTF-8, so a cut must not split a character.
  for (const [name, text] of [['2-byte', 'é'.repeat(100)], ['3-byte', '€'.repeat(60)], ['4-byte', '😀'.repeat(40)]] as const) {
    test(`a reason of ${name} characters is cut on a character boundary`, () => {
      const { reason, p } = decodeClose(closeFrame(1000, text))
      assert.ok(p.length <= 125, 'control payload within 125 bytes')
      const decoded = new TextDecoder('utf-8', { fatal: true }).decode(reason)
      assert.ok(text.startsWith(decoded), 'the reason is a prefix of the original')
      assert.ok(reason.length > 123 - 4, 'no more than one character dropped')
    })
  }
})

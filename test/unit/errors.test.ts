/**
 * The error registry: every code in errorCodes is an MWG_ERR_* code some
 * class carries, every class carries a registered code, and no file in src/
 * builds an untyped Error (callers could tell it apart only by its message).
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, test } from 'node:test'
import {
  EmptyClientIdError, errorCodes, GatewayError, InvalidOptionError, ListenError, MalformedPacketError, Mqtt5UnsupportedError, NotListeningError,
  OutOfRangeError, PacketIdsExhaustedError, SocketError, traceErrors, TraceRequestError, UnreadableFileError, UnreadOverflowError,
  UpstreamConnectError, UsageError
} from '../../src/errors.js'
import type { TraceErrorCode } from '../../src/errors.js'
import type { ErrorCode } from '../../src/errors.js'

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))
const enoent = Object.assign(new Error('ENOENT'), { code: 'ENOENT' })

/** One instance of every registered class, with the code it must carry. */
const instances: [Error & { code: string }, ErrorCode][] = [
  [new InvalidOptionError('port', 'must be an integer'), 'MWG_ERR_INVALID_OPTION'],
  [new UnreadableFileError('tlsCert', '/missing.pem', enoent), 'MWG_ERR_READ_FILE'],
  [new ListenError('port', '127.0.0.1:1', enoent), 'MWG_ERR_LISTEN'],
  [new UpstreamConnectError('upstream_timeout', 'mqtt://b:1883: no answer'), 'MWG_ERR_UPSTREAM_CONNECT'],
  [new MalformedPacketError('incomplete packet'), 'MWG_ERR_MALFORMED_PACKET'],
  [new NotListeningError(), 'MWG_ERR_NOT_LISTENING'],
  [new OutOfRangeError('capacity must be a positive integer'), 'MWG_ERR_OUT_OF_RANGE'],
  [new PacketIdsExhaustedError(), 'MWG_ERR_PACKET_IDS_EXHAUSTED'],
  [new Mqtt5UnsupportedError(), 'MWG_ERR_MQTT5_UNSUPPORTED'],
  [new EmptyClientIdError(), 'MWG_ERR_EMPTY_CLIENT_ID'],
  [new UnreadOverflowError(3_000_000, 2_097_152), 'MWG_ERR_UNREAD_OVERFLOW'],
  [new UsageError('--duration must be at least 1 s'), 'MWG_ERR_USAGE'],
  ...(Object.keys(traceErrors) as TraceErrorCode[]).map((code): [Error & { code: string }, ErrorCode] => [new TraceRequestError(code, 'refused'), code])
]

/** Every .ts file under src/, relative to it. */
function sourceFiles (dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [relative(SRC, path)] : []
  })
}

/** Lines that build or subclass a built-in error instead of a registered class. */
const UNTYPED = /\bnew (Error|RangeError|TypeError|SyntaxError)\(|\bextends (Error|RangeError|TypeError)\b/

/** Where an untyped error is right, and why. */
const ALLOWED = new Map([
  // Browser code inside the status page's HTML: it runs in the viewer's browser, not in the gateway.
  ["server/status-page.ts: if (!res.ok) throw new Error('HTTP ' + res.status)", 'browser script']
])

describe('error registry', () => {
  test('every code is MWG_ERR_ + upper snake case, with a meaning', () => {
    for (const [code, meaning] of Object.entries(errorCodes)) {
      assert.match(code, /^MWG_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/)
      assert.ok(meaning.length > 10, code)
    }
  })

  test('every class carries its registered code, and every code has a class', () => {
    for (const [err, code] of instances) {
      assert.equal(err.code, code, err.name)
      assert.ok(Object.hasOwn(errorCodes, err.code), err.name)
      assert.equal(err.name, err.constructor.name)
    }
    assert.deepEqual(instances.map(([, code]) => code).sort(), Object.keys(errorCodes).sort())
  })

  test('gateway errors are GatewayErrors; an out-of-range argument stays a RangeError', () => {
    for (const [err] of instances) {
      if (err instanceof OutOfRangeError) assert.ok(err instanceof RangeError)
      else assert.ok(err instanceof GatewayError, err.name)
    }
  })

  test('a SocketError carries the system code a real socket would', () => {
    assert.equal(new SocketError('ECONNRESET', 'connection lost').code, 'ECONNRESET')
    assert.equal(new SocketError('EPIPE', 'write after the other end closed').code, 'EPIPE')
  })

  test('no file in src/ but errors.ts builds or subclasses an untyped Error', () => {
    const found: string[] = []
    for (const file of sourceFiles()) {
      if (file === 'errors.ts') continue
      for (const line of readFileSync(join(SRC, file), 'utf8').split('\n')) {
        const where = `${file}: ${line.trim()}`
        if (UNTYPED.test(line) && !ALLOWED.has(where)) found.push(where)
      }
    }
    assert.deepEqual(found, [], 'define the error in src/errors.ts, with a code in errorCodes')
  })
})

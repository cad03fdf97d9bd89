/**
 * Who may use the trace endpoints: tokens (named or not, compared by
 * digest), loopback-only use without one, and the refusals that keep a web
 * page from reaching a local admin listener (DNS rebinding, cross-site).
 */
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { describe, test } from 'node:test'
import { AdminAccess, isLoopbackHost } from '../../../src/trace/access.js'

function request (headers: Record<string, string>, address = '127.0.0.1'): IncomingMessage {
  return { headers, socket: { remoteAddress: address } } as unknown as IncomingMessage
}

const refused = (code: string) => (err: Error & { code?: string }) => err.code === code

describe('admin access', () => {
  test('loopback without a token: local requests only', () => {
    const access = new AdminAccess([], '127.0.0.1')
    assert.equal(access.disabled, false)
    assert.deepEqual(access.check(request({ host: '127.0.0.1:8090' })), { address: '127.0.0.1', token: undefined })
    assert.deepEqual(access.check(request({ host: 'localhost:8090' })).token, undefined)
    assert.deepEqual(access.check(request({ host: '[::1]:8090' })).token, undefined)
    assert.throws(() => access.check(request({ host: 'rebound.example.com:8090' })), refused('MWG_ERR_TRACE_FORBIDDEN'))
    assert.throws(() => access.check(request({})), refused('MWG_ERR_TRACE_FORBIDDEN'))
    assert.throws(() => access.check(request({ host: '127.0.0.1:8090', 'sec-fetch-site': 'cross-site' })), refused('MWG_ERR_TRACE_FORBIDDEN'))
    assert.doesNotThrow(() => access.check(request({ host: '127.0.0.1:8090', 'sec-fetch-site': 'same-origin' })))
  })

  test('bound elsewhere without a token: refused, whoever asks', () => {
    const access = new AdminAccess([], '0.0.0.0')
    assert.equal(access.disabled, true)
    assert.throws(() => access.check(request({ host: '127.0.0.1:8090' })), (err: Error & { code?: string, status?: number }) => err.status === 403 && /--admin-token/.test(err.message))
  })

  test('with tokens: bearer required, named or fingerprinted, anywhere', () => {
    const access = new AdminAccess(['ops:0123456789abcdef-ops', 'fedcba9876543210-anon'], '0.0.0.0')
    assert.equal(access.disabled, false)
    assert.equal(access.check(request({ host: 'gw.example.com', authorization: 'Bearer 0123456789abcdef-ops' })).token, 'ops')
    assert.match(String(access.check(request({ authorization: 'bearer fedcba9876543210-anon' })).token), /^sha256:[0-9a-f]{8}$/)
    assert.throws(() => access.check(request({})), refused('MWG_ERR_TRACE_UNAUTHORIZED'))
    assert.throws(() => access.check(request({ authorization: 'Bearer ops:0123456789abcdef-ops' })), refused('MWG_ERR_TRACE_UNAUTHORIZED'))
    assert.throws(() => access.check(request({ authorization: 'Basic b3BzOnNlY3JldA==' })), refused('MWG_ERR_TRACE_UNAUTHORIZED'))
  })

  test('loopback hosts', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', 'localhost', 'LOCALHOST', 'a.localhost', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(host), true, host)
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', 'localhost.example.com']) assert.equal(isLoopbackHost(host), false, host)
  })
})

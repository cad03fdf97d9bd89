import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { IpLimits } from '../../../src/server/ip-limits.js'

describe('IpLimits', () => {
  test('off when both limits are 0', () => {
    const limits = new IpLimits(0, 0, 1)
    for (let i = 0; i < 1000; i++) assert.deepEqual(limits.acquire('10.0.0.1', 0), { ok: true })
    limits.stop()
  })

  test('concurrent connections per address, released on close', () => {
    const limits = new IpLimits(2, 0, 1)
    assert.equal(limits.acquire('a', 0).ok, true)
    assert.equal(limits.acquire('a', 0).ok, true)
    assert.deepEqual(limits.acquire('a', 0), { ok: false, reason: 'limit_ip', retryAfterSeconds: 5 })
    assert.equal(limits.acquire('b', 0).ok, true, 'other addresses are not affected')
    limits.release('a')
    assert.equal(limits.acquire('a', 0).ok, true)
    limits.stop()
  })

  test('token bucket: a burst, then the steady rate', () => {
    const limits = new IpLimits(0, 2, 3)
    for (let i = 0; i < 3; i++) assert.equal(limits.acquire('a', 0).ok, true, `burst ${i}`)
    const refused = limits.acquire('a', 0)
    assert.equal(refused.ok, false)
    assert.equal(!refused.ok && refused.reason, 'limit_rate')
    assert.equal(!refused.ok && refused.retryAfterSeconds, 1)
    assert.equal(limits.acquire('a', 400).ok, false, '0.8 token after 400 ms')
    assert.equal(limits.acquire('a', 500).ok, true, '1 token after 500 ms at 2/s')
    limits.stop()
  })
})

/**
 * Shedding at the door: origins and per-address limits answer at the
 * upgrade, before any upstream connection is opened.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startBridged } from '../support/bridged.js'
import { upgrade } from '../support/raw-client.js'

describe('origin allowlist', () => {
  it('refuses other origins with 403 before touching the broker, and accepts listed ones', async (t) => {
    const fixture = await startBridged({ allowedOrigins: ['https://app.example.com', 'https://*.example.org'], allowMissingOrigin: false })
    t.after(() => fixture.close())
    const denied = await upgrade(fixture.url, { protocol: 'mqtt', headers: { Origin: 'https://evil.example.com' } })
    assert.equal(!denied.ok && denied.status, 403)
    assert.equal(fixture.broker.broker.connectedClients, 0)
    assert.ok(fixture.logs.find({ event: 'reject', reason: 'origin', detail: 'https://evil.example.com' }))
    const missing = await upgrade(fixture.url, { protocol: 'mqtt' })
    assert.equal(!missing.ok && missing.status, 403)
    for (const origin of ['https://app.example.com', 'https://x.example.org']) {
      const ok = await upgrade(fixture.url, { protocol: 'mqtt', headers: { Origin: origin } })
      assert.ok(ok.ok, origin)
      ok.client.destroy()
    }
  })

  it('refuses Origin: null with 403 even when requests without an Origin are let in', async (t) => {
    const fixture = await startBridged({ allowedOrigins: ['https://app.example.com'] })
    t.after(() => fixture.close())
    const opaque = await upgrade(fixture.url, { protocol: 'mqtt', headers: { Origin: 'null' } })
    assert.equal(!opaque.ok && opaque.status, 403)
    assert.ok(fixture.logs.find({ event: 'reject', reason: 'origin', detail: 'null' }))
    const missing = await upgrade(fixture.url, { protocol: 'mqtt' })
    assert.ok(missing.ok, 'no Origin header: a device, let in by default')
    if (missing.ok) missing.client.destroy()
  })

  it('without an allowlist lets every origin in, null included', async (t) => {
    const fixture = await startBridged()
    t.after(() => fixture.close())
    const opaque = await upgrade(fixture.url, { protocol: 'mqtt', headers: { Origin: 'null' } })
    assert.ok(opaque.ok)
    if (opaque.ok) opaque.client.destroy()
  })
})

describe('per-address limits', () => {
  it('answers 429 with Retry-After past the concurrent limit, and lets in again after a close', async (t) => {
    const fixture = await startBridged({ maxConnectionsPerIp: 2 })
    t.after(() => fixture.close())
    const first = await upgrade(fixture.url, { protocol: 'mqtt' })
    const second = await upgrade(fixture.url, { protocol: 'mqtt' })
    const third = await upgrade(fixture.url, { protocol: 'mqtt' })
    assert.ok(first.ok && second.ok)
    assert.equal(!third.ok && third.status, 429)
    assert.ok(!third.ok && Number(third.headers['retry-after']) > 0)
    assert.ok(fixture.logs.find({ event: 'reject', reason: 'limit_ip' }))
    if (first.ok) {
      first.client.destroy()
      await first.client.waitFor(() => fixture.gateway.connections === 1, 2000, 'one bridge left')
    }
    const again = await upgrade(fixture.url, { protocol: 'mqtt' })
    assert.ok(again.ok, 'a slot came free')
    if (again.ok) again.client.destroy()
    if (second.ok) second.client.destroy()
  })

  it('answers 429 past the connect rate', async (t) => {
    const fixture = await startBridged({ connectRatePerIp: 1, connectBurstPerIp: 2 })
    t.after(() => fixture.close())
    const results = []
    for (let i = 0; i < 3; i++) results.push(await upgrade(fixture.url, { protocol: 'mqtt' }))
    assert.deepEqual(results.map((r) => r.ok ? 101 : r.status), [101, 101, 429])
    assert.ok(fixture.logs.find({ event: 'reject', reason: 'limit_rate' }))
    for (const r of results) if (r.ok) r.client.destroy()
  })
})

describe('the client address behind proxies', () => {
  it('logs the forwarded address only when the peer is a trusted proxy', async (t) => {
    const trusted = await startBridged({ trustedProxies: ['127.0.0.1', '::1'] })
    t.after(() => trusted.close())
    const viaProxy = await upgrade(trusted.url, { protocol: 'mqtt', headers: { 'X-Forwarded-For': '203.0.113.9' } })
    assert.ok(viaProxy.ok)
    viaProxy.client.destroy()
    await viaProxy.client.waitFor(() => trusted.logs.find({ event: 'close' }) !== undefined, 2000, 'close log')
    assert.equal(trusted.logs.find({ event: 'close' })?.remote, '203.0.113.9')

    const direct = await startBridged()
    t.after(() => direct.close())
    const spoofed = await upgrade(direct.url, { protocol: 'mqtt', headers: { 'X-Forwarded-For': '203.0.113.9' } })
    assert.ok(spoofed.ok)
    spoofed.client.destroy()
    await spoofed.client.waitFor(() => direct.logs.find({ event: 'close' }) !== undefined, 2000, 'close log')
    assert.equal(direct.logs.find({ event: 'close' })?.remote, '127.0.0.1')
  })
})

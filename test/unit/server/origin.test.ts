import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { OriginPolicy } from '../../../src/server/origin.js'

describe('OriginPolicy', () => {
  const policy = new OriginPolicy(['https://app.example.com', 'https://*.example.org', '*.example.net', 'http://localhost:3000'], false)
  const cases: [string | undefined, boolean][] = [
    ['https://app.example.com', true],
    ['https://APP.example.com', true],
    ['http://app.example.com', false], // scheme differs
    ['https://app.example.com:8443', false], // port differs
    ['https://evil-app.example.com', false],
    ['https://a.example.org', true],
    ['https://a.b.example.org', true],
    ['https://example.org', false], // wildcard means subdomains only
    ['http://a.example.org', false],
    ['http://x.example.net', true],
    ['https://x.example.net', true],
    ['https://x.example.net.evil.com', false],
    ['http://localhost:3000', true],
    ['http://localhost:3001', false],
    ['not a url', false],
    [undefined, false],
    ['null', false]
  ]
  for (const [origin, allowed] of cases) {
    test(`${String(origin)} → ${allowed ? 'allowed' : 'refused'}`, () => assert.equal(policy.allows(origin), allowed))
  }

  test('no Origin header is allowed when allowMissing is set', () => {
    assert.equal(new OriginPolicy(['https://app.example.com'], true).allows(undefined), true)
  })

  test('Origin: null (sandboxed iframe, file:, data:) is refused even when missing Origins are allowed', () => {
    const lenient = new OriginPolicy(['https://app.example.com'], true)
    assert.equal(lenient.allows('null'), false)
    assert.equal(lenient.allows(undefined), true)
    assert.equal(lenient.allows(''), true)
  })

  test('an empty list allows every origin, none, and null', () => {
    for (const allowMissing of [false, true]) {
      const open = new OriginPolicy([], allowMissing)
      assert.equal(open.allows('https://anything.test'), true)
      assert.equal(open.allows(undefined), true)
      assert.equal(open.allows('null'), true)
    }
  })
})

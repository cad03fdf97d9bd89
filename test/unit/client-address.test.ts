import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { ClientAddressResolver, isCidr } from '../../src/server/client-address.js'

describe('ClientAddressResolver', () => {
  const behindLb = new ClientAddressResolver(['10.0.0.0/8', '127.0.0.1', '::1'])
  const cases: [string, string, Record<string, string>, string][] = [
    ['no trusted proxies: headers ignored', '203.0.113.7', { 'x-forwarded-for': '1.1.1.1' }, '203.0.113.7'],
    ['direct untrusted peer cannot spoof', '198.51.100.2', { 'x-forwarded-for': '1.1.1.1' }, '198.51.100.2'],
    ['one trusted hop', '10.0.0.5', { 'x-forwarded-for': '203.0.113.9' }, '203.0.113.9'],
    ['read right to left through trusted hops', '10.0.0.5', { 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 10.1.2.3' }, '203.0.113.9'],
    ['all hops trusted: the leftmost', '127.0.0.1', { 'x-forwarded-for': '10.9.9.9, 10.1.1.1' }, '10.9.9.9'],
    ['garbage hop stops at the last trusted proxy', '10.0.0.5', { 'x-forwarded-for': 'not-an-ip' }, '10.0.0.5'],
    ['IPv4-mapped peer', '::ffff:10.0.0.5', { 'x-forwarded-for': '203.0.113.9' }, '203.0.113.9'],
    ['Forwarded wins over X-Forwarded-For', '::1', { forwarded: 'for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"', 'x-forwarded-for': '9.9.9.9' }, '2001:db8::1'],
    ['no header from a trusted proxy', '10.0.0.5', {}, '10.0.0.5']
  ]
  for (const [name, peer, headers, expected] of cases) {
    const resolver = name.startsWith('no trusted') ? new ClientAddressResolver([]) : behindLb
    test(name, () => assert.equal(resolver.resolve(peer, headers), expected))
  }
})

describe('isCidr', () => {
  for (const [text, ok] of [['10.0.0.0/8', true], ['127.0.0.1', true], ['::1/128', true], ['2001:db8::/32', true],
    ['10.0.0.0/33', false], ['::1/129', false], ['example.com', false], ['10.0.0.0/8/1', false], ['10.0.0.0/x', false]] as const) {
    test(`${text} → ${ok}`, () => assert.equal(isCidr(text), ok))
  }
})

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { formatEndpoint } from '../../../src/observe/logger.js'
import { ClientAddressResolver, isCidr } from '../../../src/server/client-address.js'
import type { ClientAddressHeader as ClientAddressHeaderName } from '../../../src/server/client-address.js'

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
    // The proxy appended X-Forwarded-For and passed the client's own Forwarded through.
    ['X-Forwarded-For is believed, a client-sent Forwarded ignored', '::1', { forwarded: 'for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"', 'x-forwarded-for': '9.9.9.9' }, '9.9.9.9'],
    ['a client-sent X-Real-IP is ignored too', '10.0.0.5', { 'x-real-ip': '192.0.2.1', 'x-forwarded-for': '203.0.113.9' }, '203.0.113.9'],
    ['no header from a trusted proxy', '10.0.0.5', {}, '10.0.0.5']
  ]
  for (const [name, peer, headers, expected] of cases) {
    const resolver = name.startsWith('no trusted') ? new ClientAddressResolver([]) : behindLb
    test(name, () => assert.equal(resolver.resolve(peer, headers), expected))
  }
})

describe('ClientAddressResolver: the one header believed', () => {
  const trusted = ['10.0.0.0/8', '::1']
  const headers = {
    forwarded: 'for=198.51.100.1, for="[2001:db8::1]:4711";proto=https',
    'x-forwarded-for': '198.51.100.2, 203.0.113.9',
    'x-real-ip': '192.0.2.7'
  }
  const cases: [ClientAddressHeaderName, string, Record<string, string>, { address: string, port: number | undefined, forwarded: boolean }][] = [
    ['x-forwarded-for', '10.0.0.5', headers, { address: '203.0.113.9', port: undefined, forwarded: true }],
    ['forwarded', '10.0.0.5', headers, { address: '2001:db8::1', port: 4711, forwarded: true }],
    ['forwarded', '10.0.0.5', { forwarded: 'for=192.0.2.60:8080' }, { address: '192.0.2.60', port: 8080, forwarded: true }],
    ['forwarded', '10.0.0.5', { forwarded: 'for=192.0.2.43, for=10.1.1.1' }, { address: '192.0.2.43', port: undefined, forwarded: true }],
    ['forwarded', '10.0.0.5', { forwarded: 'for=_hidden' }, { address: '10.0.0.5', port: 5000, forwarded: false }],
    ['forwarded', '10.0.0.5', { forwarded: 'for=unknown, for=10.2.2.2' }, { address: '10.2.2.2', port: undefined, forwarded: true }],
    ['forwarded', '10.0.0.5', { 'x-forwarded-for': '203.0.113.9' }, { address: '10.0.0.5', port: 5000, forwarded: false }],
    ['x-real-ip', '10.0.0.5', headers, { address: '192.0.2.7', port: undefined, forwarded: true }],
    ['x-real-ip', '10.0.0.5', { 'x-real-ip': 'junk' }, { address: '10.0.0.5', port: 5000, forwarded: false }],
    ['x-forwarded-for', '198.51.100.9', headers, { address: '198.51.100.9', port: 5000, forwarded: false }]
  ]
  for (const [header, peer, given, expected] of cases) {
    test(`${header}: ${JSON.stringify(given).slice(0, 70)} from ${peer}`, () => {
      assert.deepEqual(new ClientAddressResolver(trusted, header).resolveEndpoint(peer, 5000, given), expected)
    })
  }
})

describe('formatEndpoint', () => {
  test('v4:port, [v6]:port, and the bare address without a port', () => {
    assert.equal(formatEndpoint('203.0.113.9', 443), '203.0.113.9:443')
    assert.equal(formatEndpoint('2001:db8::1', 4711), '[2001:db8::1]:4711')
    assert.equal(formatEndpoint('2001:db8::1', undefined), '2001:db8::1')
    assert.equal(formatEndpoint('203.0.113.9', undefined), '203.0.113.9')
  })
})

describe('isCidr', () => {
  for (const [text, ok] of [['10.0.0.0/8', true], ['127.0.0.1', true], ['::1/128', true], ['2001:db8::/32', true],
    ['10.0.0.0/33', false], ['::1/129', false], ['example.com', false], ['10.0.0.0/8/1', false], ['10.0.0.0/x', false]] as const) {
    test(`${text} → ${ok}`, () => assert.equal(isCidr(text), ok))
  }
})

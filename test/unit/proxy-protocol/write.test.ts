import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { V1ProxyProtocol, V2ProxyProtocol } from 'proxy-protocol-js'
import type { IPv6ProxyAddress } from 'proxy-protocol-js'
import { proxyHeader } from '../../../src/proxy-protocol/write.js'

const v6 = { address: '2001:db8::7', port: 40000, localAddress: '::1', localPort: 8000 }

describe('proxyHeader', () => {
  test('v1 TCP6, read back by an independent parser', () => {
    const parsed = V1ProxyProtocol.parse(proxyHeader('v1', v6).toString('latin1'))
    assert.equal(parsed.inetProtocol, 'TCP6')
    assert.equal(parsed.source.ipAddress, '2001:db8::7')
    assert.equal(parsed.source.port, 40000)
  })

  test('v2 AF_INET6 with expanded addresses', () => {
    const parsed = V2ProxyProtocol.parse(proxyHeader('v2', v6))
    const address = parsed.proxyAddress as IPv6ProxyAddress
    // The parser gives the 16 address bytes.
    assert.deepEqual([...address.sourceAddress.address].slice(0, 4), [0x20, 0x01, 0x0d, 0xb8])
    assert.equal(address.sourceAddress.address[15], 7)
    assert.equal(address.destinationAddress.address[15], 1)
    assert.equal(address.sourcePort, 40000)
  })

  test('IPv4-mapped addresses are sent as IPv4', () => {
    const header = proxyHeader('v1', { address: '::ffff:10.1.2.3', port: 1, localAddress: '::ffff:10.0.0.1', localPort: 2 })
    assert.equal(header.toString('latin1'), 'PROXY TCP4 10.1.2.3 10.0.0.1 1 2\r\n')
  })

  // A client address from a forwarding header may be IPv6 while the gateway's
  // own is IPv4: the header stays TCP6, the IPv4 side IPv4-mapped.
  test('mixed families: TCP6 with the IPv4 side mapped', () => {
    assert.equal(proxyHeader('v1', { address: '2001:db8::1', port: 1, localAddress: '10.0.0.1', localPort: 2 }).toString('latin1'), 'PROXY TCP6 2001:db8::1 ::ffff:a00:1 1 2\r\n')
    assert.equal(proxyHeader('v1', { address: '192.0.2.7', port: 1, localAddress: '::1', localPort: 2 }).toString('latin1'), 'PROXY TCP6 ::ffff:c000:207 ::1 1 2\r\n')
  })

  test('health checks: UNKNOWN (v1) and LOCAL (v2)', () => {
    assert.equal(proxyHeader('v1', undefined).toString('latin1'), 'PROXY UNKNOWN\r\n')
    const local = proxyHeader('v2', undefined)
    assert.equal(local.length, 16)
    assert.equal(local[12], 0x20, 'version 2, LOCAL command')
  })
})

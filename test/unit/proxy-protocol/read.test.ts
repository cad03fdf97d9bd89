import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Command, IPv4Address, IPv4ProxyAddress, TransportProtocol, V2ProxyProtocol } from 'proxy-protocol-js'
import { crc32c } from '../../../src/proxy-protocol/crc32c.js'
import { MAX_TLV_BYTES, ProxyHeaderReader, readProxyHeader } from '../../../src/proxy-protocol/read.js'
import type { ProxyReadResult } from '../../../src/proxy-protocol/read.js'
import { proxyHeader } from '../../../src/proxy-protocol/write.js'

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

/** A v2 header by hand: version/command byte, family/transport byte, then the block. */
function v2 (command: number, family: number, block: Buffer): Buffer {
  const head = Buffer.from([command, family, block.length >> 8, block.length & 0xff])
  return Buffer.concat([SIGNATURE, head, block])
}

function ipv4Block (tlvs: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from([203, 0, 113, 7, 10, 0, 0, 1, 0x9c, 0x40, 0x1f, 0x40]), tlvs])
}

function tlv (type: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type, value.length >> 8, value.length & 0xff]), value])
}

function state (result: ProxyReadResult): string {
  return result.state === 'invalid' ? `invalid: ${result.problem}` : result.state
}

describe('readProxyHeader: v1', () => {
  test('TCP4: addresses, ports, length; the bytes after it are not read', () => {
    const header = 'PROXY TCP4 203.0.113.7 10.0.0.1 40000 8000\r\n'
    const result = readProxyHeader(Buffer.from(header + 'GET / HTTP/1.1\r\n', 'latin1'))
    assert.equal(result.state, 'complete')
    assert.deepEqual(result.state === 'complete' && result.header, {
      version: 1,
      source: { address: '203.0.113.7', port: 40000 },
      destination: { address: '10.0.0.1', port: 8000 },
      tlvs: [],
      length: header.length
    })
  })

  test('TCP6 in any form inet_pton accepts comes out in RFC 5952 form; IPv4-mapped as IPv4', () => {
    const result = readProxyHeader(Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:7 ::ffff:10.0.0.1 1 2\r\n', 'latin1'))
    assert.ok(result.state === 'complete')
    assert.deepEqual([result.header.source?.address, result.header.destination?.address], ['2001:db8::7', '10.0.0.1'])
  })

  test('UNKNOWN (with or without addresses after it): the connection\'s own endpoints', () => {
    for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n']) {
      const result = readProxyHeader(Buffer.from(line, 'latin1'))
      assert.ok(result.state === 'complete', line)
      assert.equal(result.header.source, undefined)
      assert.equal(result.header.length, line.length)
    }
  })

  const refused: Array<[string, string]> = [
    ['PROXY TCP4 203.0.113.7 10.0.0.1 40000 8000\n', 'LF without CR'],
    ['PROXY TCP5 203.0.113.7 10.0.0.1 40000 8000\r\n', 'unknown protocol'],
    ['PROXY TCP4 203.0.113.7  10.0.0.1 40000 8000\r\n', 'two spaces'],
    ['PROXY TCP4 203.0.113.7 10.0.0.1 40000\r\n', 'a field missing'],
    ['PROXY TCP4 2001:db8::1 10.0.0.1 40000 8000\r\n', 'IPv6 under TCP4'],
    ['PROXY TCP6 203.0.113.7 ::1 40000 8000\r\n', 'IPv4 under TCP6'],
    ['PROXY TCP6 fe80::1%eth0 ::1 40000 8000\r\n', 'a zone id'],
    ['PROXY TCP4 203.0.113.007 10.0.0.1 40000 8000\r\n', 'a leading zero'],
    ['PROXY TCP4 203.0.113.7 10.0.0.1 65536 8000\r\n', 'a port over 65535'],
    ['PROXY TCP4 203.0.113.7 10.0.0.1 -1 8000\r\n', 'a negative port'],
    ['PROXY TCP4 203.0.113.7 10.0.0.1 4\u00e90 8000\r\n', 'not US-ASCII']
  ]
  for (const [line, what] of refused) {
    test(`invalid: ${what}`, () => {
      assert.equal(readProxyHeader(Buffer.from(line, 'latin1')).state, 'invalid')
    })
  }

  test('no CRLF within 107 bytes is invalid; 107 bytes with it is a header', () => {
    const longest = `PROXY UNKNOWN ${'x'.repeat(107 - 16)}\r\n`
    assert.equal(longest.length, 107)
    assert.equal(readProxyHeader(Buffer.from(longest, 'latin1')).state, 'complete')
    assert.match(state(readProxyHeader(Buffer.from(`PROXY UNKNOWN ${'x'.repeat(92)}\r\n`, 'latin1'))), /no CRLF within 107 bytes/)
    assert.equal(readProxyHeader(Buffer.from(`PROXY UNKNOWN ${'x'.repeat(92)}`, 'latin1').subarray(0, 106)).state, 'incomplete')
  })
})

describe('readProxyHeader: v2', () => {
  test('PROXY TCP over IPv4, read as proxy-protocol-js writes it', () => {
    const built = Buffer.from(new V2ProxyProtocol(Command.PROXY, TransportProtocol.STREAM,
      new IPv4ProxyAddress(IPv4Address.createFrom([203, 0, 113, 7]), 40000, IPv4Address.createFrom([10, 0, 0, 1]), 8000)).build())
    const result = readProxyHeader(built)
    assert.ok(result.state === 'complete')
    assert.deepEqual(result.header.source, { address: '203.0.113.7', port: 40000 })
    assert.deepEqual(result.header.destination, { address: '10.0.0.1', port: 8000 })
    assert.equal(result.header.length, built.length)
  })

  test('IPv6, as the gateway\'s own writer sends it upstream', () => {
    const result = readProxyHeader(proxyHeader('v2', { address: '2001:db8::7', port: 1, localAddress: '::1', localPort: 2 }))
    assert.ok(result.state === 'complete')
    assert.deepEqual([result.header.source, result.header.destination], [{ address: '2001:db8::7', port: 1 }, { address: '::1', port: 2 }])
  })

  test('LOCAL (a load balancer\'s health check): the connection\'s own endpoints, the block skipped', () => {
    const result = readProxyHeader(proxyHeader('v2', undefined))
    assert.ok(result.state === 'complete')
    assert.equal(result.header.source, undefined)
    assert.equal(result.header.length, 16)
  })

  test('families without IP addresses (UNIX, UNSPEC) and UDP: the connection\'s own endpoints', () => {
    for (const family of [0x31, 0x00, 0x12]) {
      const result = readProxyHeader(v2(0x21, family, Buffer.alloc(family === 0x31 ? 216 : 12)))
      assert.ok(result.state === 'complete', family.toString(16))
      assert.equal(result.header.source, undefined)
    }
  })

  test('TLVs: AUTHORITY and UNIQUE_ID, in order, as views', () => {
    const tlvs = Buffer.concat([tlv(0x02, Buffer.from('mqtt.example.com')), tlv(0x05, Buffer.from('id-1')), tlv(0x04, Buffer.alloc(3))])
    const result = readProxyHeader(v2(0x21, 0x11, ipv4Block(tlvs)))
    assert.ok(result.state === 'complete')
    assert.deepEqual(result.header.tlvs.map((t) => [t.type, t.value.toString()]), [[2, 'mqtt.example.com'], [5, 'id-1'], [4, '\0\0\0']])
  })

  test('CRC32C: a matching checksum passes, any other byte changed does not', () => {
    const withCrc = v2(0x21, 0x11, ipv4Block(tlv(0x03, Buffer.alloc(4))))
    withCrc.writeUInt32BE(crc32c(withCrc), withCrc.length - 4)
    assert.equal(readProxyHeader(withCrc).state, 'complete')
    const tampered = Buffer.from(withCrc)
    tampered[19] = 8 // the source address's last byte
    assert.match(state(readProxyHeader(tampered)), /CRC32C does not match/)
  })

  const refused: Array<[Buffer, RegExp]> = [
    [v2(0x11, 0x11, ipv4Block()), /version 1, not 2/],
    [v2(0x22, 0x11, ipv4Block()), /command 0x2/],
    [v2(0x21, 0x41, ipv4Block()), /byte 0x41 is not defined/],
    [v2(0x21, 0x13, ipv4Block()), /byte 0x13 is not defined/],
    [v2(0x21, 0x21, ipv4Block()), /cannot hold the family's 36-byte addresses/],
    [v2(0x21, 0x11, ipv4Block(Buffer.from([0x02, 0x00]))), /TLV header runs past/],
    [v2(0x21, 0x11, ipv4Block(Buffer.from([0x02, 0x00, 0x09, 0x61]))), /TLV 0x2 runs past/],
    [v2(0x21, 0x11, ipv4Block(tlv(0x05, Buffer.alloc(129)))), /UNIQUE_ID of 129 bytes/],
    [v2(0x21, 0x11, ipv4Block(tlv(0x02, Buffer.alloc(256)))), /AUTHORITY of 256 bytes/],
    [v2(0x21, 0x11, ipv4Block(tlv(0x03, Buffer.alloc(3)))), /CRC32C of 3 bytes/]
  ]
  for (const [bytes, problem] of refused) {
    test(`invalid: ${problem.source}`, () => assert.match(state(readProxyHeader(bytes)), problem))
  }

  test(`a TLV block over ${MAX_TLV_BYTES} bytes is refused from its first 16 bytes, before it is buffered`, () => {
    const head = v2(0x21, 0x11, ipv4Block(Buffer.alloc(MAX_TLV_BYTES + 1))).subarray(0, 16)
    assert.match(state(readProxyHeader(head)), /over the 4096-byte TLV limit/)
    assert.equal(readProxyHeader(v2(0x21, 0x11, ipv4Block(tlv(0x04, Buffer.alloc(MAX_TLV_BYTES - 3))))).state, 'complete')
  })
})

describe('readProxyHeader: not a header', () => {
  test('an HTTP request, a TLS ClientHello, a POST are absent as soon as a byte differs', () => {
    for (const bytes of [Buffer.from('GET /mqtt HTTP/1.1'), Buffer.from([0x16, 0x03, 0x01]), Buffer.from('POST'), Buffer.from([0x0d, 0x0a, 0x0d, 0x0b])]) {
      assert.equal(readProxyHeader(bytes).state, 'absent', bytes.toString('latin1'))
    }
  })

  test('every proper prefix of a header is incomplete', () => {
    for (const header of [Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 40000 8000\r\n'), v2(0x21, 0x11, ipv4Block(tlv(0x02, Buffer.from('a'))))]) {
      for (let n = 0; n < header.length; n++) assert.equal(readProxyHeader(header.subarray(0, n)).state, 'incomplete', `${n} bytes`)
    }
  })
})

describe('ProxyHeaderReader', () => {
  test('byte by byte: incomplete until the last header byte, then the rest is the next chunk\'s remainder', () => {
    const header = v2(0x21, 0x11, ipv4Block(tlv(0x02, Buffer.from('host'))))
    const reader = new ProxyHeaderReader()
    for (let i = 0; i < header.length - 1; i++) assert.equal(reader.push(header.subarray(i, i + 1)).state, 'incomplete')
    assert.equal(reader.bytesHeld, header.length - 1)
    const last = reader.push(Buffer.concat([header.subarray(-1), Buffer.from('GET')]))
    assert.ok(last.state === 'complete')
    assert.equal(last.rest.toString(), 'GET')
    assert.equal(reader.bytesHeld, 0)
  })

  test('absent: every byte received is handed back', () => {
    const reader = new ProxyHeaderReader()
    assert.equal(reader.push(Buffer.from('P')).state, 'incomplete')
    const result = reader.push(Buffer.from('OST /'))
    assert.ok(result.state === 'absent')
    assert.equal(result.rest.toString(), 'POST /')
  })
})

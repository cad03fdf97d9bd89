/**
 * Fuzzing the PROXY protocol header the gateway writes to the broker
 * (HAProxy's spec, v1 text and v2 binary), read back by an independent
 * parser (proxy-protocol-js) and, for v2's TLVs, by a small reader here.
 *
 * The address written is the client's as the gateway resolved it, which
 * may come from an X-Forwarded-For or Forwarded header: any text that
 * net.isIPv4/isIPv6 accepts can arrive here, not only the compressed form a
 * socket reports. The broker limits, logs and authorises by this address:
 * a header it reads differently (or cannot read) gives a client someone
 * else's address, or costs everyone their connection.
 *
 * The PROXY protocol *reader* (issue 14: accepting the header from a load
 * balancer in front of the gateway) is fuzzed at the end of this file: the
 * same endpoints, written by proxy-protocol-js's builders and read by ours,
 * cut at every byte, plus random and truncated headers.
 */
import assert from 'node:assert/strict'
import { isIPv4, isIPv6 } from 'node:net'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  Command, INETProtocol, IPv4Address, IPv4ProxyAddress, IPv6Address, IPv6ProxyAddress, Peer, TransportProtocol,
  UnspecProxyAddress, V1ProxyProtocol, V2ProxyProtocol
} from 'proxy-protocol-js'
import { MAX_HEADER_BYTES, ProxyHeaderReader, readProxyHeader } from '../../src/proxy-protocol/read.js'
import type { ProxyReaderResult } from '../../src/proxy-protocol/read.js'
import { proxyHeader } from '../../src/proxy-protocol/write.js'
import type { ClientEndpoint } from '../../src/proxy-protocol/write.js'
import { chunkRanges, fuzz, splits } from '../support/fuzz.js'
import type { Splits } from '../support/fuzz.js'

// ---------------------------------------------------------------- reference

/** The address an IP literal denotes, in one canonical text (RFC 5952 for IPv6, via WHATWG URL). */
function canonical (address: string): string {
  const bare = address.split('%')[0] as string
  return isIPv4(bare) ? bare : new URL(`http://[${bare}]/`).hostname.slice(1, -1)
}

/** What a socket reports for an IPv4 client of a dual-stack listener, which the header sends as IPv4. */
function mappedIPv4 (address: string): string | undefined {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address)
  return m !== null && isIPv4(m[1] as string) ? m[1] : undefined
}

/**
 * TCP4 or TCP6 for a pair of endpoints. When the families differ (a client
 * address from a forwarding header), TCP6 with the IPv4 side IPv4-mapped:
 * the broker still learns the client's address.
 */
function expectedFamily (src: string, dst: string): { v6: boolean, src: string, dst: string } {
  const s = mappedIPv4(src) ?? src.split('%')[0] as string
  const d = mappedIPv4(dst) ?? dst.split('%')[0] as string
  if (isIPv4(s) && isIPv4(d)) return { v6: false, src: s, dst: d }
  const v6 = (a: string): string => canonical(isIPv4(a) ? `::ffff:${a}` : a)
  return { v6: true, src: v6(s), dst: v6(d) }
}

function bytesToAddress (bytes: readonly number[], v6: boolean): string {
  if (!v6) return bytes.join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16))
  return canonical(groups.join(':'))
}

/** Reads a v2 header's TLVs [PROXY protocol §2.2.7]: type, 16-bit length, value. */
function readTlvs (buf: Buffer): Array<{ type: number, value: Buffer }> {
  const out: Array<{ type: number, value: Buffer }> = []
  let pos = 0
  while (pos < buf.length) {
    assert.ok(pos + 3 <= buf.length, 'a TLV header runs past the end')
    const length = buf.readUInt16BE(pos + 1)
    assert.ok(pos + 3 + length <= buf.length, 'a TLV value runs past the end')
    out.push({ type: buf[pos] as number, value: buf.subarray(pos + 3, pos + 3 + length) })
    pos += 3 + length
  }
  return out
}

/** PP2_TYPE_SSL as the spec lays it out: client flags, verify (0: verified), then sub-TLVs VERSION and CN. */
function assertSslTlv (tlvs: Buffer, tls: NonNullable<ClientEndpoint['tls']>): void {
  const [ssl, ...rest] = readTlvs(tlvs)
  assert.equal(rest.length, 0, 'one TLV: PP2_TYPE_SSL')
  assert.equal(ssl?.type, 0x20)
  const value = ssl.value
  assert.equal(value[0], 0x01 | (tls.clientCn === undefined ? 0 : 0x02), 'PP2_CLIENT_SSL, and PP2_CLIENT_CERT_CONN with a certificate')
  assert.equal(value.readUInt32BE(1), 0, 'verify: 0 = the certificate was verified')
  const subs = readTlvs(value.subarray(5))
  const want = [
    ...(tls.version === undefined ? [] : [{ type: 0x21, text: tls.version }]),
    ...(tls.clientCn === undefined ? [] : [{ type: 0x22, text: tls.clientCn }])
  ]
  assert.deepEqual(subs.map((t) => ({ type: t.type, text: t.value.toString('utf8') })), want)
}

/** Reads both versions of the header for `client` back and compares them with what it says. */
function assertRoundTrip (client: ClientEndpoint): void {
  const family = expectedFamily(client.address, client.localAddress)
  const v1 = proxyHeader('v1', client).toString('latin1')
  const v2 = proxyHeader('v2', client)
  assert.match(v1, /^PROXY TCP[46] [^ \r\n]+ [^ \r\n]+ \d+ \d+\r\n$/, 'one v1 line')
  const one = V1ProxyProtocol.parse(v1)
  assert.equal(one.inetProtocol, family.v6 ? 'TCP6' : 'TCP4')
  assert.deepEqual([canonical(one.source.ipAddress), one.source.port], [family.src, client.port], 'v1 source')
  assert.deepEqual([canonical(one.destination.ipAddress), one.destination.port], [family.dst, client.localPort], 'v1 destination')

  const two = V2ProxyProtocol.parse(v2)
  assert.equal(two.command, Command.PROXY)
  assert.equal(two.transportProtocol, TransportProtocol.STREAM)
  assert.equal(v2.readUInt16BE(14), v2.length - 16, 'the v2 length field covers exactly what follows it')
  const a = two.proxyAddress as IPv4ProxyAddress | IPv6ProxyAddress
  assert.equal(a.sourceAddress.address.length, family.v6 ? 16 : 4)
  assert.deepEqual([bytesToAddress(a.sourceAddress.address, family.v6), a.sourcePort], [family.src, client.port], 'v2 source')
  assert.deepEqual([bytesToAddress(a.destinationAddress.address, family.v6), a.destinationPort], [family.dst, client.localPort], 'v2 destination')
  const tlvs = v2.subarray(16 + a.getLength())
  if (client.tls === undefined) assert.equal(tlvs.length, 0)
  else assertSslTlv(tlvs, client.tls)
}

// ---------------------------------------------------------------- generators

const port = fc.integer({ min: 0, max: 65535 })

/** IPv4 as a socket reports it: dotted, or IPv4-mapped IPv6 on a dual-stack listener. */
const socketIPv4 = fc.oneof(fc.ipV4(), fc.ipV4().map((a) => `::ffff:${a}`))

/** IPv6 as a socket reports it (RFC 5952). */
const socketIPv6 = fc.ipV6().map(canonical)

/** The longest IPv6 text without a zone: 6 full groups and an IPv4 tail of 3-digit octets (45 characters). */
const longestIPv6 = fc.tuple(
  fc.array(fc.integer({ min: 0x1000, max: 0xffff }), { minLength: 6, maxLength: 6 }),
  fc.array(fc.integer({ min: 100, max: 255 }), { minLength: 4, maxLength: 4 })
).map(([groups, octets]) => `${groups.map((g) => g.toString(16)).join(':')}:${octets.join('.')}`)

/**
 * Every IPv6 text net.isIPv6 accepts without a zone: fast-check's (leading
 * zeros, "::" anywhere, an IPv4 tail), in upper case too, and the longest.
 */
const anyIPv6Text = fc.oneof(socketIPv6, fc.ipV6(), fc.ipV6().map((a) => a.toUpperCase()), longestIPv6).filter(isIPv6)

/** A zone id as net.isIPv6 accepts it after "%": letters, digits, "-", ".", ":". */
const zoned = fc.tuple(anyIPv6Text, fc.stringMatching(/^[0-9a-zA-Z.:-]{1,40}$/))
  .map(([a, zone]) => `${a}%${zone}`)
  .filter(isIPv6)

const tlsInfo: fc.Arbitrary<ClientEndpoint['tls']> = fc.option(fc.record({
  version: fc.option(fc.oneof(fc.constantFrom('TLSv1.2', 'TLSv1.3'), fc.string({ maxLength: 12 })), { nil: undefined }),
  clientCn: fc.option(fc.string({ unit: 'binary', maxLength: 64 }), { nil: undefined })
}), { nil: undefined })

/** Endpoints with both addresses of one family most of the time, of either family otherwise. */
function endpoint (v4: fc.Arbitrary<string>, v6: fc.Arbitrary<string>): fc.Arbitrary<ClientEndpoint> {
  const pair = fc.oneof(
    { weight: 2, arbitrary: fc.tuple(v4, v4) },
    { weight: 2, arbitrary: fc.tuple(v6, v6) },
    { weight: 1, arbitrary: fc.tuple(fc.oneof(v4, v6), fc.oneof(v4, v6)) }
  )
  return fc.record({ pair, port, localPort: port, tls: tlsInfo })
    .map(({ pair: [address, localAddress], port, localPort, tls }) => ({ address, port, localAddress, localPort, tls }))
}

const socketEndpoint = endpoint(socketIPv4, socketIPv6)
const anyTextEndpoint = endpoint(socketIPv4, anyIPv6Text)

// ---------------------------------------------------------------- properties

describe('proxyHeader fuzz', () => {
  // The common case: what sockets and well-behaved proxies report. The
  // broker must read exactly the client's address, ports and TLS facts.
  test('socket-style addresses: v1 and v2 read back as written, TLS TLVs included', () => fuzz(
    fc.property(socketEndpoint, assertRoundTrip), 500))

  // A trusted proxy's header can carry any text isIPv6 accepts
  // (2001:DB8::1, 0:0:0:0:0:ffff:1.2.3.4, leading zeros): the same address
  // must reach the broker, not one its bytes were mis-parsed into.
  test('any IPv6 text net.isIPv6 accepts: v1 and v2 carry the same address', () => fuzz(
    fc.property(anyTextEndpoint, assertRoundTrip), 500))

  // [PROXY protocol §2.1] a receiver reads at most 107 bytes for a v1
  // line; one longer is cut and refused, and the client cannot connect.
  test('the v1 line is never longer than 107 bytes', () => fuzz(
    fc.property(anyTextEndpoint, (client) => {
      const line = proxyHeader('v1', client)
      assert.ok(line.length <= 107, `${line.length} bytes: ${line.toString('latin1').trim()}`)
    }), 500))

  // The header is written on the connect path of every client: a throw
  // there fails the upgrade (or worse) for an address the gateway itself
  // accepted as valid.
  test('never throws for any address net.isIP accepts, zone ids included', () => fuzz(
    fc.property(endpoint(socketIPv4, fc.oneof(anyIPv6Text, zoned)), (client) => {
      proxyHeader('v1', client)
      proxyHeader('v2', client)
    }), 500))

  // A zone id ("fe80::1%eth0") means nothing to the broker: written into
  // v1 it makes a line receivers refuse (inet_pton rejects it), of a
  // length the client chooses; v2 must carry the address itself.
  test('zone ids: the header carries the address without its zone', () => fuzz(
    fc.property(endpoint(socketIPv4, zoned), (client) => {
      assert.ok(!proxyHeader('v1', client).includes('%'), 'v1 carries a zone id')
      assertRoundTrip(client)
    }), 300))

  // The client certificate's CN is the client's to choose (within what the
  // CA signs); a v2 TLV holds at most 65535 bytes. Writing the header must
  // not throw on the connect path whatever its length.
  test('a client certificate CN of any length never throws', () => fuzz(
    fc.property(socketEndpoint, fc.integer({ min: 0, max: 70000 }), (client, cnLength) => {
      const withCn = { ...client, tls: { version: 'TLSv1.3', clientCn: 'x'.repeat(cnLength) } }
      proxyHeader('v1', withCn)
      proxyHeader('v2', withCn)
    }), 50))
})

// ================================================================ the reader
//
// issue 14: --accept-proxy-protocol reads the header a load balancer sends
// first. Its bytes arrive before anything is known of the peer: the reader
// must read what real writers write (here proxy-protocol-js's builders), cut
// at any byte, never throw on anything else, never say "incomplete" for ever
// (it is bounded), and never take a byte of what follows the header.

/** The address the reader reports for an IP literal: RFC 5952 text, IPv4-mapped as IPv4. */
function readerAddress (address: string): string {
  if (isIPv4(address)) return address
  const text = canonical(address)
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text)
  if (m === null) return text
  const high = parseInt(m[1] as string, 16)
  const low = parseInt(m[2] as string, 16)
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
}

interface WrittenHeader {
  bytes: Buffer
  source: { address: string, port: number } | undefined
  destination: { address: string, port: number } | undefined
  tlvs: Array<{ type: number, value: string }>
}

/** v1 TCP4/TCP6 lines, as proxy-protocol-js builds them from any text net.isIP accepts (no zone). */
const v1Header: fc.Arbitrary<WrittenHeader> = fc.oneof(
  fc.tuple(fc.constant(false), fc.ipV4(), fc.ipV4()),
  fc.tuple(fc.constant(true), anyIPv6Text, anyIPv6Text)
).chain(([v6, src, dst]) => fc.tuple(fc.constant(v6), fc.constant(src), fc.constant(dst), port, port))
  .filter(([, src, dst]) => `PROXY TCP6 ${src} ${dst} 65535 65535\r\n`.length <= 107)
  .map(([v6, src, dst, sport, dport]) => ({
    bytes: Buffer.from(new V1ProxyProtocol(v6 ? INETProtocol.TCP6 : INETProtocol.TCP4, new Peer(src, sport), new Peer(dst, dport)).build(), 'latin1'),
    source: { address: readerAddress(src), port: sport },
    destination: { address: readerAddress(dst), port: dport },
    tlvs: []
  }))

/** TLVs a load balancer may send: AUTHORITY, UNIQUE_ID, NOOP, ALPN, custom (no checksum: it covers the header). */
const tlvList = fc.array(fc.oneof(
  fc.record({ type: fc.constant(0x02), value: fc.string({ maxLength: 60 }) }),
  fc.record({ type: fc.constant(0x05), value: fc.string({ maxLength: 40 }) }),
  fc.record({ type: fc.constantFrom(0x01, 0x04, 0xe0, 0xea), value: fc.string({ maxLength: 30 }) })
), { maxLength: 4 }).filter((list) => list.every((t) => Buffer.byteLength(t.value) <= (t.type === 0x05 ? 128 : 255)))

function tlvBytes (list: Array<{ type: number, value: string }>): Buffer {
  return Buffer.concat(list.map(({ type, value }) => {
    const bytes = Buffer.from(value, 'utf8')
    return Buffer.concat([Buffer.from([type, bytes.length >> 8, bytes.length & 0xff]), bytes])
  }))
}

const bytesOf = (n: number): fc.Arbitrary<number[]> => fc.array(fc.integer({ min: 0, max: 255 }), { minLength: n, maxLength: n })

/** v2 PROXY over TCP/IPv4 or IPv6 as proxy-protocol-js builds it, with TLVs. */
const v2Header: fc.Arbitrary<WrittenHeader> = fc.record({ v6: fc.boolean(), src: bytesOf(16), dst: bytesOf(16), sport: port, dport: port, tlvs: tlvList })
  .map(({ v6, src, dst, sport, dport, tlvs }) => {
    const n = v6 ? 16 : 4
    const address = v6
      ? new IPv6ProxyAddress(IPv6Address.createFrom(src), sport, IPv6Address.createFrom(dst), dport)
      : new IPv4ProxyAddress(IPv4Address.createFrom(src.slice(0, 4)), sport, IPv4Address.createFrom(dst.slice(0, 4)), dport)
    // proxy-protocol-js writes no TLVs (its `data` is the stream after the
    // header): they are appended, and the length field raised by their size.
    const bytes = Buffer.concat([Buffer.from(new V2ProxyProtocol(Command.PROXY, TransportProtocol.STREAM, address).build()), tlvBytes(tlvs)])
    bytes.writeUInt16BE(bytes.length - 16, 14)
    const text = (b: number[]): string => readerAddress(bytesToAddress(b.slice(0, n), v6))
    return {
      bytes,
      source: { address: text(src), port: sport },
      destination: { address: text(dst), port: dport },
      tlvs: tlvs.map((t) => ({ type: t.type, value: Buffer.from(t.value, 'utf8').toString('latin1') }))
    }
  })

/** v2 LOCAL (health checks) and v1 UNKNOWN: no addresses; the connection's own are used. */
const addresslessHeader: fc.Arbitrary<WrittenHeader> = fc.constantFrom(
  { bytes: Buffer.from(new V2ProxyProtocol(Command.LOCAL, TransportProtocol.UNSPEC, new UnspecProxyAddress()).build()), source: undefined, destination: undefined, tlvs: [] },
  { bytes: Buffer.from('PROXY UNKNOWN\r\n', 'latin1'), source: undefined, destination: undefined, tlvs: [] }
)

const anyHeader = fc.oneof(v1Header, v2Header, addresslessHeader)

/** What the client sends after the header: an HTTP request line, a TLS record, or anything. */
const payload = fc.oneof(
  fc.constant(Buffer.from('GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n')),
  fc.constant(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a))
)

function assertReadAs (result: ProxyReaderResult, written: WrittenHeader): void {
  assert.equal(result.state, 'complete', JSON.stringify(result))
  if (result.state !== 'complete') return
  assert.deepEqual(result.header.source, written.source)
  assert.deepEqual(result.header.destination, written.destination)
  assert.deepEqual(result.header.tlvs.map((t) => ({ type: t.type, value: t.value.toString('latin1') })), written.tlvs)
  assert.equal(result.header.length, written.bytes.length)
}

/** Feeds `bytes` cut by `how`; returns the first final result and the bytes after the chunk it came with. */
function feed (bytes: Buffer, how: Splits): { result: ProxyReaderResult, after: Buffer } {
  const reader = new ProxyHeaderReader()
  const ranges = chunkRanges(bytes.length, how)
  for (const [index, [start, end]] of ranges.entries()) {
    const result = reader.push(bytes.subarray(start, end))
    if (result.state !== 'incomplete') {
      const after = Buffer.concat(ranges.slice(index + 1).map(([s, e]) => bytes.subarray(s, e)))
      return { result, after }
    }
  }
  return { result: { state: 'incomplete' }, after: Buffer.alloc(0) }
}

describe('PROXY header reader fuzz', () => {
  test('headers proxy-protocol-js writes (v1, v2 with TLVs, LOCAL, UNKNOWN) read back as written', () => fuzz(
    fc.property(anyHeader, (written) => assertReadAs(new ProxyHeaderReader().push(written.bytes), written)), 500))

  // A load balancer's header and the client's first bytes arrive in TCP
  // reads cut anywhere: the same header, and exactly the client's bytes after it.
  test('cut at any byte, followed by anything: the same header, and the client\'s bytes untouched', () => fuzz(
    fc.property(anyHeader, payload, splits, (written, after, how) => {
      const { result, after: later } = feed(Buffer.concat([written.bytes, after]), how)
      assertReadAs(result, written)
      if (result.state === 'complete') assert.deepEqual(Buffer.concat([result.rest, later]), after)
    }), 500))

  // A truncated header (the peer stopped sending, or closed) is never taken
  // for a whole one, nor refused before its bytes run out: it waits, and
  // the gateway's deadline or the peer's FIN ends it.
  test('every proper prefix of a header is incomplete', () => fuzz(
    fc.property(anyHeader, fc.nat(), (written, cut) => {
      const prefix = written.bytes.subarray(0, cut % written.bytes.length)
      assert.equal(readProxyHeader(prefix).state, 'incomplete')
    }), 500))

  // Anything at all, from anyone: a result, never an exception; a final
  // result once MAX_HEADER_BYTES are held; a header never longer than the input.
  test('random bytes, a signature followed by random bytes, and bytes flipped in a header never throw and stay bounded', () => fuzz(
    fc.property(fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      fc.uint8Array({ maxLength: 5000 }).map((a) => Buffer.concat([Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]), Buffer.from(a)])),
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.concat([Buffer.from('PROXY '), Buffer.from(a)])),
      fc.tuple(anyHeader, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([written, at, xor]) => {
        const bytes = Buffer.from(written.bytes)
        const i = at % bytes.length
        bytes[i] = (bytes[i] as number) ^ xor
        return bytes
      })
    ), splits, (bytes, how) => {
      const whole = readProxyHeader(bytes)
      if (whole.state === 'complete') assert.ok(whole.header.length <= bytes.length)
      if (whole.state === 'incomplete') assert.ok(bytes.length < MAX_HEADER_BYTES, `incomplete after ${bytes.length} bytes`)
      // Chunk by chunk the reader comes to the same verdict.
      const { result } = feed(bytes, how)
      assert.equal(result.state, whole.state)
      if (result.state === 'complete' && whole.state === 'complete') assert.deepEqual(result.header, whole.header)
    }), 1000))
})

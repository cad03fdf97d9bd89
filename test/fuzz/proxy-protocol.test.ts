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
 * balancer in front of the gateway) belongs in this file too when it is
 * written: the same endpoints, written by proxy-protocol-js's builder and
 * read by ours, cut at every byte, plus random and truncated headers.
 */
import assert from 'node:assert/strict'
import { isIPv4, isIPv6 } from 'node:net'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { Command, TransportProtocol, V1ProxyProtocol, V2ProxyProtocol } from 'proxy-protocol-js'
import type { IPv4ProxyAddress, IPv6ProxyAddress } from 'proxy-protocol-js'
import { proxyHeader } from '../../src/upstream/proxy-protocol.js'
import type { ClientEndpoint } from '../../src/upstream/proxy-protocol.js'
import { fuzz } from './support/fuzz.js'

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

/**
 * Fuzzing ClientAddressResolver: which address the gateway logs, counts
 * and limits (--max-connections-per-ip) for a request, from the socket's
 * peer and the X-Forwarded-For / Forwarded headers.
 *
 * The headers are the client's to write; only what trusted proxies append
 * may be believed. The properties here hold whatever the rule for choosing
 * between the two headers becomes (issue 11, defect 5): never throw, never
 * believe anything from an untrusted peer, never invent an address. The
 * chain walk is compared with a reference model on each header alone.
 */
import assert from 'node:assert/strict'
import { isIPv4, isIPv6 } from 'node:net'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import type { IncomingHttpHeaders } from 'node:http'
import { ClientAddressResolver } from '../../src/server/client-address.js'
import { fuzz } from '../support/fuzz.js'

// ---------------------------------------------------------------- reference

/**
 * A small world of addresses, so that generated chains often contain
 * trusted hops: the 10.0.0.0/24 and fd00::/120 proxies are trusted (as
 * CIDRs), and so are 127.0.0.1 and ::1 (as single addresses).
 */
const TRUSTED = ['10.0.0.0/24', 'fd00::/120', '127.0.0.1', '::1']

/**
 * The IPv4 address `address` denotes, if any: dotted, or IPv4-mapped IPv6
 * in any text (::ffff:10.0.0.1, ::FFFF:a00:1, 0:0:0:0:0:ffff:a00:1), which
 * a BlockList matches against IPv4 rules.
 */
function ipv4Of (address: string): string | undefined {
  if (isIPv4(address)) return address
  if (!isIPv6(address)) return undefined
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(new URL(`http://[${address}]/`).hostname.slice(1, -1))
  if (m === null) return undefined
  const [high, low] = [parseInt(m[1] as string, 16), parseInt(m[2] as string, 16)]
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.')
}

function isTrusted (address: string): boolean {
  const v4 = ipv4Of(address)
  if (v4 !== undefined) return v4 === '127.0.0.1' || v4.startsWith('10.0.0.')
  if (!isIPv6(address)) return false
  // ::1, and fd00::/120: the first 120 bits are fd00:0:...:0, i.e. the text
  // canonicalises to fd00::xx with xx < 0x100.
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1)
  return canonical === '::1' || /^fd00::([0-9a-f]{1,2})?$/.test(canonical)
}

function unmapped (address: string): string {
  const trimmed = address.trim()
  return trimmed.startsWith('::ffff:') && isIPv4(trimmed.slice(7)) ? trimmed.slice(7) : trimmed
}

/**
 * The rule the module documents: read right to left, and only while each
 * hop so far is a trusted proxy; the first untrusted address is the client;
 * a hop that is not an address stops the walk at the last trusted one.
 */
function model (peer: string, chain: readonly string[]): string {
  let current = unmapped(peer)
  if (!isTrusted(current)) return current
  for (let i = chain.length - 1; i >= 0; i--) {
    const hop = unmapped(chain[i] as string)
    if (!isIPv4(hop) && !isIPv6(hop)) return current
    current = hop
    if (!isTrusted(current)) return current
  }
  return current
}

// ---------------------------------------------------------------- generators

const trustedAddress = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((n) => `10.0.0.${n}`),
  fc.integer({ min: 0, max: 255 }).map((n) => `fd00::${n.toString(16)}`),
  // The same trusted addresses in other texts: IPv4-mapped (a BlockList matches them against IPv4 rules), zeros, case.
  fc.constantFrom('127.0.0.1', '::1', '0::01', '::ffff:10.0.0.7', '::ffff:127.0.0.1', '::ffff:a00:9', '0:0:0:0:0:FFFF:7F00:1', 'FD00::FF')
)

const untrustedAddress = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.constantFrom('10.0.1.1', '127.0.0.2', 'fd00::100', '::2', '::ffff:192.0.2.1', '::ffff:a00:100', '::7f00:1')
).filter((a) => !isTrusted(unmapped(a)))

const address = fc.oneof(trustedAddress, untrustedAddress)

/** One element that is not an address: names, ports, brackets, obfuscation (a comma would make it two). */
const notAnAddress = fc.oneof(
  fc.constantFrom('unknown', '_hidden', 'localhost', '1.2.3.4:80', '[::1]', '01.2.3.4', '0x7f.1', '1.2.3', 'fe80::1%'),
  fc.string({ maxLength: 12 })
).filter((s) => !s.includes(',') && s.trim() !== '' && !isIPv4(unmapped(s)) && !isIPv6(unmapped(s)))

/** One X-Forwarded-For element, with the whitespace proxies and clients put around it. */
const xffHop = fc.tuple(fc.oneof({ weight: 6, arbitrary: address }, { weight: 1, arbitrary: notAnAddress }), fc.constantFrom('', ' ', '  ', '\t'))
  .map(([hop, space]) => `${space}${hop}${space}`)

/** Arbitrary header text: commas, quotes, semicolons, "for=", brackets, and plenty of both. */
const garbageHeader = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: fc.constantFrom(',', ';', '"', '=', ' ', '[', ']', ':', 'for', 'FOR', '1', '.', 'f', '\t'), maxLength: 200 }),
  fc.integer({ min: 1000, max: 100000 }).map((n) => 'for="['.repeat(n) + ';'.repeat(n))
)

/** A Forwarded element for an address [RFC 7239 §6]: IPv6 in quotes and brackets, ports, other parameters. */
const forwardedElement = fc.tuple(address, fc.option(fc.integer({ min: 1, max: 65535 })), fc.boolean(), fc.constantFrom('', 'proto=https;', 'by=10.0.0.1;', 'host=example.com;'))
  .map(([a, port, quoteV4, before]) => {
    const v6 = isIPv6(a)
    const node = v6 ? `[${a}]${port === null ? '' : `:${port}`}` : `${a}${port === null ? '' : `:${port}`}`
    return `${before}for=${v6 || quoteV4 ? `"${node}"` : node}`
  })

const headerValue = (element: fc.Arbitrary<string>): fc.Arbitrary<string | string[]> => fc.oneof(
  fc.array(element, { maxLength: 6 }).map((hops) => hops.join(',')),
  fc.array(fc.array(element, { minLength: 1, maxLength: 3 }).map((hops) => hops.join(',')), { minLength: 1, maxLength: 3 }),
  garbageHeader
)

/** Node joins a repeated Forwarded into one string; X-Forwarded-For is typed loosely, so arrays too. */
const headers: fc.Arbitrary<IncomingHttpHeaders> = fc.record({
  'x-forwarded-for': headerValue(xffHop),
  forwarded: headerValue(forwardedElement).map((v) => [v].flat().join(', '))
}, { requiredKeys: [] })

function headerText (h: IncomingHttpHeaders): string {
  return [h['x-forwarded-for'], h.forwarded].flat().filter((v) => v !== undefined).join('\n')
}

// ---------------------------------------------------------------- properties

describe('ClientAddressResolver fuzz', () => {
  const resolver = new ClientAddressResolver(TRUSTED)

  // resolve() runs on every upgrade request, before anything else: a throw
  // fails the request with a 500 at best; a slow one is a denial of service
  // any client can trigger with one header.
  test('never throws on any header value, and is quick on huge ones', () => fuzz(
    fc.property(address, headers, (peer, h) => {
      const started = process.hrtime.bigint()
      const result = resolver.resolve(peer, h)
      assert.equal(typeof result, 'string')
      // Generous for a loaded CI machine: what it catches is quadratic time (seconds on 100 kB).
      assert.ok(process.hrtime.bigint() - started < 1_000_000_000n, 'under 1 s')
    }), 300))

  // A client that connects directly chooses nothing: its headers are
  // ignored, or anyone could dodge --max-connections-per-ip and appear in
  // the logs as someone else.
  test('an untrusted peer is always the result, whatever the headers say', () => fuzz(
    fc.property(untrustedAddress, headers, (peer, h) => {
      assert.equal(resolver.resolve(peer, h), unmapped(peer))
    }), 500))

  // The result is the peer or an address some header actually carries: an
  // address that is in neither would be one the resolver made up (half an
  // IPv6 address, a port taken for an address).
  test('the result is the peer or a valid address found in a header', () => fuzz(
    fc.property(trustedAddress, headers, (peer, h) => {
      const result = resolver.resolve(peer, h)
      if (result === unmapped(peer)) return
      assert.ok(isIPv4(result) || isIPv6(result), `${result} is not an IP address`)
      assert.ok(headerText(h).includes(result), `${result} appears in no header`)
    }), 300))

  // Chains of trusted proxies: the first untrusted hop from the right is
  // the client. Reading from the left, or past an untrusted hop, lets the
  // client choose the address; stopping early blames the proxy.
  test('X-Forwarded-For alone: agrees with the reference walk', () => fuzz(
    fc.property(fc.oneof(trustedAddress, untrustedAddress), fc.array(xffHop, { maxLength: 6 }), fc.boolean(), (peer, hops, repeated) => {
      // Node joins a repeated X-Forwarded-For into one value; typed as an array it may also arrive as one.
      const value = repeated && hops.length > 1 ? [hops.slice(0, 1).join(','), hops.slice(1).join(',')] : hops.join(',')
      const chain = hops.map((h) => h.trim()).filter((h) => h !== '')
      assert.equal(resolver.resolve(peer, { 'x-forwarded-for': value }), model(peer, chain))
    }), 2000))

  test('Forwarded alone: agrees with the reference walk over its for= addresses', () => fuzz(
    fc.property(fc.oneof(trustedAddress, untrustedAddress), fc.array(forwardedElement, { minLength: 1, maxLength: 6 }), (peer, elements) => {
      const header = elements.join(', ')
      const forwardedResolver = new ClientAddressResolver(TRUSTED, 'forwarded')
      assert.equal(forwardedResolver.resolve(peer, { forwarded: header }), model(peer, elements.map(forwardedAddress)))
    }), 2000))

  test('no trusted proxies: the peer, always', () => fuzz(
    fc.property(address, headers, (peer, h) => {
      assert.equal(new ClientAddressResolver([]).resolve(peer, h), unmapped(peer))
    }), 200))
})

/** The address in a generated Forwarded element, read the plain way (not the module's regex). */
function forwardedAddress (element: string): string {
  const node = (element.split('for=')[1] as string).replaceAll('"', '')
  if (node.startsWith('[')) return node.slice(1, node.indexOf(']'))
  const colon = node.lastIndexOf(':')
  return colon === -1 || isIPv4(node) || isIPv6(node) ? node : node.slice(0, colon)
}

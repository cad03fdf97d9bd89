/**
 * The client's real address behind reverse proxies and load balancers.
 *
 * Only one header is believed, the one the trusted proxy writes
 * (`clientAddressHeader`): `X-Forwarded-For` by default, as nginx's
 * `$proxy_add_x_forwarded_for` and HAProxy's `option forwardfor` append it;
 * `Forwarded` (RFC 7239: HAProxy 2.8+ `option forwarded`, nginx with a map);
 * or `X-Real-IP` (one address, set by the proxy). The others are ignored:
 * a proxy passes through whatever headers the client sent, so a header the
 * proxy does not write is the client's own word.
 *
 * A list is read right to left, and only while each hop is a trusted proxy:
 * the first untrusted address is the client. A client connecting directly
 * (from an untrusted address) can therefore never choose the address the
 * gateway logs, counts and limits.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net'
import type { IncomingHttpHeaders } from 'node:http'

export const CLIENT_ADDRESS_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip'] as const
export type ClientAddressHeader = typeof CLIENT_ADDRESS_HEADERS[number]

/** Where a request came from: the address, and the port when it is known. */
export interface ClientEndpointAddress {
  address: string
  /** The TCP peer's port; a header's port (Forwarded may carry one); undefined when a header named none. */
  port: number | undefined
  /** True when the address was taken from a proxy's header, not the TCP peer. */
  forwarded: boolean
}

interface Hop {
  address: string
  port: number | undefined
}

/** `::ffff:10.0.0.1` → `10.0.0.1`: IPv4 clients of a dual-stack socket. */
function normalize (address: string): string {
  const trimmed = address.trim()
  return trimmed.startsWith('::ffff:') && isIPv4(trimmed.slice(7)) ? trimmed.slice(7) : trimmed
}

function headerText (value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(',') : value ?? ''
}

/** Hops of `X-Forwarded-For` (or `X-Real-IP`), in order: bare addresses, no ports. */
function addressList (value: string | string[] | undefined): Hop[] {
  return headerText(value).split(',').map((s) => s.trim()).filter((s) => s !== '').map((address) => ({ address, port: undefined }))
}

/** `for=` nodes of a `Forwarded` header [RFC 7239 §4, §6], in order; unknown and obfuscated ones kept as they are. */
function forwardedFor (value: string | string[] | undefined): Hop[] {
  const out: Hop[] = []
  for (const element of headerText(value).split(',')) {
    const match = /(?:^|;)\s*for=("?)([^";,]+)\1/i.exec(element)
    if (match?.[2] === undefined) continue
    // IPv6 appears as "[2001:db8::1]:port"; IPv4 may carry ":port".
    const node = match[2].trim()
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(node)
    const v4 = /^([^:]+)(?::(\d+))?$/.exec(node)
    const [, address = node, port] = v6 ?? v4 ?? []
    out.push({ address, port: port === undefined || Number(port) > 65535 ? undefined : Number(port) })
  }
  return out
}

const readers: Record<ClientAddressHeader, (headers: IncomingHttpHeaders) => Hop[]> = {
  'x-forwarded-for': (headers) => addressList(headers['x-forwarded-for']),
  forwarded: (headers) => forwardedFor(headers.forwarded),
  // One address, set (not appended) by the proxy: a client's own copy is replaced.
  'x-real-ip': (headers) => addressList(headers['x-real-ip']).slice(-1)
}

export class ClientAddressResolver {
  private readonly trusted: BlockList | undefined
  private readonly read: (headers: IncomingHttpHeaders) => Hop[]

  /** `cidrs`: trusted proxies, e.g. `10.0.0.0/8`, `127.0.0.1`, `::1/128`; `header`: the one they write. */
  constructor (cidrs: readonly string[], header: ClientAddressHeader = 'x-forwarded-for') {
    this.read = readers[header]
    if (cidrs.length === 0) return
    const list = new BlockList()
    for (const cidr of cidrs) {
      const [address = '', bits] = cidr.split('/')
      const type = isIPv6(address) ? 'ipv6' : 'ipv4'
      const prefix = bits === undefined ? (type === 'ipv6' ? 128 : 32) : Number(bits)
      list.addSubnet(address, prefix, type)
    }
    this.trusted = list
  }

  /** Whether `address` (normalized: IPv4 without ::ffff:) is within the trusted proxies. */
  isTrusted (address: string): boolean {
    if (this.trusted === undefined) return false
    const type = isIPv6(address) ? 'ipv6' : isIPv4(address) ? 'ipv4' : undefined
    return type !== undefined && this.trusted.check(address, type)
  }

  /** The client address for a request that arrived from `peer`. */
  resolve (peer: string, headers: IncomingHttpHeaders): string {
    return this.resolveEndpoint(peer, undefined, headers).address
  }

  /** The client address and port for a request that arrived from `peer`:`peerPort`. */
  resolveEndpoint (peer: string, peerPort: number | undefined, headers: IncomingHttpHeaders): ClientEndpointAddress {
    let current: ClientEndpointAddress = { address: normalize(peer), port: peerPort, forwarded: false }
    if (!this.isTrusted(current.address)) return current
    const chain = this.read(headers)
    for (let i = chain.length - 1; i >= 0; i--) {
      const hop = chain[i] as Hop
      const address = normalize(hop.address)
      // Garbage, "unknown" or an obfuscated node: stop at the last proxy we trust.
      if (!isIPv4(address) && !isIPv6(address)) return current
      current = { address, port: hop.port, forwarded: true }
      if (!this.isTrusted(address)) return current
    }
    return current
  }
}

/** Validates a CIDR or address for the trustedProxies option. */
export function isCidr (text: string): boolean {
  const [address = '', bits, extra] = text.split('/')
  if (extra !== undefined) return false
  const max = isIPv4(address) ? 32 : isIPv6(address) ? 128 : -1
  if (max < 0) return false
  if (bits === undefined) return true
  return /^\d+$/.test(bits) && Number(bits) <= max
}

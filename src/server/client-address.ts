/**
 * The client's real address behind reverse proxies and load balancers.
 *
 * `X-Forwarded-For` and `Forwarded` are read right to left, and only while
 * each hop is a trusted proxy: the first untrusted address is the client.
 * A client connecting directly (from an untrusted address) can therefore
 * never choose the address the gateway logs, counts and limits.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net'
import type { IncomingHttpHeaders } from 'node:http'

/** `::ffff:10.0.0.1` → `10.0.0.1`: IPv4 clients of a dual-stack socket. */
function normalize (address: string): string {
  const trimmed = address.trim()
  return trimmed.startsWith('::ffff:') && isIPv4(trimmed.slice(7)) ? trimmed.slice(7) : trimmed
}

/** Addresses in a `Forwarded` header's `for=` parameters [RFC 7239], in order. */
function forwardedFor (header: string): string[] {
  const out: string[] = []
  for (const element of header.split(',')) {
    const match = /(?:^|;)\s*for=("?)([^";,]+)\1/i.exec(element)
    if (match?.[2] === undefined) continue
    // IPv6 appears as "[2001:db8::1]:port"; IPv4 may carry ":port".
    const value = match[2]
    const v6 = /^\[([^\]]+)\]/.exec(value)
    out.push(v6?.[1] ?? value.replace(/:\d+$/, ''))
  }
  return out
}

export class ClientAddressResolver {
  private readonly trusted: BlockList | undefined

  /** `cidrs`: trusted proxies, e.g. `10.0.0.0/8`, `127.0.0.1`, `::1/128`. */
  constructor (cidrs: readonly string[]) {
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

  private isTrusted (address: string): boolean {
    if (this.trusted === undefined) return false
    const type = isIPv6(address) ? 'ipv6' : isIPv4(address) ? 'ipv4' : undefined
    return type !== undefined && this.trusted.check(address, type)
  }

  /** The client address for a request that arrived from `peer`. */
  resolve (peer: string, headers: IncomingHttpHeaders): string {
    let current = normalize(peer)
    if (!this.isTrusted(current)) return current
    const forwarded = typeof headers.forwarded === 'string' ? forwardedFor(headers.forwarded) : []
    const xff = headers['x-forwarded-for']
    const chain = forwarded.length > 0
      ? forwarded
      : (Array.isArray(xff) ? xff.join(',') : xff ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
    for (let i = chain.length - 1; i >= 0; i--) {
      const hop = normalize(chain[i] as string)
      if (!isIPv4(hop) && !isIPv6(hop)) return current // garbage: stop at the last proxy we trust
      current = hop
      if (!this.isTrusted(current)) return current
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

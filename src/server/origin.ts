/**
 * Which web origins may open a connection (the browser's Origin header).
 *
 * Patterns: an exact origin (`https://app.example.com`, port included when
 * not the default), a wildcard host with a scheme (`https://*.example.com`),
 * or a wildcard host alone (`*.example.com`, any scheme). A wildcard matches
 * subdomains only, not the bare domain. An empty list allows every origin.
 *
 * `Origin: null` is not a missing header: browsers send it from sandboxed
 * iframes, file: and data: pages and after some cross-origin redirects
 * (RFC 6454 §7.3, the HTML spec's "opaque origin"). Any page can produce it,
 * so with an allowlist it is refused even when missing Origins are allowed.
 */

interface Pattern {
  scheme: string | undefined
  /** Exact host[:port], or a suffix such as `.example.com` for wildcards. */
  host: string
  wildcard: boolean
}

function parsePattern (text: string): Pattern {
  const trimmed = text.trim().toLowerCase()
  const schemeEnd = trimmed.indexOf('://')
  const scheme = schemeEnd === -1 ? undefined : trimmed.slice(0, schemeEnd)
  const host = schemeEnd === -1 ? trimmed : trimmed.slice(schemeEnd + 3)
  if (host.startsWith('*.')) return { scheme, host: host.slice(1), wildcard: true }
  return { scheme, host, wildcard: false }
}

export class OriginPolicy {
  private readonly patterns: Pattern[]
  private readonly allowMissing: boolean

  constructor (allowed: readonly string[], allowMissing: boolean) {
    this.patterns = allowed.map(parsePattern)
    this.allowMissing = allowMissing
  }

  allows (origin: string | undefined): boolean {
    if (this.patterns.length === 0) return true
    // Devices and native clients send none; browsers always do.
    if (origin === undefined || origin === '') return this.allowMissing
    // An opaque origin: a browser, from a page that could be anyone's.
    if (origin === 'null') return false
    let url: URL
    try {
      url = new URL(origin)
    } catch {
      return false
    }
    const scheme = url.protocol.slice(0, -1)
    const host = url.host.toLowerCase()
    return this.patterns.some((p) =>
      (p.scheme === undefined || p.scheme === scheme) &&
      (p.wildcard ? host.endsWith(p.host) && host.length > p.host.length : host === p.host))
  }
}

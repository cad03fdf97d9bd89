/**
 * Who may use the admin listener's trace and connection endpoints.
 *
 * With --admin-token: a request must carry `Authorization: Bearer <token>`
 * matching one of them (compared in constant time); the token's name (or a
 * short fingerprint of it) is what the log says asked.
 *
 * Without a token the endpoints answer only when the admin listener is on a
 * loopback address (the default), and only to requests a local tool or the
 * status page itself makes: a Host header naming loopback (a web page that
 * rebinds its DNS name to 127.0.0.1 sends its own name) and no
 * `Sec-Fetch-Site: cross-site` (another site's page cannot start traces
 * through the browser of someone reading this one). Bound anywhere else
 * without a token, they answer 403: traces show client ids, addresses and,
 * when asked, payloads. The gateway still starts (metrics and health checks
 * keep working) and says so once in its log.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'
import { TraceRequestError } from '../errors.js'
import type { Requester } from './session.js'

interface Token {
  name: string
  digest: Buffer
}

const BEARER = /^Bearer +(\S+) *$/i

export class AdminAccess {
  private readonly tokens: readonly Token[]
  /** The admin listener is on loopback: token-less local use is allowed. */
  readonly loopback: boolean

  constructor (tokens: readonly string[], adminHost: string) {
    this.tokens = tokens.map(parseToken)
    this.loopback = isLoopbackHost(adminHost)
  }

  get tokenRequired (): boolean {
    return this.tokens.length > 0
  }

  /** Off loopback and without a token, tracing is refused: what the start-up log says. */
  get disabled (): boolean {
    return this.tokens.length === 0 && !this.loopback
  }

  /** Who asks, or a TraceRequestError (401 / 403) saying why not. */
  check (req: IncomingMessage): Requester {
    const address = req.socket.remoteAddress ?? ''
    if (req.headers['sec-fetch-site'] === 'cross-site') throw new TraceRequestError('MWG_ERR_TRACE_FORBIDDEN', 'cross-site requests are refused')
    if (this.tokens.length > 0) return { address, token: this.tokenName(req.headers.authorization) }
    if (!this.loopback) {
      throw new TraceRequestError('MWG_ERR_TRACE_FORBIDDEN', 'the admin listener is not on a loopback address: traces and the connection list need --admin-token')
    }
    if (!isLoopbackHostHeader(req.headers.host)) {
      throw new TraceRequestError('MWG_ERR_TRACE_FORBIDDEN', 'without --admin-token, only requests to a loopback address (Host: 127.0.0.1, [::1] or localhost) are answered')
    }
    return { address, token: undefined }
  }

  private tokenName (header: string | undefined): string {
    const presented = header === undefined ? undefined : BEARER.exec(header)?.[1]
    if (presented === undefined) throw new TraceRequestError('MWG_ERR_TRACE_UNAUTHORIZED', 'send Authorization: Bearer <admin token>')
    const digest = sha256(presented)
    // Every token compared, so the time taken says nothing of which one matched.
    let match: Token | undefined
    for (const token of this.tokens) if (timingSafeEqual(token.digest, digest)) match ??= token
    if (match === undefined) throw new TraceRequestError('MWG_ERR_TRACE_UNAUTHORIZED', 'the admin token is not valid')
    return match.name
  }
}

/** `name:secret` or `secret` (then named by a fingerprint: the log never shows the secret). */
function parseToken (entry: string): Token {
  const colon = entry.indexOf(':')
  const secret = colon < 0 ? entry : entry.slice(colon + 1)
  const digest = sha256(secret)
  return { name: colon < 0 ? `sha256:${digest.toString('hex').slice(0, 8)}` : entry.slice(0, colon), digest }
}

function sha256 (text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

export function isLoopbackHost (host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true
  if (isIP(bare) === 4) return bare.startsWith('127.')
  return bare === '::1' || /^::ffff:127\./.test(bare)
}

/** The Host header's host part names loopback. */
function isLoopbackHostHeader (header: string | undefined): boolean {
  if (header === undefined) return false
  const host = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.replace(/:\d+$/, '')
  return isLoopbackHost(host)
}

/**
 * The optional token check at the upgrade: a JWT from the Authorization
 * header, the `access_token` query parameter or a named cookie, verified
 * with jose before any broker connection is opened.
 *
 * The accepted algorithms follow from the configured key, never from the
 * token: HS256 for a shared secret, RS256 or ES256 for a public key or a
 * JWKS. So neither `alg: none` nor an HS256 token "signed" with the public
 * key as an HMAC secret (RFC 8725 §2.1) can pass.
 */
import { createPublicKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { createLocalJWKSet, errors, jwtVerify } from 'jose'
import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey } from 'jose'
import { InvalidOptionError, UnreadableFileError } from '../errors.js'
import type { ResolvedOptions } from '../options.js'

/** What a verified token grants the connection it opened. */
export interface TokenGrant {
  /** Epoch ms at which the token stops being honoured (exp plus the clock tolerance); undefined without exp (jwtAllowNoExp). */
  expiresAt: number | undefined
  /** With jwtClientIdClaim: the claim's value (undefined when missing or not a string). */
  clientId: string | undefined
  /** With jwtUsernameClaim: the claim's value (undefined when missing or not a string). */
  username: string | undefined
}

export type TokenVerdict =
  | { ok: true, grant: TokenGrant }
  | { ok: false, reason: 'token_missing' | 'token_invalid', detail: string }

type TokenOptions = Pick<ResolvedOptions, 'jwtSecret' | 'jwtPublicKey' | 'jwtJwks' | 'jwtAudience' | 'jwtIssuer' |
  'jwtCookie' | 'jwtClientIdClaim' | 'jwtUsernameClaim' | 'jwtClockTolerance'> &
  // Optional here: left out, exp is required (the default).
  Partial<Pick<ResolvedOptions, 'jwtAllowNoExp'>>

type VerifyKey = Uint8Array | KeyObject | JWTVerifyGetKey

const BEARER = /^Bearer +(\S+) *$/i

/** The token, in order of precedence: `Authorization: Bearer`, `?access_token=`, the cookie. */
export function extractToken (headers: IncomingHttpHeaders, url: string | undefined, cookieName: string | undefined): string | undefined {
  const bearer = BEARER.exec(headers.authorization ?? '')?.[1]
  if (bearer !== undefined) return bearer
  const fromQuery = queryParameter(url, 'access_token')
  if (fromQuery !== undefined && fromQuery !== '') return fromQuery
  if (cookieName === undefined) return undefined
  const fromCookie = cookie(headers.cookie, cookieName)
  return fromCookie === '' ? undefined : fromCookie
}

function queryParameter (url: string | undefined, name: string): string | undefined {
  if (url === undefined) return undefined
  const start = url.indexOf('?')
  if (start === -1) return undefined
  const hash = url.indexOf('#', start)
  return new URLSearchParams(url.slice(start + 1, hash === -1 ? undefined : hash)).get(name) ?? undefined
}

/** The first cookie called `name` (RFC 6265 §5.4: `name=value` pairs joined by "; "). */
function cookie (header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue
    const value = pair.slice(eq + 1).trim()
    return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value
  }
  return undefined
}

export class TokenVerifier {
  private readonly key: VerifyKey
  private readonly algorithms: string[]
  private readonly options: TokenOptions

  private constructor (key: VerifyKey, algorithms: string[], options: TokenOptions) {
    this.key = key
    this.algorithms = algorithms
    this.options = options
  }

  /** Reads the configured key now (failing fast with the option's name); undefined when no check is configured. */
  static fromOptions (options: TokenOptions): TokenVerifier | undefined {
    if (options.jwtSecret !== undefined) return new TokenVerifier(new TextEncoder().encode(options.jwtSecret), ['HS256'], options)
    if (options.jwtPublicKey !== undefined) {
      const { key, algorithm } = readPublicKey(options.jwtPublicKey)
      return new TokenVerifier(key, [algorithm], options)
    }
    if (options.jwtJwks !== undefined) return new TokenVerifier(readJwks(options.jwtJwks), ['RS256', 'ES256'], options)
    return undefined
  }

  /** Finds the request's token and verifies it; never throws. */
  async check (req: IncomingMessage): Promise<TokenVerdict> {
    const token = extractToken(req.headers, req.url, this.options.jwtCookie)
    if (token === undefined) {
      const cookieName = this.options.jwtCookie
      return { ok: false, reason: 'token_missing', detail: `no bearer token, access_token parameter${cookieName === undefined ? '' : ` or ${cookieName} cookie`}` }
    }
    return this.verify(token)
  }

  async verify (token: string): Promise<TokenVerdict> {
    const o = this.options
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: this.algorithms,
        audience: o.jwtAudience,
        issuer: o.jwtIssuer,
        clockTolerance: o.jwtClockTolerance,
        // A token without exp would open connections for ever (RFC 8725 §3.10).
        requiredClaims: o.jwtAllowNoExp === true ? [] : ['exp']
      }))
    } catch (err) {
      return { ok: false, reason: 'token_invalid', detail: describe(err) }
    }
    return {
      ok: true,
      grant: {
        expiresAt: payload.exp === undefined ? undefined : (payload.exp + o.jwtClockTolerance) * 1000,
        clientId: stringClaim(payload, o.jwtClientIdClaim),
        username: stringClaim(payload, o.jwtUsernameClaim)
      }
    }
  }
}

function describe (err: unknown): string {
  if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'exp' && err.reason === 'missing') {
    return `${err.code}: ${err.message} (exp): a token without exp never expires; --jwt-allow-no-exp accepts it`
  }
  if (err instanceof errors.JWTClaimValidationFailed) return `${err.code}: ${err.message} (${err.claim})`
  if (err instanceof errors.JOSEError) return `${err.code}: ${err.message}`
  return String(err)
}

function readText (option: string, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new UnreadableFileError(option, path, err as NodeJS.ErrnoException)
  }
}

/** A PEM SPKI public key: RSA (RS256) or P-256 EC (ES256). */
function readPublicKey (path: string): { key: KeyObject, algorithm: 'RS256' | 'ES256' } {
  const pem = readText('jwtPublicKey', path)
  // Not a private key or certificate: the file should hold only what is public.
  if (!pem.includes('-----BEGIN PUBLIC KEY-----')) throw new InvalidOptionError('jwtPublicKey', `${path} must hold a PEM public key (BEGIN PUBLIC KEY)`)
  let key: KeyObject
  try {
    key = createPublicKey({ key: pem, format: 'pem' })
  } catch (err) {
    throw new InvalidOptionError('jwtPublicKey', `${path} is not a valid PEM public key: ${(err as Error).message}`)
  }
  if (key.asymmetricKeyType === 'rsa') return { key, algorithm: 'RS256' }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { key, algorithm: 'ES256' }
  throw new InvalidOptionError('jwtPublicKey', `${path} must be an RSA (RS256) or P-256 EC (ES256) key, got ${key.asymmetricKeyType ?? 'unknown'}`)
}

function readJwks (path: string): JWTVerifyGetKey {
  const text = readText('jwtJwks', path)
  let jwks: unknown
  try {
    jwks = JSON.parse(text)
  } catch (err) {
    throw new InvalidOptionError('jwtJwks', `${path} is not valid JSON: ${(err as Error).message}`)
  }
  const keys = (jwks as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys) || keys.length === 0) throw new InvalidOptionError('jwtJwks', `${path} must hold a JWK Set: {"keys": [...]}`)
  try {
    return createLocalJWKSet(jwks as JSONWebKeySet)
  } catch (err) {
    throw new InvalidOptionError('jwtJwks', `${path} is not a valid JWK Set: ${(err as Error).message}`)
  }
}

function stringClaim (payload: JWTPayload, name: string | undefined): string | undefined {
  const value = name === undefined ? undefined : payload[name]
  return typeof value === 'string' ? value : undefined
}

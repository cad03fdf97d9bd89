/**
 * The checks one option's value must pass, each failing with an
 * InvalidOptionError that names the option: integers in a range, one of a
 * few words, paths, origins, CIDRs, broker URLs, an HMAC secret, a cookie name.
 */
import { InvalidOptionError } from '../errors.js'
import { isCidr } from '../server/client-address.js'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export type LogLevel = typeof LOG_LEVELS[number]

export type Check = (name: string, value: unknown) => void

export function integer (min: number, max: number): Check {
  return (name, value) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new InvalidOptionError(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
    }
  }
}

export function boolean (name: string, value: unknown): void {
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, `must be true or false, got ${JSON.stringify(value)}`)
}

export function nonEmptyString (name: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidOptionError(name, 'must be a non-empty string')
}

export function optionalString (name: string, value: unknown): void {
  if (value !== undefined) nonEmptyString(name, value)
}

export function pathList (name: string, value: unknown): void {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidOptionError(name, 'must list at least one path')
  for (const path of value) {
    if (typeof path !== 'string' || !path.startsWith('/') || path.includes('?') || path.includes('#')) {
      throw new InvalidOptionError(name, `each path must start with "/" and hold no query, got ${JSON.stringify(path)}`)
    }
  }
}

export function originList (name: string, value: unknown): void {
  if (!Array.isArray(value)) throw new InvalidOptionError(name, 'must be a list of origins')
  for (const origin of value) {
    if (typeof origin !== 'string' || !/^([a-z][a-z0-9+.-]*:\/\/)?(\*\.)?[^\s/*]+$/i.test(origin)) {
      throw new InvalidOptionError(name, `each entry must be an origin such as https://app.example.com or *.example.com, got ${JSON.stringify(origin)}`)
    }
  }
}

export function cidrList (name: string, value: unknown): void {
  if (!Array.isArray(value)) throw new InvalidOptionError(name, 'must be a list of addresses or CIDRs')
  for (const cidr of value) {
    if (typeof cidr !== 'string' || !isCidr(cidr)) {
      throw new InvalidOptionError(name, `each entry must be an address or CIDR such as 10.0.0.0/8, got ${JSON.stringify(cidr)}`)
    }
  }
}

/** The upstream brokers named by the `upstream` option (a comma-separated list). */
export function upstreamList (upstream: string | undefined): string[] {
  return upstream === undefined ? [] : upstream.split(',').map((u) => u.trim()).filter((u) => u !== '')
}

export function upstreamUrls (name: string, value: unknown): void {
  if (value === undefined) return
  if (typeof value !== 'string') throw new InvalidOptionError(name, 'must be a URL such as mqtt://broker:1883')
  const urls = upstreamList(value)
  if (urls.length === 0) throw new InvalidOptionError(name, 'names no broker')
  for (const url of urls) upstreamUrl(name, url)
  const secure = urls.map((u) => /^(mqtts|ssl|tls):/i.test(u))
  if (secure.some((v) => v !== secure[0])) throw new InvalidOptionError(name, 'mixes mqtt:// and mqtts:// brokers')
}

export function upstreamUrl (name: string, value: string): void {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InvalidOptionError(name, `is not a URL: ${JSON.stringify(value)} (expected mqtt://host:port)`)
  }
  if (!['mqtt:', 'tcp:', 'mqtts:', 'ssl:', 'tls:'].includes(url.protocol)) {
    throw new InvalidOptionError(name, `protocol ${url.protocol} is not supported (expected mqtt://host:port or mqtts://host:port)`)
  }
  if (url.hostname === '') throw new InvalidOptionError(name, `has no host: ${JSON.stringify(value)}`)
}

export function oneOf (allowed: readonly string[]): Check {
  return (name, value) => {
    if (typeof value !== 'string' || !allowed.includes(value)) {
      throw new InvalidOptionError(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`)
    }
  }
}

// RFC 7518 §3.2: an HS256 key must be at least as long as the hash, 256 bits.
export function hmacSecret (name: string, value: unknown): void {
  if (value === undefined) return
  if (typeof value !== 'string' || Buffer.byteLength(value) < 32) throw new InvalidOptionError(name, 'must be a string of at least 32 bytes (RFC 7518 §3.2)')
}

// RFC 6265 §4.1.1: a cookie name is an HTTP token.
export function cookieName (name: string, value: unknown): void {
  if (value === undefined) return
  if (typeof value !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value)) throw new InvalidOptionError(name, `must be a cookie name, got ${JSON.stringify(value)}`)
}

/** Admin bearer tokens: `secret` or `name:secret`, the secret 16 bytes at least (guessing it must not pay). */
export function adminTokens (name: string, value: unknown): void {
  if (!Array.isArray(value)) throw new InvalidOptionError(name, 'must be a list of tokens')
  for (const entry of value) {
    if (typeof entry !== 'string') throw new InvalidOptionError(name, 'each token must be a string')
    const colon = entry.indexOf(':')
    const secret = colon < 0 ? entry : entry.slice(colon + 1)
    if (Buffer.byteLength(secret) < 16 || /\s/.test(secret)) throw new InvalidOptionError(name, 'each token must be at least 16 bytes without spaces (name:secret or secret)')
  }
}

export function workerCount (name: string, value: unknown): void {
  if (value === 'auto' || (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 1024)) return
  throw new InvalidOptionError(name, `must be "auto" or an integer from 1 to 1024, got ${JSON.stringify(value)}`)
}

/** --instance-id: a log field and a Prometheus label value: printable, one word, not too long. */
export function instanceName (name: string, value: unknown): void {
  if (value === undefined) return
  if (typeof value !== 'string' || !/^[\x21-\x7e]{1,253}$/.test(value)) {
    throw new InvalidOptionError(name, `must be 1 to 253 printable characters without spaces (a host or pod name), got ${JSON.stringify(value)}`)
  }
}

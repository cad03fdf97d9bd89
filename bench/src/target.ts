/**
 * What the load tool connects to: an mqtt://, mqtts://, ws:// or wss:// URL.
 *
 * By default only loopback addresses are accepted. A load generator pointed
 * at the wrong host is a denial-of-service tool; reaching another machine
 * takes an explicit `--allow-remote`.
 */
import { isIP } from 'node:net'

export type Scheme = 'mqtt' | 'mqtts' | 'ws' | 'wss'

export interface Target {
  url: string
  scheme: Scheme
  host: string
  port: number
  /** Request path of the WebSocket upgrade (unused for mqtt). */
  path: string
  websocket: boolean
  secure: boolean
  /** Accept any TLS certificate (self-signed test setups). */
  insecure: boolean
}

const DEFAULT_PORTS: Record<Scheme, number> = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 }

export class TargetError extends Error {
  readonly code = 'BENCH_BAD_TARGET'
}

export function isLoopback (host: string): boolean {
  if (host === 'localhost') return true
  const kind = isIP(host)
  if (kind === 4) return host.startsWith('127.')
  if (kind === 6) return host === '::1' || host.startsWith('::ffff:127.')
  return false
}

function schemeOf (url: URL): Scheme {
  const scheme = url.protocol.slice(0, -1)
  if (scheme === 'mqtt' || scheme === 'mqtts' || scheme === 'ws' || scheme === 'wss') return scheme
  if (scheme === 'tcp') return 'mqtt'
  throw new TargetError(`unsupported scheme ${url.protocol} (use ws://, wss://, mqtt:// or mqtts://)`)
}

export function parseTarget (raw: string, options: { allowRemote: boolean, insecure: boolean }): Target {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new TargetError(`not a URL: ${JSON.stringify(raw)}`)
  }
  const scheme = schemeOf(url)
  // WHATWG URLs keep IPv6 literals in brackets; sockets want them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  if (host === '') throw new TargetError(`no host in ${JSON.stringify(raw)}`)
  if (!options.allowRemote && !isLoopback(host)) {
    throw new TargetError(`${host} is not a loopback address; pass --allow-remote to load another machine`)
  }
  const websocket = scheme === 'ws' || scheme === 'wss'
  return {
    url: raw,
    scheme,
    host,
    port: url.port === '' ? DEFAULT_PORTS[scheme] : Number(url.port),
    path: url.pathname + url.search,
    websocket,
    secure: scheme === 'mqtts' || scheme === 'wss',
    insecure: options.insecure
  }
}

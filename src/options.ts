/**
 * Gateway options: one defaults object, validated once at the edge.
 *
 * Every entry point (library, CLI flags, environment, JSON config file) ends
 * in `resolveOptions()`, which fails fast with an `InvalidOptionError` naming
 * the option. The rest of the code trusts the frozen result.
 */
import { InvalidOptionError } from './errors.js'
import { CLIENT_ADDRESS_HEADERS, isCidr } from './server/client-address.js'
import type { ClientAddressHeader } from './server/client-address.js'

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export interface GatewayOptions {
  /** Address the WebSocket listener binds to. */
  host: string
  /** Port of the WebSocket listener; 0 picks a free one. */
  port: number
  /** Request paths that accept WebSocket upgrades. */
  paths: string[]
  /** Upstream broker URL (`mqtt://host:port`); undefined starts the embedded broker. */
  upstream: string | undefined
  /** With several upstreams (comma-separated, or --upstream repeated): failover, round-robin, or hash by client id. */
  upstreamStrategy: 'failover' | 'round-robin' | 'hash'
  /** Milliseconds a broker that refused a connection is skipped. */
  upstreamBackoff: number
  /** Embedded broker only: plain MQTT TCP port for non-WebSocket clients; 0 turns it off. */
  tcpPort: number
  /** Embedded broker only: address of the plain TCP listener (defaults to `host`). */
  tcpHost: string | undefined
  /** PEM certificate (chain) file: serve wss:// instead of ws://. */
  tlsCert: string | undefined
  /** PEM private key file for tlsCert. */
  tlsKey: string | undefined
  /** PEM CA file: ask clients for certificates signed by it. */
  tlsCa: string | undefined
  /** With tlsCa: refuse clients without a valid certificate. */
  tlsRequireClientCert: boolean
  /** mqtts:// upstream: PEM CA file to verify the broker (default: the system's CAs). */
  upstreamCa: string | undefined
  /** mqtts:// upstream: PEM client certificate and key files, for brokers that ask. */
  upstreamCert: string | undefined
  upstreamKey: string | undefined
  /** mqtts:// upstream: name to verify the broker's certificate against (default: the URL's host). */
  upstreamServername: string | undefined
  /** Send a PROXY protocol header (v1 text or v2 binary) first on each upstream connection. */
  upstreamProxyProtocol: 'off' | 'v1' | 'v2'
  /** Reject upgrades that offer no subprotocol (400). */
  requireSubprotocol: boolean
  /** Negotiate permessage-deflate with clients that offer it (costs CPU; off by default). */
  perMessageDeflate: boolean
  /** Origins allowed to connect (exact, or `*.example.com` patterns); empty allows all. */
  allowedOrigins: string[]
  /** With allowedOrigins set: accept requests that carry no Origin header (devices, native apps). */
  allowMissingOrigin: boolean
  /** Reverse proxies (CIDRs) whose clientAddressHeader is believed. */
  trustedProxies: string[]
  /** The one header the trusted proxies write the client's address into; every other is ignored. */
  clientAddressHeader: ClientAddressHeader
  /** Most concurrent connections from one address (429 over it); 0 = no limit. */
  maxConnectionsPerIp: number
  /** Sustained connects per second from one address (429 over it); 0 = no limit. */
  connectRatePerIp: number
  /** Connects one address may make in a burst before connectRatePerIp applies. */
  connectBurstPerIp: number
  /** Largest WebSocket message (and MQTT packet) accepted, in bytes; larger → close 1009. */
  maxMessageSize: number
  /** Largest message accepted before the broker's CONNACK accepts the client. */
  maxMessageSizeBeforeConnack: number
  /** Most concurrent bridged connections; further upgrades get 503. */
  maxConnections: number
  /** Most upgrades in progress at once (each waits on a broker connect); further ones get 503. */
  maxPendingUpgrades: number
  /** Milliseconds a client has to finish the TLS handshake (wss://), then as many to send its whole upgrade request. */
  handshakeTimeout: number
  /** Largest upgrade request header block in bytes (431 over it). */
  maxHeaderSize: number
  /** Milliseconds to wait for the broker's TCP connection during the upgrade (502 after). */
  upstreamConnectTimeout: number
  /** Milliseconds a new connection may take to send its CONNECT packet. */
  firstPacketTimeout: number
  /** Milliseconds the broker has to answer a client's CONNECT with a CONNACK. */
  connackTimeout: number
  /** Milliseconds to wait for the peer's close frame / FIN before destroying the socket. */
  closeTimeout: number
  /** CLI shutdown (SIGTERM/SIGINT): milliseconds over which connections are closed, evenly. */
  shutdownPeriod: number
  /**
   * CLI only: gateway processes sharing the port through node:cluster, or 'auto'
   * (os.availableParallelism()). `createGateway()` always runs one gateway in the
   * calling process, as it ignores shutdownPeriod: a library user owns its processes.
   */
  workers: number | 'auto'
  /** Milliseconds a peer may take to drain a full write buffer before it is disconnected. */
  drainTimeout: number
  /** Seconds of silence in both directions before a WebSocket ping; 0 turns idle pings off. */
  wsPingIdle: number
  /** Bytes buffered for a slow peer before the other side is paused (per direction). */
  highWaterMark: number
  /** Embedded broker: most messages queued for a client before its session is ready. */
  brokerQueueLimit: number
  /** Embedded broker: largest MQTT keep-alive a client may ask for, in seconds (0 = any). */
  brokerKeepaliveLimit: number
  /** Embedded broker: most QoS 1/2 messages kept for a persistent session while it has no connection (0 = no bound). */
  brokerMaxQueued: number
  /** Log level of the pino logger. */
  logLevel: LogLevel
  /** Address of the admin HTTP listener (metrics, health, status page). */
  adminHost: string
  /** Port of the admin HTTP listener; 0 turns it off. Never the WebSocket port. */
  adminPort: number
  /** Token check at the upgrade: HS256 shared secret. At most one of jwtSecret, jwtPublicKey, jwtJwks. */
  jwtSecret: string | undefined
  /** Token check: PEM SPKI public key file (RSA → RS256, P-256 EC → ES256). */
  jwtPublicKey: string | undefined
  /** Token check: local JWKS (JSON) file of RS256 / ES256 keys. */
  jwtJwks: string | undefined
  /** Token check: required `aud` claim. */
  jwtAudience: string | undefined
  /** Token check: required `iss` claim. */
  jwtIssuer: string | undefined
  /** Token check: cookie that may carry the token (after the Authorization header and access_token). */
  jwtCookie: string | undefined
  /** Token check: claim the MQTT CONNECT client id must equal (e.g. `sub`, `client_id`). */
  jwtClientIdClaim: string | undefined
  /** Token check: claim the MQTT CONNECT username must equal. */
  jwtUsernameClaim: string | undefined
  /** Token check: seconds of clock skew allowed on exp / nbf. */
  jwtClockTolerance: number
  /** Token check: accept tokens without an exp claim (they never expire); refused (401) by default. */
  jwtAllowNoExp: boolean
  // issue 14: fleet
  /**
   * Read a PROXY protocol header (v1 or v2) first on each connection from a
   * peer within trustedProxies (which must send one), before TLS: its
   * address is the client's. A header from any other peer closes the connection.
   */
  acceptProxyProtocol: boolean
  /**
   * CLI shutdown (SIGTERM/SIGINT): milliseconds /readyz answers 503 while the
   * gateway still accepts and serves, before the drain over shutdownPeriod:
   * load balancers take it out of rotation before anyone is told to leave.
   */
  shutdownDelay: number
  /** Names this gateway on every log line and as the `instance` label of its metrics (default: hostname-pid). */
  instanceId: string | undefined
}

export const defaultOptions: Readonly<GatewayOptions> = Object.freeze({
  host: '0.0.0.0',
  port: 8000,
  paths: Object.freeze(['/mqtt']) as string[],
  upstream: undefined,
  upstreamStrategy: 'failover',
  upstreamBackoff: 5000,
  tcpPort: 1883,
  tcpHost: undefined,
  tlsCert: undefined,
  tlsKey: undefined,
  tlsCa: undefined,
  tlsRequireClientCert: false,
  upstreamCa: undefined,
  upstreamCert: undefined,
  upstreamKey: undefined,
  upstreamServername: undefined,
  upstreamProxyProtocol: 'off',
  requireSubprotocol: false,
  perMessageDeflate: false,
  allowedOrigins: Object.freeze([]) as unknown as string[],
  allowMissingOrigin: true,
  trustedProxies: Object.freeze([]) as unknown as string[],
  // What nginx's $proxy_add_x_forwarded_for, HAProxy's `option forwardfor`
  // and most cloud load balancers append.
  clientAddressHeader: 'x-forwarded-for',
  // Off by default: whole fleets often share one NAT address.
  maxConnectionsPerIp: 0,
  connectRatePerIp: 0,
  connectBurstPerIp: 20,
  // 1 MiB, as EMQX's default max_packet_size: generous for telemetry and
  // commands, and it bounds what one connection can make the gateway hold
  // while it assembles a broker packet into one WebSocket message.
  maxMessageSize: 1024 * 1024,
  // CONNECT with a will and a password rarely passes 1 KiB; 64 KiB leaves
  // room for large wills while an unauthenticated client cannot make the
  // gateway hold megabytes.
  maxMessageSizeBeforeConnack: 64 * 1024,
  // Each bridged connection uses two file descriptors; 9,900 fits under the
  // 20,000-descriptor cap common on hosted machines with room for listeners.
  maxConnections: 9900,
  maxPendingUpgrades: 1000,
  handshakeTimeout: 10_000,
  // Browsers send 1-2 KB of headers; cookies and tokens rarely push past 8 KB.
  maxHeaderSize: 16 * 1024,
  upstreamConnectTimeout: 5000,
  firstPacketTimeout: 10_000,
  // Brokers that authenticate through an HTTP or database backend answer
  // within a second or two; a broker silent for 10 s is not coming back.
  connackTimeout: 10_000,
  closeTimeout: 5000,
  // Spread over 10 s, a fleet's reconnects do not land on the next
  // instance all at once; well inside Kubernetes' 30 s grace period.
  shutdownPeriod: 10_000,
  // One process: exactly what runs without the option.
  workers: 1,
  drainTimeout: 60_000,
  wsPingIdle: 30,
  highWaterMark: 512 * 1024,
  brokerQueueLimit: 42,
  // Off: Aedes's limit also refuses keep-alive 0 ("never check me", common on
  // devices) with a return code 3.1.1 does not define; silent WebSocket
  // clients are found by idle pings instead.
  brokerKeepaliveLimit: 0,
  // Mosquitto's max_queued_messages: a client that never comes back holds
  // a bounded share of memory, not every message of its topics.
  brokerMaxQueued: 1000,
  logLevel: 'info',
  // Loopback: the status page shows client ids and addresses, and metrics
  // are for a scraper on the same host or behind an explicit --admin-host.
  adminHost: '127.0.0.1',
  // Not 9100 (node_exporter, on most monitored hosts: a taken port stopped
  // the start) nor anywhere in 9090-9999 (Prometheus's allocations for its
  // exporters, all taken); no broker's default either (1883, 8883, 8080,
  // 8083/8084, 8161, 9001, 15672, 18083): 8090, next to the WebSocket port.
  adminPort: 8090,
  jwtSecret: undefined,
  jwtPublicKey: undefined,
  jwtJwks: undefined,
  jwtAudience: undefined,
  jwtIssuer: undefined,
  jwtCookie: undefined,
  jwtClientIdClaim: undefined,
  jwtUsernameClaim: undefined,
  // Small: a connection is closed this long after its token's exp.
  jwtClockTolerance: 5,
  // Off: a token without exp, once leaked, opens connections forever
  // (RFC 8725 §3.10 asks for expiry, OWASP's JWT guide likewise).
  jwtAllowNoExp: false,
  // issue 14: fleet
  acceptProxyProtocol: false,
  // Kubernetes removes a Terminating pod from its Service's endpoints at
  // once, but kube-proxy and ingress controllers learn it 1-3 s later (more
  // in large clusters); 5 s covers that without a preStop hook, and
  // 5 + 10 (shutdownPeriod) + 5 (closeTimeout) = 20 s fits the default
  // terminationGracePeriodSeconds of 30 s.
  shutdownDelay: 5000,
  // hostname-pid, chosen at start (a pod's hostname is its name).
  instanceId: undefined
})

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Frozen, validated options. */
export type ResolvedOptions = Readonly<GatewayOptions> & { readonly paths: readonly string[] }

type Check = (name: string, value: unknown) => void

function integer (min: number, max: number): Check {
  return (name, value) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new InvalidOptionError(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
    }
  }
}

function boolean (name: string, value: unknown): void {
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, `must be true or false, got ${JSON.stringify(value)}`)
}

function nonEmptyString (name: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidOptionError(name, 'must be a non-empty string')
}

function optionalString (name: string, value: unknown): void {
  if (value !== undefined) nonEmptyString(name, value)
}

function pathList (name: string, value: unknown): void {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidOptionError(name, 'must list at least one path')
  for (const path of value) {
    if (typeof path !== 'string' || !path.startsWith('/') || path.includes('?') || path.includes('#')) {
      throw new InvalidOptionError(name, `each path must start with "/" and hold no query, got ${JSON.stringify(path)}`)
    }
  }
}

function originList (name: string, value: unknown): void {
  if (!Array.isArray(value)) throw new InvalidOptionError(name, 'must be a list of origins')
  for (const origin of value) {
    if (typeof origin !== 'string' || !/^([a-z][a-z0-9+.-]*:\/\/)?(\*\.)?[^\s/*]+$/i.test(origin)) {
      throw new InvalidOptionError(name, `each entry must be an origin such as https://app.example.com or *.example.com, got ${JSON.stringify(origin)}`)
    }
  }
}

function cidrList (name: string, value: unknown): void {
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

function upstreamUrls (name: string, value: unknown): void {
  if (value === undefined) return
  if (typeof value !== 'string') throw new InvalidOptionError(name, 'must be a URL such as mqtt://broker:1883')
  const urls = upstreamList(value)
  if (urls.length === 0) throw new InvalidOptionError(name, 'names no broker')
  for (const url of urls) upstreamUrl(name, url)
  const secure = urls.map((u) => /^(mqtts|ssl|tls):/i.test(u))
  if (secure.some((v) => v !== secure[0])) throw new InvalidOptionError(name, 'mixes mqtt:// and mqtts:// brokers')
}

function upstreamUrl (name: string, value: string): void {
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

function oneOf (allowed: readonly string[]): Check {
  return (name, value) => {
    if (typeof value !== 'string' || !allowed.includes(value)) {
      throw new InvalidOptionError(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`)
    }
  }
}

// RFC 7518 §3.2: an HS256 key must be at least as long as the hash, 256 bits.
function hmacSecret (name: string, value: unknown): void {
  if (value === undefined) return
  if (typeof value !== 'string' || Buffer.byteLength(value) < 32) throw new InvalidOptionError(name, 'must be a string of at least 32 bytes (RFC 7518 §3.2)')
}

// RFC 6265 §4.1.1: a cookie name is an HTTP token.
function cookieName (name: string, value: unknown): void {
  if (value === undefined) return
  if (typeof value !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value)) throw new InvalidOptionError(name, `must be a cookie name, got ${JSON.stringify(value)}`)
}

function workerCount (name: string, value: unknown): void {
  if (value === 'auto' || (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 1024)) return
  throw new InvalidOptionError(name, `must be "auto" or an integer from 1 to 1024, got ${JSON.stringify(value)}`)
}

// issue 14: fleet
/** A log field and a Prometheus label value: printable, one line, not too long. */
function instanceName (name: string, value: unknown): void {
  if (value === undefined) return
  if (typeof value !== 'string' || !/^[\x21-\x7e]{1,253}$/.test(value)) {
    throw new InvalidOptionError(name, `must be 1 to 253 printable characters without spaces (a host or pod name), got ${JSON.stringify(value)}`)
  }
}

/** Reading PROXY headers needs to know whose to read. */
function checkFleetCombinations (o: GatewayOptions): void {
  if (o.acceptProxyProtocol && o.trustedProxies.length === 0) {
    throw new InvalidOptionError('acceptProxyProtocol', 'needs --trusted-proxies: the addresses of the load balancers that send the header')
  }
}

function logLevel (name: string, value: unknown): void {
  if (!LOG_LEVELS.includes(value as LogLevel)) {
    throw new InvalidOptionError(name, `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`)
  }
}

const checks: { [K in keyof GatewayOptions]: Check } = {
  host: nonEmptyString,
  port: integer(0, 65535),
  paths: pathList,
  upstream: upstreamUrls,
  upstreamStrategy: oneOf(['failover', 'round-robin', 'hash']),
  upstreamBackoff: integer(0, 3_600_000),
  tcpPort: integer(0, 65535),
  tcpHost: optionalString,
  tlsCert: optionalString,
  tlsKey: optionalString,
  tlsCa: optionalString,
  tlsRequireClientCert: boolean,
  upstreamCa: optionalString,
  upstreamCert: optionalString,
  upstreamKey: optionalString,
  upstreamServername: optionalString,
  upstreamProxyProtocol: oneOf(['off', 'v1', 'v2']),
  requireSubprotocol: boolean,
  perMessageDeflate: boolean,
  allowedOrigins: originList,
  allowMissingOrigin: boolean,
  trustedProxies: cidrList,
  clientAddressHeader: oneOf(CLIENT_ADDRESS_HEADERS),
  maxConnectionsPerIp: integer(0, 1_000_000),
  connectRatePerIp: integer(0, 1_000_000),
  connectBurstPerIp: integer(1, 1_000_000),
  // MQTT's own ceiling is 268,435,455 bytes (a 4-byte remaining length).
  maxMessageSize: integer(16, 268_435_460),
  maxMessageSizeBeforeConnack: integer(16, 268_435_460),
  maxConnections: integer(1, 1_000_000),
  maxPendingUpgrades: integer(1, 1_000_000),
  handshakeTimeout: integer(100, 600_000),
  maxHeaderSize: integer(1024, 1024 * 1024),
  upstreamConnectTimeout: integer(1, 600_000),
  firstPacketTimeout: integer(1, 600_000),
  connackTimeout: integer(1, 600_000),
  closeTimeout: integer(1, 600_000),
  shutdownPeriod: integer(0, 3_600_000),
  workers: workerCount,
  drainTimeout: integer(1, 3_600_000),
  wsPingIdle: integer(0, 86_400),
  // Not below Node's own 16 KiB mark, so a write over ours always ends in 'drain'.
  highWaterMark: integer(16 * 1024, 1024 * 1024 * 1024),
  brokerQueueLimit: integer(1, 1_000_000),
  brokerKeepaliveLimit: integer(0, 65535),
  brokerMaxQueued: integer(0, 100_000_000),
  logLevel,
  adminHost: nonEmptyString,
  adminPort: integer(0, 65535),
  jwtSecret: hmacSecret,
  jwtPublicKey: optionalString,
  jwtJwks: optionalString,
  jwtAudience: optionalString,
  jwtIssuer: optionalString,
  jwtCookie: cookieName,
  jwtClientIdClaim: optionalString,
  jwtUsernameClaim: optionalString,
  jwtClockTolerance: integer(0, 300),
  jwtAllowNoExp: boolean,
  // issue 14: fleet
  acceptProxyProtocol: boolean,
  shutdownDelay: integer(0, 3_600_000),
  instanceId: instanceName
}

/** Checks between options, after each one has passed its own. */
function checkTogether (options: GatewayOptions): void {
  // The admin endpoints must never be reachable through the public port.
  if (options.adminPort !== 0 && options.adminPort === options.port) {
    throw new InvalidOptionError('adminPort', `must differ from port (${options.port}): the admin listener is never on the public port`)
  }
}

/** Options that only make sense together. */
function checkCombinations (o: GatewayOptions): void {
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) {
    throw new InvalidOptionError(o.tlsCert === undefined ? 'tlsCert' : 'tlsKey', 'must be given together with ' + (o.tlsCert === undefined ? 'tlsKey' : 'tlsCert'))
  }
  if (o.tlsCa !== undefined && o.tlsCert === undefined) throw new InvalidOptionError('tlsCa', 'needs tlsCert and tlsKey')
  if (o.tlsRequireClientCert && o.tlsCa === undefined) throw new InvalidOptionError('tlsRequireClientCert', 'needs tlsCa')
  if ((o.upstreamCert === undefined) !== (o.upstreamKey === undefined)) {
    throw new InvalidOptionError(o.upstreamCert === undefined ? 'upstreamCert' : 'upstreamKey', 'must be given together with ' + (o.upstreamCert === undefined ? 'upstreamKey' : 'upstreamCert'))
  }
  const secureUpstream = o.upstream !== undefined && /^(mqtts|ssl|tls):/i.test(o.upstream.trim())
  for (const name of ['upstreamCa', 'upstreamCert', 'upstreamServername'] as const) {
    if (o[name] !== undefined && !secureUpstream) throw new InvalidOptionError(name, 'applies only to an mqtts:// upstream')
  }
  // Sessions, subscriptions and retained messages live in one broker's memory:
  // a broker per worker would be N brokers that never see each other's clients.
  if (o.workers !== 1 && o.upstream === undefined) {
    throw new InvalidOptionError('workers', 'needs --upstream: the embedded broker cannot be split across worker processes; run the broker separately (e.g. Mosquitto) and give --upstream mqtt://host:port')
  }
  checkJwtCombinations(o)
  checkFleetCombinations(o)
}

/** The token check: one key source at most; its refinements need one. */
function checkJwtCombinations (o: GatewayOptions): void {
  const sources = (['jwtSecret', 'jwtPublicKey', 'jwtJwks'] as const).filter((name) => o[name] !== undefined)
  if (sources.length > 1) throw new InvalidOptionError(sources[1] as string, `cannot be combined with ${sources[0] as string}: give one of jwtSecret, jwtPublicKey, jwtJwks`)
  if (sources.length === 1) return
  for (const name of ['jwtAudience', 'jwtIssuer', 'jwtCookie', 'jwtClientIdClaim', 'jwtUsernameClaim'] as const) {
    if (o[name] !== undefined) throw new InvalidOptionError(name, 'needs jwtSecret, jwtPublicKey or jwtJwks')
  }
  if (o.jwtAllowNoExp) throw new InvalidOptionError('jwtAllowNoExp', 'needs jwtSecret, jwtPublicKey or jwtJwks')
}

/** Names of every option, for the CLI, env and config-file readers. */
export const optionNames = Object.keys(checks) as (keyof GatewayOptions)[]

/**
 * Merges user options over the defaults and validates each one.
 * Unknown option names are an error: a typo must not silently fall back to a default.
 */
export function resolveOptions (input: Partial<GatewayOptions> = {}): ResolvedOptions {
  for (const name of Object.keys(input)) {
    if (!Object.hasOwn(checks, name)) throw new InvalidOptionError(name, 'is not a known option')
  }
  // A config file may list several brokers as an array.
  if (Array.isArray(input.upstream)) input = { ...input, upstream: (input.upstream as unknown[]).join(',') }
  const merged: GatewayOptions = { ...defaultOptions, paths: [...defaultOptions.paths] }
  for (const [name, value] of Object.entries(input)) {
    if (value !== undefined) (merged as unknown as Record<string, unknown>)[name] = value
  }
  for (const name of optionNames) checks[name](name, merged[name])
  checkCombinations(merged)
  checkTogether(merged)
  merged.paths = Object.freeze([...new Set(merged.paths)]) as string[]
  merged.allowedOrigins = Object.freeze([...merged.allowedOrigins]) as string[]
  merged.trustedProxies = Object.freeze([...merged.trustedProxies]) as string[]
  return Object.freeze(merged)
}

/** Options whose values are secret: masked wherever options are printed or logged. */
const SECRET_OPTIONS: ReadonlySet<string> = new Set(['jwtSecret'])

function mask (name: string, value: unknown): unknown {
  return SECRET_OPTIONS.has(name) && value !== undefined ? '***' : value
}

/** Every option, secrets masked: for --print-config. */
export function maskedOptions (options: ResolvedOptions): Record<string, unknown> {
  return Object.fromEntries(optionNames.map((name) => [name, mask(name, options[name])]))
}

/** The options that differ from the defaults, secrets masked: for the start-up log line. */
export function changedOptions (options: ResolvedOptions): Record<string, unknown> {
  const changed: Record<string, unknown> = {}
  for (const name of optionNames) {
    if (JSON.stringify(options[name]) !== JSON.stringify(defaultOptions[name])) changed[name] = mask(name, options[name])
  }
  return changed
}

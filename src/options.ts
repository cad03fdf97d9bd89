/**
 * Gateway options: derived from one schema (options/schema.ts), validated
 * once at the edge.
 *
 * Every entry point (library, CLI flags, environment, JSON config file) ends
 * in `resolveOptions()`, which fails fast with an `InvalidOptionError` naming
 * the option. The rest of the code trusts the frozen result.
 */
import { InvalidOptionError } from './errors.js'
import { optionSchema } from './options/schema.js'
import type { OptionSpec } from './options/spec.js'

export type { LogLevel } from './options/checks.js'
export { upstreamList } from './options/checks.js'

type OptionSchema = typeof optionSchema
type ValueOf<S> = S extends OptionSpec<infer T> ? T : never

/** Every option with its type, as the schema says: nothing here to keep in step with it. */
export type GatewayOptions = { -readonly [K in keyof OptionSchema]: ValueOf<OptionSchema[K]> }

type OptionName = keyof GatewayOptions

/** Names of every option, in the schema's order, for the CLI, env and config-file readers. */
export const optionNames = Object.keys(optionSchema) as OptionName[]

export const defaultOptions: Readonly<GatewayOptions> = Object.freeze(
  Object.fromEntries(optionNames.map((name) => [name, optionSchema[name].default])) as GatewayOptions
)

/** Frozen, validated options. */
export type ResolvedOptions = Readonly<GatewayOptions> & { readonly paths: readonly string[] }

/**
 * Checks between options, after each one has passed its own: the one place
 * for an option that needs, or excludes, another. The first that fails
 * names the option to change.
 */
function checkCombinations (o: GatewayOptions): void {
  checkTlsCombinations(o)
  checkWorkers(o)
  checkJwtCombinations(o)
  checkAdminPort(o)
  checkFleet(o)
}

/** Certificates and keys come in pairs; client certificates need a CA; upstream TLS needs mqtts://. */
function checkTlsCombinations (o: GatewayOptions): void {
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
}

/**
 * Sessions, subscriptions and retained messages live in one broker's memory:
 * a broker per worker would be N brokers that never see each other's clients.
 */
function checkWorkers (o: GatewayOptions): void {
  if (o.workers !== 1 && o.upstream === undefined) {
    throw new InvalidOptionError('workers', 'needs --upstream: the embedded broker cannot be split across worker processes; run the broker separately (e.g. Mosquitto) and give --upstream mqtt://host:port')
  }
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

/** The admin endpoints must never be reachable through the public port. */
function checkAdminPort (o: GatewayOptions): void {
  if (o.adminPort !== 0 && o.adminPort === o.port) {
    throw new InvalidOptionError('adminPort', `must differ from port (${o.port}): the admin listener is never on the public port`)
  }
}

/** Reading PROXY headers needs to know whose to read. */
function checkFleet (o: GatewayOptions): void {
  if (o.acceptProxyProtocol && o.trustedProxies.length === 0) {
    throw new InvalidOptionError('acceptProxyProtocol', 'needs --trusted-proxies: the addresses of the load balancers that send the header')
  }
}

/**
 * Merges user options over the defaults and validates each one.
 * Unknown option names are an error: a typo must not silently fall back to a default.
 */
export function resolveOptions (input: Partial<GatewayOptions> = {}): ResolvedOptions {
  for (const name of Object.keys(input)) {
    if (!Object.hasOwn(optionSchema, name)) throw new InvalidOptionError(name, 'is not a known option')
  }
  const options = overDefaults(input)
  for (const name of optionNames) optionSchema[name].check(name, options[name])
  checkCombinations(options)
  freezeLists(options)
  return Object.freeze(options)
}

/** The defaults with every value `input` gives in their place. */
function overDefaults (input: Partial<GatewayOptions>): GatewayOptions {
  const merged: Record<string, unknown> = { ...defaultOptions }
  for (const [name, value] of Object.entries(input)) {
    // A config file may give a repeatable string (several brokers) as an array.
    if (value !== undefined) merged[name] = optionSchema[name as OptionName].repeatable && Array.isArray(value) ? value.join(',') : value
  }
  return merged as GatewayOptions
}

/** Frozen copies of the lists: the caller's arrays stay the caller's, and cannot change ours. */
function freezeLists (options: GatewayOptions): void {
  const lists = options as unknown as Record<string, string[]>
  for (const name of optionNames) {
    const { kind, unique } = optionSchema[name]
    if (kind === 'list') lists[name] = Object.freeze(unique ? [...new Set(lists[name])] : [...lists[name] ?? []]) as string[]
  }
}

/** A secret option's value (its schema entry says `secret`), masked wherever options are printed or logged. */
function mask (name: OptionName, value: unknown): unknown {
  const unset = value === undefined || (Array.isArray(value) && value.length === 0)
  return optionSchema[name].secret && !unset ? '***' : value
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

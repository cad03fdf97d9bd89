/**
 * Which connections a trace follows: by connection id, MQTT client id
 * (exact or prefix), client address or CIDR, or topic filter. A connection
 * is traced when any one criterion matches (criteria are OR'ed), at the
 * moment the fact becomes known: the address when the connection opens, the
 * client id at its CONNECT, a topic at the first PUBLISH or SUBSCRIBE that
 * matches.
 *
 * Topic criteria are MQTT topic filters (`+` one level, `#` the rest). A
 * PUBLISH matches when its topic matches the filter; a SUBSCRIBE matches when
 * one of its filters overlaps it (some topic matches both), so a trace of
 * `plant/+/temp` follows a client subscribing to `plant/#`.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net'
import { TraceRequestError } from '../errors.js'

export interface TraceFilterSpec {
  connections: number[]
  clients: string[]
  clientPrefixes: string[]
  addresses: string[]
  topics: string[]
}

/** Query parameter of each criterion, repeatable: `?client=a&client=b`. */
export const FILTER_PARAMS = {
  connections: 'conn',
  clients: 'client',
  clientPrefixes: 'clientPrefix',
  addresses: 'ip',
  topics: 'topic'
} as const satisfies Record<keyof TraceFilterSpec, string>

/** Bounds what one request can make every connection's check cost. */
const MAX_CRITERIA = 32
const MAX_TOPIC_LENGTH = 1024

/** Reads and checks a filter from query parameters; throws TraceRequestError. */
export function parseFilter (params: URLSearchParams): TraceFilterSpec {
  const spec: TraceFilterSpec = {
    connections: params.getAll(FILTER_PARAMS.connections).map(connectionId),
    clients: params.getAll(FILTER_PARAMS.clients).map((v) => nonEmpty(FILTER_PARAMS.clients, v)),
    clientPrefixes: params.getAll(FILTER_PARAMS.clientPrefixes).map((v) => nonEmpty(FILTER_PARAMS.clientPrefixes, v)),
    addresses: params.getAll(FILTER_PARAMS.addresses).map(addressOrCidr),
    topics: params.getAll(FILTER_PARAMS.topics).map(topicFilter)
  }
  const count = Object.values(spec).reduce((n, list: unknown[]) => n + list.length, 0)
  if (count === 0) throw new TraceRequestError('MWG_ERR_TRACE_FILTER', 'name what to trace: conn, client, clientPrefix, ip or topic')
  if (count > MAX_CRITERIA) throw new TraceRequestError('MWG_ERR_TRACE_FILTER', `at most ${MAX_CRITERIA} criteria per trace`)
  return spec
}

/** The filter as query parameters (what the CLI sends). */
export function filterParams (spec: TraceFilterSpec): URLSearchParams {
  const params = new URLSearchParams()
  for (const key of Object.keys(FILTER_PARAMS) as (keyof TraceFilterSpec)[]) {
    for (const value of spec[key]) params.append(FILTER_PARAMS[key], String(value))
  }
  return params
}

/** One line naming the filter, for logs and headers: `client sensor-1, ip 10.0.0.0/8`. */
export function describeFilter (spec: TraceFilterSpec): string {
  const parts: string[] = []
  for (const id of spec.connections) parts.push(`connection #${id}`)
  for (const id of spec.clients) parts.push(`client ${JSON.stringify(id)}`)
  for (const prefix of spec.clientPrefixes) parts.push(`client prefix ${JSON.stringify(prefix)}`)
  for (const address of spec.addresses) parts.push(`ip ${address}`)
  for (const topic of spec.topics) parts.push(`topic ${JSON.stringify(topic)}`)
  return parts.join(', ')
}

function connectionId (value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new TraceRequestError('MWG_ERR_TRACE_FILTER', `conn must be a connection number, got ${JSON.stringify(value)}`)
  return n
}

function nonEmpty (name: string, value: string): string {
  if (value === '' || value.length > 65_535) throw new TraceRequestError('MWG_ERR_TRACE_FILTER', `${name} must be 1 to 65535 characters`)
  return value
}

function addressOrCidr (value: string): string {
  const [address = '', bits, extra] = value.split('/')
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0
  const max = family === 4 ? 32 : 128
  const ok = family !== 0 && extra === undefined && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max))
  if (!ok) throw new TraceRequestError('MWG_ERR_TRACE_FILTER', `ip must be an address or CIDR such as 10.0.0.0/8, got ${JSON.stringify(value)}`)
  return value
}

/** A valid MQTT topic filter [MQTT-4.7.1]: `#` alone and last, `+` a whole level. */
function topicFilter (value: string): string {
  if (value === '' || value.length > MAX_TOPIC_LENGTH || value.includes('\u0000')) {
    throw new TraceRequestError('MWG_ERR_TRACE_FILTER', `topic must be 1 to ${MAX_TOPIC_LENGTH} characters`)
  }
  const levels = value.split('/')
  levels.forEach((level, i) => {
    const bad = (level.includes('#') && (level !== '#' || i !== levels.length - 1)) || (level.includes('+') && level !== '+')
    if (bad) throw new TraceRequestError('MWG_ERR_TRACE_FILTER', `topic ${JSON.stringify(value)} is not a valid MQTT topic filter`)
  })
  return value
}

/** A filter, compiled for the checks made on each connection. */
export class TraceFilter {
  readonly spec: TraceFilterSpec
  private readonly connections: ReadonlySet<number>
  private readonly clients: ReadonlySet<string>
  private readonly addresses: BlockList | undefined
  private readonly topics: readonly string[][]

  constructor (spec: TraceFilterSpec) {
    this.spec = spec
    this.connections = new Set(spec.connections)
    this.clients = new Set(spec.clients)
    this.addresses = spec.addresses.length === 0 ? undefined : blockList(spec.addresses)
    this.topics = spec.topics.map((t) => t.split('/'))
  }

  /** True when topics must be looked for: the only criterion that needs every connection's packets. */
  get byTopic (): boolean {
    return this.topics.length > 0
  }

  /** What, known when the connection opens, selects it: `connection #7`, `ip 10.0.0.0/8`; undefined: nothing. */
  matchesOpen (connectionId: number, address: string): string | undefined {
    if (this.connections.has(connectionId)) return `connection #${connectionId}`
    if (this.addresses === undefined || !addressMatches(this.addresses, address)) return undefined
    return `ip ${this.spec.addresses.find((a) => addressMatches(blockList([a]), address)) ?? address}`
  }

  /** What in the client id selects the connection: `client "a"`, `client prefix "s-"`; undefined: nothing. */
  matchesClientId (clientId: string | undefined): string | undefined {
    if (clientId === undefined) return undefined
    if (this.clients.has(clientId)) return `client ${JSON.stringify(clientId)}`
    const prefix = this.spec.clientPrefixes.find((p) => clientId.startsWith(p))
    return prefix === undefined ? undefined : `client prefix ${JSON.stringify(prefix)}`
  }

  /** A PUBLISH topic, either way. */
  matchesTopic (topic: string): boolean {
    const levels = topic.split('/')
    return this.topics.some((filter) => topicMatches(filter, levels))
  }

  /** A SUBSCRIBE filter. */
  overlapsFilter (filter: string): boolean {
    const levels = withoutShareGroup(filter).split('/')
    return this.topics.some((traced) => filtersOverlap(traced, levels))
  }
}

function blockList (entries: readonly string[]): BlockList {
  const list = new BlockList()
  for (const entry of entries) {
    const [address = '', bits] = entry.split('/')
    const type = isIPv4(address) ? 'ipv4' : 'ipv6'
    if (bits === undefined) list.addAddress(address, type)
    else list.addSubnet(address, Number(bits), type)
  }
  return list
}

function addressMatches (list: BlockList, address: string): boolean {
  // An IPv4 client on a dual-stack listener shows as ::ffff:a.b.c.d.
  const plain = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address
  if (isIPv4(plain)) return list.check(plain, 'ipv4')
  return isIPv6(plain) && list.check(plain, 'ipv6')
}

/** `$share/group/filter` subscribes to `filter` [MQTT 5 §4.8.2]. */
function withoutShareGroup (filter: string): string {
  if (!filter.startsWith('$share/')) return filter
  const slash = filter.indexOf('/', 7)
  return slash < 0 ? filter : filter.slice(slash + 1)
}

/**
 * Whether a topic (levels) matches a filter (levels) [MQTT-4.7]. A topic
 * starting with `$` is not matched by a filter starting with a wildcard
 * [MQTT-4.7.2-1].
 */
export function topicMatches (filter: readonly string[], topic: readonly string[]): boolean {
  if ((topic[0] ?? '').startsWith('$') && (filter[0] === '+' || filter[0] === '#')) return false
  for (let i = 0; i < filter.length; i++) {
    const level = filter[i]
    if (level === '#') return true
    if (i >= topic.length) return false
    if (level !== '+' && level !== topic[i]) return false
  }
  return filter.length === topic.length
}

/** Whether some topic matches both filters. `a/#` also matches `a` [MQTT-4.7.1-2]. */
export function filtersOverlap (a: readonly string[], b: readonly string[]): boolean {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a[i]
    const y = b[i]
    if (x === '#' || y === '#') return true
    if (x !== '+' && y !== '+' && x !== y) return false
  }
  if (a.length === b.length) return true
  const longer = a.length > b.length ? a : b
  return longer.length === n + 1 && longer[n] === '#'
}

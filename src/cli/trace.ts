/**
 * `mqtt-ws-gateway trace`: follow connections of a running gateway through
 * its admin listener, one line per event (NDJSON with --json), until the
 * trace's duration ends or Ctrl-C. Also --detach (a trace into the gateway's
 * --trace-file that outlives this command), --list and --stop.
 *
 * The admin token comes from MQTT_WS_GATEWAY_ADMIN_TOKEN, the gateway's own
 * variable (never a flag: a flag shows in `ps`), and the admin address by
 * default from its MQTT_WS_GATEWAY_ADMIN_HOST and _PORT: in the gateway's
 * container or shell, `mqtt-ws-gateway trace --client x` finds it as is.
 */
import { parseArgs } from 'node:util'
import { UsageError } from '../errors.js'
import { filterParams } from '../trace/filters.js'
import type { TraceFilterSpec } from '../trace/filters.js'
import { LineFormatter } from '../trace/format.js'

export const traceUsage = `Usage: mqtt-ws-gateway trace <criteria> [options]   follow connections of a running gateway

Criteria (repeatable; a connection any of them selects is traced):
  --client <id>           MQTT client id, exact
  --client-prefix <text>  client ids that start with <text>
  --ip <address|cidr>     client address, or a network such as 10.0.0.0/8
  --topic <filter>        connections that publish, subscribe or receive on topics matching an MQTT filter (a/+/c, a/#)
  --conn <n>              one connection, by the number in the logs and on the status page
Options:
  --admin <url>           the gateway's admin listener (default: from MQTT_WS_GATEWAY_ADMIN_HOST and _PORT, else http://127.0.0.1:8090)
  --json                  NDJSON: one event per line, as the gateway sends it
  --payload               show the first bytes of each PUBLISH payload (UTF-8 or hex); --payload-bytes <n> (default 64, at most 1024)
  --duration <time>       stop after 90s, 10m, 2h… (default 10m; the gateway caps it at --trace-max-duration)
  --no-color              no colours, even on a terminal (also NO_COLOR=1)
  --detach                leave the trace running in the gateway, into its --trace-file; prints the trace id
  --list                  list the traces running
  --stop <id>             stop a trace
Passwords and tokens are never shown. The admin token, if the gateway has one, is read from
MQTT_WS_GATEWAY_ADMIN_TOKEN (name:secret or secret).`

interface TraceCommand {
  admin: URL
  token: string | undefined
  spec: TraceFilterSpec
  json: boolean
  payloadBytes: number
  durationS: number
  colour: boolean
  action: 'stream' | 'detach' | 'list' | 'stop'
  stopId: string | undefined
}

export async function trace (argv: string[]): Promise<number> {
  let command: TraceCommand | 'help'
  try {
    command = parseCommand(argv, process.env)
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof TypeError)) throw err
    console.error(`mqtt-ws-gateway trace: ${err.message}\n\n${traceUsage}`)
    return 2
  }
  if (command === 'help') {
    console.log(traceUsage)
    return 0
  }
  try {
    switch (command.action) {
      case 'list': return await list(command)
      case 'stop': return await stop(command)
      case 'detach': return await detach(command)
      default: return await stream(command)
    }
  } catch (err) {
    console.error(`mqtt-ws-gateway trace: ${describeFetchError(err, command.admin)}`)
    return 1
  }
}

function parseCommand (argv: string[], env: NodeJS.ProcessEnv): TraceCommand | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      client: { type: 'string', multiple: true },
      'client-prefix': { type: 'string', multiple: true },
      ip: { type: 'string', multiple: true },
      topic: { type: 'string', multiple: true },
      conn: { type: 'string', multiple: true },
      admin: { type: 'string' },
      json: { type: 'boolean' },
      payload: { type: 'boolean' },
      'payload-bytes': { type: 'string' },
      duration: { type: 'string' },
      'no-color': { type: 'boolean' },
      detach: { type: 'boolean' },
      list: { type: 'boolean' },
      stop: { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) return 'help'
  const spec: TraceFilterSpec = {
    connections: (values.conn ?? []).map((c) => wholeNumber('--conn', c)),
    clients: values.client ?? [],
    clientPrefixes: values['client-prefix'] ?? [],
    addresses: values.ip ?? [],
    topics: values.topic ?? []
  }
  const action = values.list === true ? 'list' : values.stop !== undefined ? 'stop' : values.detach === true ? 'detach' : 'stream'
  const criteria = Object.values(spec).reduce((n, list: unknown[]) => n + list.length, 0)
  if ((action === 'stream' || action === 'detach') && criteria === 0) throw new UsageError('name what to trace: --client, --client-prefix, --ip, --topic or --conn')
  const payloadBytes = values.payload === true || values['payload-bytes'] !== undefined ? wholeNumber('--payload-bytes', values['payload-bytes'] ?? '64') : 0
  return {
    admin: adminUrl(values.admin ?? defaultAdmin(env)),
    token: firstToken(env.MQTT_WS_GATEWAY_ADMIN_TOKEN),
    spec,
    json: values.json === true,
    payloadBytes,
    durationS: values.duration === undefined ? 600 : parseDuration(values.duration),
    colour: values['no-color'] !== true && env.NO_COLOR === undefined && process.stdout.isTTY,
    action,
    stopId: values.stop
  }
}

function wholeNumber (flag: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} must be a whole number, got ${JSON.stringify(text)}`)
  return Number(text)
}

/** `90`, `90s`, `10m`, `2h`, `1d` → seconds. */
export function parseDuration (text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim())
  if (match === null) throw new UsageError(`--duration must be a time such as 90s, 10m or 2h, got ${JSON.stringify(text)}`)
  const n = Number(match[1])
  const unit = match[2] ?? 's'
  const seconds = unit === 'ms' ? Math.ceil(n / 1000) : n * { s: 1, m: 60, h: 3600, d: 86_400 }[unit as 's' | 'm' | 'h' | 'd']
  if (seconds < 1) throw new UsageError('--duration must be at least 1 s')
  return seconds
}

function adminUrl (text: string): URL {
  let url: URL
  try {
    url = new URL(/^https?:\/\//i.test(text) ? text : `http://${text}`)
  } catch {
    throw new UsageError(`--admin must be a URL such as http://127.0.0.1:8090, got ${JSON.stringify(text)}`)
  }
  return url
}

/**
 * The gateway's own admin address, read from its variables when they are set
 * (as in its container): a listener on every address is reached on loopback.
 */
function defaultAdmin (env: NodeJS.ProcessEnv): string {
  const host = env.MQTT_WS_GATEWAY_ADMIN_HOST ?? '127.0.0.1'
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  return `http://${reachable}:${env.MQTT_WS_GATEWAY_ADMIN_PORT ?? '8090'}`
}

/** The secret of the first token of the gateway's variable (`name:secret,…` or `secret`). */
function firstToken (value: string | undefined): string | undefined {
  const first = value?.split(',')[0]?.trim()
  if (first === undefined || first === '') return undefined
  const colon = first.indexOf(':')
  return colon < 0 ? first : first.slice(colon + 1)
}

function endpoint (command: TraceCommand, path: string, params?: URLSearchParams): URL {
  const url = new URL(path.replace(/^\//, ''), command.admin.href.endsWith('/') ? command.admin : `${command.admin.href}/`)
  if (params !== undefined) url.search = params.toString()
  return url
}

function headers (command: TraceCommand): Record<string, string> {
  return command.token === undefined ? {} : { Authorization: `Bearer ${command.token}` }
}

function traceParams (command: TraceCommand): URLSearchParams {
  const params = filterParams(command.spec)
  params.set('duration', String(command.durationS))
  if (command.payloadBytes > 0) params.set('payload', String(command.payloadBytes))
  return params
}

/** The gateway's refusal, in one line. */
async function refusal (res: Response): Promise<string> {
  const text = await res.text()
  try {
    const body = JSON.parse(text) as { message?: string, error?: string }
    return `${res.status}: ${body.message ?? text} (${body.error ?? ''})`
  } catch {
    return `${res.status}: ${text.trim()}`
  }
}

async function stream (command: TraceCommand): Promise<number> {
  const abort = new AbortController()
  const stopOnSignal = (): void => abort.abort()
  process.once('SIGINT', stopOnSignal)
  process.once('SIGTERM', stopOnSignal)
  try {
    const res = await fetch(endpoint(command, '/api/trace', traceParams(command)), { headers: headers(command), signal: abort.signal })
    if (res.status !== 200 || res.body === null) {
      console.error(`mqtt-ws-gateway trace: refused, ${await refusal(res)}`)
      return 1
    }
    if (!command.json) console.error(`tracing through ${command.admin.origin} (trace ${res.headers.get('x-trace-id') ?? '?'}; Ctrl-C to stop)`)
    return await printEvents(res.body, command, abort.signal)
  } catch (err) {
    if (abort.signal.aborted) return 0
    throw err
  } finally {
    process.removeListener('SIGINT', stopOnSignal)
    process.removeListener('SIGTERM', stopOnSignal)
  }
}

/** Prints each line as it arrives; 0 once the trace's end event came, 1 if the stream broke off before. */
async function printEvents (body: ReadableStream<Uint8Array>, command: TraceCommand, signal: AbortSignal): Promise<number> {
  const formatter = new LineFormatter(command.colour)
  const decoder = new TextDecoder()
  let rest = ''
  let ended = false
  try {
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      const lines = (rest + decoder.decode(chunk, { stream: true })).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        if (line === '') continue
        const event = JSON.parse(line) as Record<string, unknown>
        if (event.type === 'trace_end') ended = true
        await print(command.json ? line : formatter.format(event))
      }
    }
  } catch (err) {
    if (signal.aborted) return 0
    throw err
  }
  if (ended) return 0
  console.error('mqtt-ws-gateway trace: the gateway closed the stream before the trace ended')
  return 1
}

/** Writes a line, waiting when stdout is full (a pager), so a fast trace cannot fill this process's memory. */
async function print (line: string): Promise<void> {
  if (process.stdout.write(`${line}\n`)) return
  await new Promise<void>((resolve) => process.stdout.once('drain', resolve))
}

async function detach (command: TraceCommand): Promise<number> {
  const res = await fetch(endpoint(command, '/api/traces', traceParams(command)), { method: 'POST', headers: headers(command) })
  if (res.status !== 201) {
    console.error(`mqtt-ws-gateway trace: refused, ${await refusal(res)}`)
    return 1
  }
  const body = await res.json() as { id: number, filter: string, endsAt: string, file: string }
  console.log(`trace ${body.id} (${body.filter}) runs until ${body.endsAt}, into ${body.file}; stop it with: mqtt-ws-gateway trace --stop ${body.id}`)
  return 0
}

async function list (command: TraceCommand): Promise<number> {
  const res = await fetch(endpoint(command, '/api/traces'), { headers: headers(command) })
  if (res.status !== 200) {
    console.error(`mqtt-ws-gateway trace: refused, ${await refusal(res)}`)
    return 1
  }
  const body = await res.json() as { traces: { id: number, filter: string, endsAt: string, events: number, connections: number[], detached: boolean, by: { address: string, token?: string } }[] }
  if (command.json) {
    console.log(JSON.stringify(body))
    return 0
  }
  if (body.traces.length === 0) console.log('no trace running')
  for (const t of body.traces) {
    console.log(`trace ${t.id}: ${t.filter}; ${t.events} events, ${t.connections.length} connections now; until ${t.endsAt}${t.detached ? ', detached (file)' : ''}; started by ${t.by.address}${t.by.token === undefined ? '' : ` (token ${t.by.token})`}`)
  }
  return 0
}

async function stop (command: TraceCommand): Promise<number> {
  const res = await fetch(endpoint(command, `/api/traces/${encodeURIComponent(command.stopId ?? '')}`), { method: 'DELETE', headers: headers(command) })
  if (res.status !== 204) {
    console.error(`mqtt-ws-gateway trace: ${await refusal(res)}`)
    return 1
  }
  console.log(`trace ${command.stopId ?? ''} stopped`)
  return 0
}

function describeFetchError (err: unknown, admin: URL): string {
  const cause = (err as { cause?: { code?: string } }).cause
  if (cause?.code === 'ECONNREFUSED') return `cannot reach the admin listener at ${admin.origin} (connection refused): is the gateway running, with this --admin-port?`
  return `${admin.origin}: ${cause?.code ?? (err as Error).message}`
}

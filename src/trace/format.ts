/**
 * Trace events as one human-readable line each, for the CLI (with time and
 * colour) and the status page (the server adds the text to each event it
 * streams there, so both read the same words).
 */

type Loose = Record<string, unknown>

export const DIRECTION_LABELS: Readonly<Record<string, string>> = {
  'client->broker': 'C→B',
  'broker->client': 'B→C',
  'client->gateway': 'C→G',
  'gateway->client': 'G→C',
  gateway: 'GW '
}

/** What happened, in words (no time, no connection). */
export function describeEvent (e: Loose): string {
  const describe = DESCRIBERS[String(e.type)]
  return describe === undefined ? String(e.type) : describe(e)
}

const DESCRIBERS: Readonly<Record<string, (e: Loose) => string>> = {
  trace_start: (e) => `trace ${num(e.trace)} started: ${str(e.filter)}; payloads ${num(e.payloadBytes) > 0 ? `first ${num(e.payloadBytes)} B` : 'size only'}; stops after ${seconds(num(e.durationMs))}`,
  trace_end: (e) => `trace ${num(e.trace)} ended (${str(e.reason)}): ${num(e.events)} events, ${num(e.connections)} connections traced` +
    (num(e.skipped) > 0 ? `, ${num(e.skipped)} matching connections not traced (limit)` : ''),
  open: describeOpen,
  attached: (e) => `trace attached to a live connection (matched ${str(e.matched)}): from ${str(e.remote)}, up ${seconds(num(e.ageMs))}, ` +
    `${bytes(num(e.bytesFromClient))} / ${num(e.packetsFromClient)} packets from the client, ${bytes(num(e.bytesToClient))} / ${num(e.packetsToClient)} to it` +
    (e.broker === undefined || e.broker === null ? '' : `, broker ${str(e.broker)}`),
  upstream: (e) => `broker ${str(e.broker)} chosen by client id, connected in ${ms(e.connectMs)}`,
  packet: describePacket,
  ws: describeControl,
  backpressure: (e) => e.paused === true
    ? `${str(e.slowSide)} is slow: ${e.slowSide === 'client' ? 'broker and client' : 'client'} no longer read (buffered ${bytes(num(e.bufferedToClient))} to the client, ${bytes(num(e.bufferedToBroker))} to the broker)`
    : `${str(e.slowSide)} drained: reading again (buffered ${bytes(num(e.bufferedToClient))} to the client, ${bytes(num(e.bufferedToBroker))} to the broker)`,
  takeover: (e) => e.by !== undefined
    ? `client id ${q(e.client)} connected again on #${num(e.by)}: this connection is taken over`
    : `takes over client id ${q(e.client)} from #${num(e.replaces)}`,
  close: describeClose,
  limit: (e) => str(e.detail),
  dropped: (e) => `${num(e.count)} events dropped: the viewer did not keep up (${num(e.total)} in all)`,
  cut_off: (e) => str(e.detail),
  error: (e) => `trace error: ${str(e.detail)}`
}

function describeOpen (e: Loose): string {
  const parts = [`WebSocket open ${str(e.path)} subprotocol ${e.subprotocol === undefined ? 'none' : str(e.subprotocol)} from ${str(e.remote)}`]
  if (e.peer !== undefined) parts.push(`(address from ${str(e.addressFrom)} of proxy ${str(e.peer)})`)
  if (e.origin !== undefined) parts.push(`origin ${str(e.origin)}`)
  parts.push(`handshake ${ms(e.handshakeMs)}`)
  if (e.broker !== undefined) parts.push(`broker ${str(e.broker)} connected in ${ms(e.upstreamConnectMs)}`)
  else parts.push('broker chosen after CONNECT')
  const token = e.token as Loose | undefined
  if (token !== undefined) {
    const claims = [token.clientId === undefined ? '' : `client id ${q(token.clientId)}`, token.username === undefined ? '' : `username ${q(token.username)}`,
      token.expiresAt === undefined ? 'no expiry' : `expires ${String(token.expiresAt)}`].filter((s) => s !== '')
    parts.push(`token: ${claims.join(', ')}`)
  }
  return parts.join(', ')
}

function describePacket (e: Loose): string {
  const words = [str(e.packet)]
  const add = (s: string | undefined): void => { if (s !== undefined && s !== '') words.push(s) }
  switch (e.packet) {
    case 'CONNECT': add(connectWords(e)); break
    case 'CONNACK': add(`${codeWords(e)}${e.sessionPresent === true ? ' session present' : ''}`); break
    case 'PUBLISH': add(publishWords(e)); break
    case 'SUBSCRIBE': add(`id ${num(e.id)} ${(e.subscriptions as Loose[] | undefined ?? []).map((s) => `${q(s.topic)} q${num(s.qos)}`).join(', ')}`); break
    case 'SUBACK': add(`id ${num(e.id)} ${(e.granted as Loose[] | undefined ?? []).map((g) => str(g.name)).join(', ')}`); break
    case 'UNSUBSCRIBE': add(`id ${num(e.id)} ${(e.unsubscriptions as unknown[] | undefined ?? []).map(q).join(', ')}`); break
    default:
      if (e.id !== undefined) add(`id ${num(e.id)}`)
      if (e.code !== undefined) add(codeWords(e))
  }
  if (e.properties !== undefined) add(`properties ${JSON.stringify(e.properties)}`)
  if (e.undecoded !== undefined) add(`(not decoded: ${str(e.undecoded)})`)
  add(`(${bytes(num(e.size))})`)
  return words.join(' ')
}

function connectWords (e: Loose): string {
  const words = [`v${num(e.version)}`, `client id ${q(e.clientId)}`, `keep-alive ${num(e.keepalive)} s`, e.clean === true ? 'clean' : 'persistent session']
  if (e.username !== undefined) words.push(`username ${q(e.username)}`)
  if (e.password !== undefined) words.push(`password ${str(e.password)}`)
  const will = e.will as Loose | undefined
  if (will !== undefined) words.push(`will ${q(will.topic)} q${num(will.qos)}${will.retain === true ? ' retain' : ''} ${bytes(num(will.payloadSize))}`)
  return words.join(' ')
}

function publishWords (e: Loose): string {
  const words = [q(e.topic), `q${num(e.qos)}`]
  if (e.id !== undefined) words.push(`id ${num(e.id)}`)
  if (e.retain === true) words.push('retain')
  if (e.dup === true) words.push('dup')
  if (e.payloadSize !== undefined) words.push(`payload ${bytes(num(e.payloadSize))}`)
  if (e.payload !== undefined) {
    const shown = e.payloadEncoding === 'hex' ? `hex ${str(e.payload)}` : JSON.stringify(e.payload)
    words.push(`${shown}${e.payloadTruncated === true ? '…' : ''}`)
  }
  return words.join(' ')
}

function codeWords (e: Loose): string {
  return `${str(e.codeName)} (${num(e.code)})`
}

function describeControl (e: Loose): string {
  const frame = str(e.frame)
  if (frame === 'close') return `close ${e.code === undefined ? '(no code)' : num(e.code)}${e.reason === undefined || e.reason === '' ? '' : ` ${JSON.stringify(e.reason)}`}`
  if (frame === 'ping' && e.dir === 'gateway->client') return `ping (idle: no traffic either way for ${seconds(num(e.idleMs))})`
  if (frame === 'pong' && e.rttMs !== undefined) return `pong, ${ms(e.rttMs)} after the ping`
  return frame
}

function describeClose (e: Loose): string {
  const code = e.code === undefined ? '' : ` (close ${num(e.code)})`
  const detail = e.detail === undefined ? '' : `: ${str(e.detail)}`
  return `closed by ${str(e.initiator)}, ${str(e.reason)}${code}${detail}; after ${seconds(num(e.durationMs))}, ` +
    `${bytes(num(e.bytesFromClient))} / ${num(e.packetsFromClient)} packets from the client, ${bytes(num(e.bytesToClient))} / ${num(e.packetsToClient)} to it`
}

function str (v: unknown): string {
  return v === undefined || v === null ? '—' : String(v)
}

function num (v: unknown): number {
  return typeof v === 'number' ? v : 0
}

function q (v: unknown): string {
  return JSON.stringify(v ?? '')
}

function ms (v: unknown): string {
  const n = num(v)
  return `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`
}

function seconds (msValue: number): string {
  if (msValue < 1000) return `${Math.round(msValue)} ms`
  const s = msValue / 1000
  return s < 120 ? `${s.toFixed(1)} s` : `${Math.round(s / 60)} min`
}

export function bytes (n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

// ── the CLI's line ───────────────────────────────────────────────────────

const COLOURS: Readonly<Record<string, string>> = {
  'client->broker': '\u001b[36m',
  'broker->client': '\u001b[32m',
  'client->gateway': '\u001b[35m',
  'gateway->client': '\u001b[35m',
  gateway: '\u001b[33m'
}
const RED = '\u001b[31m'
const DIM = '\u001b[2m'
const RESET = '\u001b[0m'

/**
 * Formats events for a terminal: `12:03:01.234 +1.002s #7 sensor-1  C→B  PUBLISH …`,
 * the delta being the time since the connection's previous event.
 */
export class LineFormatter {
  private readonly colour: boolean
  private readonly lastByConnection = new Map<number, number>()

  constructor (colour: boolean) {
    this.colour = colour
  }

  format (e: Loose): string {
    const mono = num(e.mono)
    const conn = typeof e.conn === 'number' ? e.conn : undefined
    const previous = conn === undefined ? undefined : this.lastByConnection.get(conn)
    if (conn !== undefined) this.lastByConnection.set(conn, mono)
    if (e.type === 'close' && conn !== undefined) this.lastByConnection.delete(conn)
    const delta = previous === undefined ? '' : `+${((mono - previous) / 1000).toFixed(3)}s`
    const time = typeof e.time === 'string' ? e.time.slice(11, 23) : ''
    const who = conn === undefined ? '' : `#${conn}${typeof e.client === 'string' ? ` ${e.client}` : ''}`
    const dir = DIRECTION_LABELS[String(e.dir)] ?? '   '
    const text = describeEvent(e)
    if (!this.colour) return `${time} ${delta.padStart(9)} ${who.padEnd(14)} ${dir}  ${text}`
    const tone = isTrouble(e) ? RED : COLOURS[String(e.dir)] ?? ''
    return `${DIM}${time} ${delta.padStart(9)}${RESET} ${who.padEnd(14)} ${tone}${dir}  ${text}${RESET}`
  }
}

/** Events worth red: a close not asked for by the client, lost events, a refusal. */
function isTrouble (e: Loose): boolean {
  if (e.type === 'dropped' || e.type === 'cut_off' || e.type === 'error' || e.type === 'limit') return true
  if (e.type === 'close') return e.initiator !== 'client'
  if (e.type === 'packet' && typeof e.code === 'number') return e.code >= 0x80 || (e.packet === 'CONNACK' && e.code !== 0)
  return false
}

/**
 * `--accept-proxy-protocol`: the WebSocket listener reads a PROXY protocol
 * header (v1 or v2) from its trusted load balancers before anything else,
 * before TLS for wss://, and hands the socket on with the bytes after the
 * header put back, so the HTTP or TLS server sees a clean stream.
 *
 * Why at the socket level: the header precedes the TLS handshake (a TCP load
 * balancer such as HAProxy in mode tcp or AWS NLB does not decrypt), so it
 * must be read before the server's own 'connection' listener runs. The
 * server keeps listening itself (its address, close() and request timeouts
 * unchanged); this gate stands in for its 'connection' listeners and calls
 * them once the header is read.
 *
 * Who must send one: every peer within --trusted-proxies (as HAProxy's
 * `accept-proxy` and nginx's `proxy_protocol` require it of every peer).
 * Anyone else connects directly and must not: a PROXY header from an
 * untrusted peer is someone choosing the address they are logged and limited
 * as, or a load balancer missing from --trusted-proxies; either way the
 * connection is closed, and the log says so. Refusals close the socket
 * without an answer (under wss:// there is no session to answer in yet).
 */
import type { Server, Socket } from 'node:net'
import tls from 'node:tls'
import type { ProxyRefusal } from '../errors.js'
import { PP2_TYPE_AUTHORITY, PP2_TYPE_SSL, PP2_TYPE_UNIQUE_ID, ProxyHeaderReader } from './read.js'
import type { ProxyHeader, ProxyReaderResult } from './read.js'

/** Who the client is, from its load balancer's PROXY header. */
export interface ProxiedPeer {
  /** The client's address and port. */
  address: string
  port: number
  /** The address and port the client connected to (the load balancer's). */
  localAddress: string
  localPort: number
  /**
   * v2 TLVs to pass on in the header the gateway sends its broker, as they
   * came: PP2_TYPE_AUTHORITY (the host name the client asked for, SNI) and
   * PP2_TYPE_UNIQUE_ID (the load balancer's connection id, for tracing one
   * connection across logs); PP2_TYPE_SSL (the client's TLS, ended at the
   * load balancer) only when the gateway does not end TLS itself, else the
   * gateway writes its own. Undefined when there are none.
   */
  passOn: Buffer | undefined
}

export interface ProxyGateHost {
  /** Whether `address` (normalized: IPv4 without ::ffff:) is within --trusted-proxies. */
  isTrusted (address: string): boolean
  /** Milliseconds a connection has to send its header (--handshake-timeout). */
  readonly timeoutMs: number
  /** A connection refused before the server saw it: count and log it (the gate closes it). */
  refused (socket: Socket, reason: ProxyRefusal | 'handshake_timeout', detail: string): void
}

type ConnectionListener = (this: Server, socket: Socket) => void

/** `::ffff:10.0.0.1` → `10.0.0.1`, as client-address.ts compares addresses. */
function normalize (address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

function key (socket: Socket): string {
  return `${socket.remoteAddress ?? ''} ${socket.remotePort ?? 0}`
}

export class ProxyProtocolGate {
  private readonly server: Server
  private readonly host: ProxyGateHost
  private readonly listeners: ConnectionListener[]
  /** wss://: TLS reads the socket's buffered bytes itself; a plain HTTP server must be resumed. */
  private readonly tls: boolean
  /** By the TCP connection's remote endpoint, which a TLS socket over it reports too. */
  private readonly peers = new Map<string, ProxiedPeer>()
  /** Connections whose header is still awaited: the server does not know them yet. */
  private readonly pending = new Set<Socket>()

  constructor (server: Server, host: ProxyGateHost) {
    this.server = server
    this.host = host
    this.tls = server instanceof tls.Server
    this.listeners = server.listeners('connection') as ConnectionListener[]
    server.removeAllListeners('connection')
    server.on('connection', this.onConnection)
  }

  /** What the PROXY header said of the connection under `socket` (plain or TLS); undefined: use the socket's own. */
  peerOf (socket: Socket): ProxiedPeer | undefined {
    return this.peers.size === 0 ? undefined : this.peers.get(key(socket))
  }

  private readonly onConnection = (socket: Socket): void => {
    const peer = socket.remoteAddress
    // Reset before it was accepted (getpeername fails): nobody to read from or refuse.
    if (peer === undefined) {
      socket.destroy()
      return
    }
    this.pending.add(socket)
    socket.once('close', () => this.pending.delete(socket))
    new PendingHeader(this, socket, this.host.isTrusted(normalize(peer))).start()
  }

  /** Closes the connections still sending their header (the server's closeAllConnections() cannot see them). */
  close (): void {
    for (const socket of this.pending) socket.destroy()
    this.pending.clear()
  }

  /** @internal The header is read (or there is none): the server takes the socket. */
  handOver (socket: Socket, header: ProxyHeader | undefined, rest: Buffer): void {
    this.pending.delete(socket)
    if (header?.source !== undefined && header.destination !== undefined) {
      const id = key(socket)
      this.peers.set(id, {
        address: header.source.address,
        port: header.source.port,
        localAddress: header.destination.address,
        localPort: header.destination.port,
        passOn: this.passOn(header)
      })
      socket.once('close', () => this.peers.delete(id))
    }
    if (rest.length > 0) socket.unshift(rest)
    for (const listener of this.listeners) listener.call(this.server, socket)
    // Node's HTTP server adds its 'data' listener to a paused socket and
    // waits; a TLS socket reads the raw socket's buffered bytes on its own.
    if (!this.tls) socket.resume()
  }

  /** @internal */
  refuse (socket: Socket, reason: ProxyRefusal | 'handshake_timeout', detail: string): void {
    this.host.refused(socket, reason, detail)
    socket.destroy()
  }

  /** @internal */
  get timeoutMs (): number {
    return this.host.timeoutMs
  }

  private passOn (header: ProxyHeader): Buffer | undefined {
    const kept = header.tlvs.filter((t) => t.type === PP2_TYPE_AUTHORITY || t.type === PP2_TYPE_UNIQUE_ID || (t.type === PP2_TYPE_SSL && !this.tls))
    if (kept.length === 0) return undefined
    return Buffer.concat(kept.flatMap((t) => [Buffer.from([t.type, t.value.length >> 8, t.value.length & 0xff]), t.value]))
  }
}

/** One connection until its header is read: its own listeners and deadline, removed at the hand-over. */
class PendingHeader {
  private readonly gate: ProxyProtocolGate
  private readonly socket: Socket
  private readonly trusted: boolean
  private readonly reader = new ProxyHeaderReader()
  private readonly started = performance.now()
  private timer: NodeJS.Timeout | undefined

  constructor (gate: ProxyProtocolGate, socket: Socket, trusted: boolean) {
    this.gate = gate
    this.socket = socket
    this.trusted = trusted
  }

  start (): void {
    this.socket.on('data', this.onData)
    this.socket.on('end', this.onEnd)
    this.socket.on('error', this.onError)
    this.timer = setTimeout(this.onTimeout, this.gate.timeoutMs)
  }

  private stop (): void {
    clearTimeout(this.timer)
    this.socket.pause()
    this.socket.removeListener('data', this.onData)
    this.socket.removeListener('end', this.onEnd)
    this.socket.removeListener('error', this.onError)
  }

  private readonly onData = (chunk: Buffer): void => {
    const result = this.reader.push(chunk)
    if (result.state !== 'incomplete') this.decide(result)
  }

  private decide (result: Exclude<ProxyReaderResult, { state: 'incomplete' }>): void {
    this.stop()
    switch (result.state) {
      case 'complete':
        if (!this.trusted) return this.refuse('proxy_header_untrusted', `a v${result.header.version} header from a peer not in --trusted-proxies`)
        return this.gate.handOver(this.socket, result.header, result.rest)
      case 'absent':
        if (this.trusted) return this.refuse('proxy_header_missing', `a peer in --trusted-proxies sent no header; its first bytes: ${printable(result.rest)}`)
        return this.gate.handOver(this.socket, undefined, result.rest)
      case 'invalid':
        return this.refuse(this.trusted ? 'proxy_header_invalid' : 'proxy_header_untrusted', result.problem)
    }
  }

  /** The peer ended (FIN) before a header was read: a truncated header, or nothing at all (a TCP check). */
  private readonly onEnd = (): void => {
    this.stop()
    const held = this.reader.bytesHeld
    if (held === 0) {
      this.socket.destroy()
      return
    }
    this.refuse(this.trusted ? 'proxy_header_invalid' : 'proxy_header_untrusted', `truncated: the connection ended after ${held} bytes of the header`)
  }

  private readonly onError = (): void => {
    this.stop()
    this.socket.destroy()
  }

  private readonly onTimeout = (): void => {
    this.stop()
    const held = this.reader.bytesHeld
    const waited = Math.round(performance.now() - this.started)
    // A direct client that says nothing is what the HTTP server would have timed out.
    if (!this.trusted && held === 0) return this.refuse('handshake_timeout', `nothing received within ${waited} ms (closed without an answer)`)
    this.refuse('proxy_header_timeout', `${held} bytes of the header within ${waited} ms (--handshake-timeout)`)
  }

  private refuse (reason: ProxyRefusal | 'handshake_timeout', detail: string): void {
    this.gate.refuse(this.socket, reason, detail)
  }
}

/** The first bytes of a stream, for a log line: printable ASCII as is, the rest escaped. */
function printable (bytes: Buffer): string {
  return JSON.stringify(bytes.subarray(0, 16).toString('latin1').replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`))
}

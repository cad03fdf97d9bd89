/**
 * The client side of the WebSocket opening handshake (RFC 6455 §4.1), done
 * with node:http's `request` and its 'upgrade' event: the tool needs only the
 * raw socket after the 101, not a WebSocket object.
 */
import { createHash } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { fillRandom } from '../../src/wire/index.js'
import type { Target } from './target.js'

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export class HandshakeError extends Error {
  readonly code = 'BENCH_WS_HANDSHAKE'
}

export interface Upgraded {
  socket: Socket
  /** Bytes that arrived after the 101 response in the same read. */
  head: Buffer
}

/** The Sec-WebSocket-Accept a server must answer to `key` [RFC 6455 §4.2.2]. */
export function acceptFor (key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64')
}

/** Throws unless the response completes the handshake for `key` with subprotocol mqtt. */
function checkUpgrade (status: number | undefined, headers: Record<string, string | string[] | undefined>, key: string): void {
  if (status !== 101) throw new HandshakeError(`HTTP ${status ?? '?'} instead of 101 Switching Protocols`)
  if (headers['sec-websocket-accept'] !== acceptFor(key)) {
    throw new HandshakeError('Sec-WebSocket-Accept does not match the key')
  }
  const protocol = headers['sec-websocket-protocol']
  if (protocol !== 'mqtt') throw new HandshakeError(`server chose subprotocol ${JSON.stringify(protocol)}, not "mqtt"`)
}

/** A random 16-byte nonce, base64 [RFC 6455 §4.1]. */
function handshakeKey (): string {
  const nonce = Buffer.allocUnsafe(16)
  fillRandom(nonce, 0, 16)
  return nonce.toString('base64')
}

/**
 * The request's own socket, with no http.Agent: an agent would pool and track
 * a socket that the upgrade takes over anyway, at a cost per connection.
 */
function createConnection (target: Target): () => Socket {
  const options = { host: target.host, port: target.port, rejectUnauthorized: !target.insecure }
  return () => target.secure ? tlsConnect(options) : netConnect(options)
}

/** The upgrade request as bytes, for `upgradeOver` [RFC 6455 §4.1]. */
function requestBytes (target: Target, key: string): Buffer {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host
  return Buffer.from(`GET ${target.path} HTTP/1.1\r\nHost: ${host}:${target.port}\r\nConnection: Upgrade\r\n` +
    `Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`, 'latin1')
}

/** Parses a response head (status line and headers, without the blank line). */
function parseResponseHead (text: string): { status: number, headers: Record<string, string> } {
  const lines = text.split('\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')
  if (status === null) throw new HandshakeError('malformed HTTP response')
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status: Number(status[1]), headers }
}

/** Largest response head accepted before the 101 is given up on. */
const MAX_RESPONSE_HEAD = 16 * 1024

/**
 * The handshake on a connected plain socket whose reads arrive through
 * `receive` (a socket with `onread`, which emits no 'data'): without
 * node:http, so the socket keeps reading into the tool's shared buffer and a
 * connection costs the tool less. `receive` is handed each chunk until the
 * 101 is complete; chunks are only valid during the call.
 */
export function upgradeOver (socket: Socket, target: Target, timeoutMs: number, setReceiver: (receive: ((chunk: Buffer) => void) | undefined) => void): Promise<Buffer> {
  const key = handshakeKey()
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0)
    const finish = (err: Error | undefined, head?: Buffer): void => {
      clearTimeout(timer)
      setReceiver(undefined)
      socket.removeListener('error', onError)
      socket.removeListener('close', onClose)
      if (err === undefined) {
        resolve(head as Buffer)
      } else {
        socket.destroy()
        reject(err)
      }
    }
    const onError = (err: Error): void => finish(err)
    const onClose = (): void => finish(new HandshakeError('connection closed during the handshake'))
    const timer = setTimeout(() => finish(new HandshakeError(`no 101 response within ${timeoutMs} ms`)), timeoutMs)
    socket.once('error', onError)
    socket.once('close', onClose)
    setReceiver(chunk => {
      got = Buffer.concat([got, chunk]) // a copy: the chunk is only lent
      const end = got.indexOf('\r\n\r\n')
      if (end < 0) {
        if (got.length > MAX_RESPONSE_HEAD) finish(new HandshakeError('HTTP response head too large'))
        return
      }
      try {
        const { status, headers } = parseResponseHead(got.toString('latin1', 0, end))
        checkUpgrade(status, headers, key)
      } catch (err) {
        finish(err as Error)
        return
      }
      finish(undefined, got.subarray(end + 4))
    })
    socket.write(requestBytes(target, key))
  })
}

export function upgrade (target: Target, timeoutMs: number): Promise<Upgraded> {
  const key = handshakeKey()
  const request = target.secure ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = request({
      host: target.host,
      port: target.port,
      path: target.path,
      createConnection: createConnection(target),
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Protocol': 'mqtt'
      }
    })
    const timer = setTimeout(() => req.destroy(new HandshakeError(`no 101 response within ${timeoutMs} ms`)), timeoutMs)
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      clearTimeout(timer)
      try {
        checkUpgrade(res.statusCode, res.headers, key)
      } catch (err) {
        socket.destroy()
        reject(err)
        return
      }
      resolve({ socket, head })
    })
    req.on('response', res => {
      clearTimeout(timer)
      res.resume()
      req.destroy()
      reject(new HandshakeError(`HTTP ${res.statusCode ?? '?'} instead of 101 Switching Protocols`))
    })
    req.on('error', err => {
      clearTimeout(timer)
      reject(err)
    })
    req.end()
  })
}

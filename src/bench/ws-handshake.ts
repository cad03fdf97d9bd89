/**
 * The client side of the WebSocket opening handshake (RFC 6455 §4.1), done
 * with node:http's `request` and its 'upgrade' event: the tool needs only the
 * raw socket after the 101, not a WebSocket object.
 */
import { createHash } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { fillRandom } from './random-pool.js'
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

function checkUpgrade (res: IncomingMessage, key: string): void {
  if (res.statusCode !== 101) throw new HandshakeError(`HTTP ${res.statusCode ?? '?'} instead of 101 Switching Protocols`)
  if (res.headers['sec-websocket-accept'] !== acceptFor(key)) {
    throw new HandshakeError('Sec-WebSocket-Accept does not match the key')
  }
  const protocol = res.headers['sec-websocket-protocol']
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
        checkUpgrade(res, key)
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

/**
 * The server's side of the WebSocket opening handshake [RFC 6455 §4.2.2]
 * for connections the gateway runs itself (no extension negotiated).
 *
 * The request was checked before (method, Upgrade, key, version 13,
 * subprotocol: see upgrade.ts); what is left is the 101 answer: the accept
 * key is SHA-1 of the client's key and the protocol's GUID, base64. Writing
 * it here, instead of letting `ws` write it and then taking the socket back
 * from a `ws` object through its internals, keeps the lean path on public
 * APIs and creates no `ws` object per connection. `ws` still runs the
 * connections that negotiate permessage-deflate (deflate-channel.ts).
 */
import { createHash } from 'node:crypto'
import type { Socket } from 'node:net'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** Sec-WebSocket-Accept for the client's Sec-WebSocket-Key. */
export function acceptKey (key: string): string {
  return createHash('sha1').update(key.trim() + GUID).digest('base64')
}

/**
 * Answers 101 on `socket`; false (and the socket destroyed) when the client
 * has already gone.
 */
export function switchProtocols (socket: Socket, key: string, subprotocol: string | undefined): boolean {
  if (!socket.readable || !socket.writable) {
    socket.destroy()
    return false
  }
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${acceptKey(key)}`
  ]
  if (subprotocol !== undefined) lines.push(`Sec-WebSocket-Protocol: ${subprotocol}`)
  socket.write(lines.join('\r\n') + '\r\n\r\n')
  return true
}

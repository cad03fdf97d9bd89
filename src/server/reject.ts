/**
 * Refusing an upgrade with an HTTP status and a one-line reason, before any
 * WebSocket frame is exchanged. The socket is closed after the answer.
 */
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'

export function rejectUpgrade (socket: Duplex, status: number, message: string, headers: Record<string, string> = {}): void {
  // The answer is best effort: a client that reset the connection is gone.
  socket.on('error', () => socket.destroy())
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const body = `${message}\n`
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)
  ]
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`)
  // A client that never reads must not hold the socket open.
  setTimeout(() => socket.destroy(), 1000).unref()
}

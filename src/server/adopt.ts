/**
 * Taking over the socket once `ws` has done the handshake.
 *
 * `ws` validates the upgrade request and writes the 101 answer; it then
 * calls `setSocket()` on an instance of the class given as its `WebSocket`
 * option to start its own frame Receiver. This subclass keeps the socket
 * instead, so the bridge's lean frame reader owns the data path. `ws` has
 * attached nothing to the socket at that point but the handshake.
 */
import type { Duplex } from 'node:stream'
import { WebSocket } from 'ws'

type SetSocket = (socket: Duplex, head: Buffer, options: unknown) => void

export class AdoptedWebSocket extends WebSocket {
  adoptedSocket: Duplex | undefined
  adoptedHead: Buffer | undefined
  /** permessage-deflate was negotiated: ws keeps the socket and runs the connection. */
  deflated = false

  // Called by ws's WebSocketServer.completeUpgrade() after writing the 101.
  setSocket (socket: Duplex, head: Buffer, options: unknown): void {
    if (this.extensions !== '') {
      // Compression needs ws's own receiver and sender (see deflate-socket.ts).
      this.deflated = true
      ;(WebSocket.prototype as unknown as { setSocket: SetSocket }).setSocket.call(this, socket, head, options)
      return
    }
    this.adoptedSocket = socket
    this.adoptedHead = head
  }
}

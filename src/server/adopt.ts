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

export class AdoptedWebSocket extends WebSocket {
  adoptedSocket: Duplex | undefined
  adoptedHead: Buffer | undefined

  // Called by ws's WebSocketServer.completeUpgrade() after writing the 101.
  setSocket (socket: Duplex, head: Buffer): void {
    this.adoptedSocket = socket
    this.adoptedHead = head
  }
}

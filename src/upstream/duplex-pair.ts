/**
 * Two in-process Duplex streams wired back to back, with socket semantics:
 * what one end writes the other reads, backpressure included; ending one
 * end's writable side ends the other's readable side (a FIN); destroying
 * one end with an error resets the other (an RST).
 *
 * Node 22 has `stream.duplexPair()`; Node 20, our floor, does not.
 */
import { Duplex } from 'node:stream'
import { SocketError } from '../errors.js'

class PairEnd extends Duplex {
  peer: PairEnd | undefined
  /** Callback of a write held until the peer reads again. */
  private blockedWrite: (() => void) | undefined

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer
    if (peer === undefined || peer.destroyed) {
      callback(new SocketError('EPIPE', 'write after the other end closed'))
      return
    }
    if (peer.push(chunk)) callback()
    else peer.onPeerRead(callback)
  }

  override _read (): void {
    const resume = this.blockedWrite
    if (resume !== undefined) {
      this.blockedWrite = undefined
      resume()
    }
  }

  override _final (callback: (error?: Error | null) => void): void {
    this.peer?.push(null)
    callback()
  }

  override _destroy (error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer
    this.peer = undefined
    if (peer !== undefined && !peer.destroyed) {
      if (error !== null) {
        peer.destroy(new SocketError('ECONNRESET', 'connection reset by the other end'))
      } else {
        // A clean close: the peer reads to its end, then finishes its side.
        peer.push(null)
        peer.end()
      }
    }
    this.blockedWrite?.()
    this.blockedWrite = undefined
    callback(error)
  }

  private onPeerRead (callback: () => void): void {
    this.blockedWrite = callback
  }

  // Socket calls the bridge makes on any upstream; meaningless in-process.
  setNoDelay (): this { return this }
  setKeepAlive (): this { return this }
}

export function duplexPair (): [Duplex, Duplex] {
  const a = new PairEnd()
  const b = new PairEnd()
  a.peer = b
  b.peer = a
  return [a, b]
}

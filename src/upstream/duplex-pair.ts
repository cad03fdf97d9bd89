/**
 * Two in-process Duplex streams wired back to back, with socket semantics:
 * what one end writes the other reads; ending one end's writable side ends
 * the other's readable side (a FIN); destroying one end closes the other as
 * a TCP peer would see it — with a FIN, whether or not it was destroyed
 * with an error, since an error is the destroyer's own business (a socket
 * destroyed on an error sends FIN, not RST).
 *
 * Backpressure: a write waits until the other end has read, as TCP's window
 * makes it — except when the pair is made with `unbounded`, for the embedded
 * broker. Aedes delivers a message to every subscriber before it reads the
 * publisher's next packet, so one subscriber whose writes wait stalls every
 * topic that publisher feeds. With `unbounded`, the second end's writes
 * never wait; the first end instead holds what it has not read yet, up to
 * `maxUnread` bytes, and past that it is destroyed with an UnreadOverflowError:
 * the one slow reader loses its connection, everyone else loses nothing.
 *
 * Node 22 has `stream.duplexPair()`; Node 20, our floor, does not.
 */
import { Duplex } from 'node:stream'
import { SocketError, UnreadOverflowError } from '../errors.js'

export interface PairOptions {
  /** The second end writes without waiting; the first end keeps at most `maxUnread` unread bytes. */
  unbounded?: { maxUnread: number }
  /** Called once, before the first end's first write reaches the second. */
  onFirstWrite?: () => void
}

class PairEnd extends Duplex {
  peer: PairEnd | undefined
  /** Callback of a write held until the peer reads again. */
  private blockedWrite: (() => void) | undefined
  /** This end's writes never wait (the broker's end of an unbounded pair). */
  writesFreely = false
  /** Unread bytes this end may hold before it is destroyed (Infinity: no bound). */
  maxUnread = Infinity
  onFirstWrite: (() => void) | undefined

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const first = this.onFirstWrite
    if (first !== undefined) {
      this.onFirstWrite = undefined
      first()
    }
    const peer = this.peer
    if (peer === undefined || peer.destroyed) {
      callback(new SocketError('EPIPE', 'write after the other end closed'))
      return
    }
    const roomLeft = peer.push(chunk)
    if (peer.readableLength > peer.maxUnread) {
      peer.destroy(new UnreadOverflowError(peer.readableLength, peer.maxUnread))
      callback()
      return
    }
    if (roomLeft || this.writesFreely) callback()
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
      // The peer reads to its end, then finishes its side: a FIN.
      peer.push(null)
      peer.end()
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

export function duplexPair (options: PairOptions = {}): [Duplex, Duplex] {
  const a = new PairEnd()
  const b = new PairEnd()
  a.peer = b
  b.peer = a
  a.onFirstWrite = options.onFirstWrite
  if (options.unbounded !== undefined) {
    b.writesFreely = true
    a.maxUnread = options.unbounded.maxUnread
  }
  return [a, b]
}

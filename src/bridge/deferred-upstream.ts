/**
 * The broker connect that waits for the CONNECT: with --upstream-strategy
 * hash the broker depends on the client id, which only the CONNECT after the
 * 101 carries. While the connect is in flight the client's bytes are held
 * here (copies: the frame reader reuses its chunk), up to the high-water
 * mark; the client is still read, so one that vanishes is seen at once and
 * the connect is aborted.
 */
import type { OpenUpstream, UpstreamLink } from '../upstream/upstream.js'

export class DeferredUpstream {
  private readonly abort = new AbortController()
  private readonly pending: Buffer[]
  private pendingBytes: number
  /** The client closed cleanly meanwhile: deliver what waits, then end. */
  endWhenOpen = false

  /** `connect`: the CONNECT (and whatever came with it), first to go. */
  constructor (connect: Buffer) {
    this.pending = [connect]
    this.pendingBytes = connect.length
  }

  /** Starts the connect; resolves to the broker connection, rejects when none takes the client. */
  open (openUpstream: OpenUpstream, clientId: string): Promise<UpstreamLink> {
    return openUpstream(clientId, this.abort.signal)
  }

  /** Holds the client's next bytes; true when more than `limit` bytes wait (stop reading the client). */
  hold (bytes: Buffer, limit: number): boolean {
    this.pending.push(Buffer.from(bytes))
    this.pendingBytes += bytes.length
    return this.isFull(limit)
  }

  isFull (limit: number): boolean {
    return this.pendingBytes > limit
  }

  /** What waited, in order, to be written to the broker now connected. */
  take (): readonly Buffer[] {
    return this.pending
  }

  /** Gives up: the connect rejects (the client left, or was taken over). */
  cancel (): void {
    this.abort.abort()
  }
}

/**
 * The lean channel: the bridge's own frame reader and writer on the raw
 * socket `ws` never touched. Each TCP chunk goes through the reader in one
 * call (every frame's payload unmasked in place, side by side); each message
 * out is one frame header and the packets' own buffers, no copy.
 */
import type { Socket } from 'node:net'
import type { WriteSink } from '../io/sink.js'
import { endOnce } from '../io/end-once.js'
import { Opcode } from '../wire/websocket.js'
import type { ChannelSink, ClientChannel } from './channel.js'
import { FrameReader } from './frame-reader.js'
import { closeFrame, controlFrame, frameHeader } from './frame-writer.js'

/**
 * Each socket points back to its channel, so one listener function per event
 * serves every connection (`this` is the socket), as in ws: a closure per
 * event per connection was ~1 KB of every idle connection's heap.
 */
const kChannel = Symbol('channel')
type Tagged = Socket & { [kChannel]?: FrameChannel }

export class FrameChannel implements ClientChannel {
  readonly rawSocket: Socket
  readonly writeSide: WriteSink
  lastInbound = performance.now()
  private reader: FrameReader | undefined
  private sink: ChannelSink | undefined
  private limit: number

  constructor (socket: Socket, maxMessageSize: number) {
    this.rawSocket = socket
    this.writeSide = socket
    this.limit = maxMessageSize
  }

  start (sink: ChannelSink, head: Buffer): void {
    const socket = this.rawSocket as Tagged
    this.sink = sink
    this.reader = new FrameReader(sink, this.limit)
    socket.setNoDelay(true)
    socket.setTimeout(0)
    socket[kChannel] = this
    socket.on('data', FrameChannel.data)
    socket.on('end', FrameChannel.end)
    socket.on('error', FrameChannel.error)
    socket.on('close', FrameChannel.close)
    if (head.length > 0) this.onData(head)
  }

  get maxMessageSize (): number { return this.limit }
  set maxMessageSize (bytes: number) {
    this.limit = bytes
    if (this.reader !== undefined) this.reader.maxMessageSize = bytes
  }

  private static data (this: Tagged, chunk: Buffer): void { this[kChannel]?.onData(chunk) }
  private static end (this: Tagged): void { this[kChannel]?.sink?.onClientEnd() }
  private static error (this: Tagged, err: NodeJS.ErrnoException): void { this[kChannel]?.sink?.onClientError(err) }
  private static close (this: Tagged): void { this[kChannel]?.sink?.onClientClose() }

  private onData (chunk: Buffer): void {
    this.lastInbound = performance.now()
    this.reader?.feed(chunk)
  }

  sendMessage (parts: readonly Buffer[], size: number): void {
    const socket = this.rawSocket
    socket.write(frameHeader(Opcode.binary, size))
    for (let i = 0; i < parts.length; i++) socket.write(parts[i] as Buffer)
  }

  sendPing (): void { this.writeControl(controlFrame(Opcode.ping)) }
  sendPong (payload: Buffer): void { this.writeControl(controlFrame(Opcode.pong, payload)) }
  sendClose (code: number, reason: string): void { this.writeControl(closeFrame(code, reason)) }

  private writeControl (frame: Buffer): void {
    if (this.rawSocket.writable) this.rawSocket.write(frame)
  }

  get writable (): boolean { return this.rawSocket.writable }
  pause (): void { this.rawSocket.pause() }
  resume (): void { this.rawSocket.resume() }
  end (): void { endOnce(this.rawSocket) }
  destroy (): void { this.rawSocket.destroy() }
  destroySoon (): void { this.rawSocket.destroySoon() }
}

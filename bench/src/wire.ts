/**
 * A connected byte pipe that carries MQTT: straight on TCP/TLS for mqtt(s)://,
 * inside WebSocket binary frames for ws(s)://. The client above it deals in
 * MQTT bytes only; the wire adds and strips the framing.
 */
import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { Opcode, encodeFramesEach, encodeMaskedFrame } from '../../src/wire/index.js'
import type { Target } from './target.js'
import { FrameReader } from './ws-reader.js'
import { upgrade, upgradeOver } from './ws-handshake.js'

/**
 * How MQTT packets travel: raw on TCP; on WebSocket either one frame per
 * packet (as MQTT.js and Paho send) or, with `ws-batch`, all the packets of
 * one write in a single frame.
 */
export type Framing = 'tcp' | 'ws' | 'ws-batch'

export interface Wire {
  readonly socket: Socket
  readonly framing: Framing
  /** Receives each chunk read from the socket; valid only during the call. */
  onChunk: (chunk: Buffer) => void
  /** Receives the MQTT bytes found in each chunk passed to `feed`. */
  onMqtt: (bytes: Buffer) => void
  /** Decodes one socket chunk; throws on a framing violation. */
  feed: (chunk: Buffer) => void
  /** Writes MQTT packets in one socket write, framed as this wire needs. */
  send: (packets: readonly Buffer[]) => boolean
  /** Starts a clean close: a WebSocket close frame, then FIN. */
  end: () => void
  /** WebSocket close code the server sent, if it sent a close frame. */
  readonly closeCode: number | undefined
}

export interface OpenedWire {
  wire: Wire
  /** Bytes that arrived with the handshake; feed them once listeners are set. */
  head: Buffer
}

class TcpWire implements Wire {
  readonly framing = 'tcp'
  readonly closeCode = undefined
  onChunk: (chunk: Buffer) => void = () => {}
  onMqtt: (bytes: Buffer) => void = () => {}
  readonly socket: Socket

  constructor (socket: Socket, sink: ReadSink | undefined) {
    this.socket = socket
    if (sink === undefined) socket.on('data', chunk => this.onChunk(chunk))
    else sink.wire = this
  }

  feed (chunk: Buffer): void {
    this.onMqtt(chunk)
  }

  send (packets: readonly Buffer[]): boolean {
    const bytes = packets.length === 1 ? packets[0]! : Buffer.concat(packets)
    return this.socket.write(bytes)
  }

  end (): void {
    this.socket.end()
  }
}

class WsWire implements Wire {
  readonly framing: Framing
  readonly socket: Socket
  onChunk: (chunk: Buffer) => void = () => {}
  onMqtt: (bytes: Buffer) => void = () => {}
  closeCode: number | undefined
  private closeSent = false
  private readonly reader: FrameReader

  constructor (socket: Socket, framing: Framing, sink?: ReadSink) {
    this.socket = socket
    this.framing = framing
    if (sink === undefined) socket.on('data', chunk => this.onChunk(chunk))
    else sink.wire = this
    this.reader = new FrameReader(bytes => this.onMqtt(bytes), (opcode, payload) => this.control(opcode, payload))
  }

  feed (chunk: Buffer): void {
    this.reader.push(chunk)
  }

  send (packets: readonly Buffer[]): boolean {
    if (this.framing === 'ws-batch' && packets.length > 1) return this.socket.write(encodeMaskedFrame(Buffer.concat(packets)))
    return this.socket.write(encodeFramesEach(packets))
  }

  end (): void {
    this.sendClose(Buffer.from([0x03, 0xe8]))
    if (!this.socket.writableEnded) this.socket.end()
  }

  private control (opcode: number, payload: Buffer): void {
    if (opcode === Opcode.ping) {
      // A pong carries the ping's payload back [RFC 6455 §5.5.3].
      this.socket.write(encodeMaskedFrame(payload, Opcode.pong))
    } else if (opcode === Opcode.close) {
      this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005
      // Echo the status code, then half-close; the server closes TCP [RFC 6455 §5.5.1].
      this.sendClose(payload.subarray(0, 2))
      if (!this.socket.writableEnded) this.socket.end()
    }
  }

  private sendClose (payload: Buffer): void {
    if (this.closeSent || this.socket.destroyed || !this.socket.writable) return
    this.closeSent = true
    this.socket.write(encodeMaskedFrame(payload, Opcode.close))
  }
}

/** Where a plain TCP socket's reads go: the handshake, then its wire. */
interface ReadSink {
  wire: Wire | undefined
  /** Set during a WebSocket handshake: it takes the reads. */
  handshake?: ((chunk: Buffer) => void) | undefined
}

/**
 * One read buffer shared by every plain TCP socket. Node's `onread` reads
 * into it and calls back with no stream machinery and no buffer per read;
 * sharing is safe because every chunk is consumed before the callback
 * returns (the splitter copies what it must keep).
 */
const sharedReadBuffer = Buffer.allocUnsafe(256 * 1024)

function onread (sink: ReadSink): { buffer: Buffer, callback: (n: number, buf: Buffer) => boolean } {
  return {
    buffer: sharedReadBuffer,
    callback: (n, buf) => {
      if (sink.handshake !== undefined) sink.handshake(buf.subarray(0, n))
      else sink.wire?.onChunk(buf.subarray(0, n))
      return true
    }
  }
}

function connectTcp (target: Target, timeoutMs: number, sink: ReadSink | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const options = { host: target.host, port: target.port, rejectUnauthorized: !target.insecure }
    const socket: Socket = target.secure ? tlsConnect(options) : netConnect(sink === undefined ? options : { ...options, onread: onread(sink) })
    const ready = target.secure ? 'secureConnect' : 'connect'
    const timer = setTimeout(() => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs)
    socket.once(ready, () => {
      clearTimeout(timer)
      socket.removeListener('error', reject)
      resolve(socket)
    })
    socket.once('error', err => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

export async function openWire (target: Target, batch: boolean, timeoutMs: number): Promise<OpenedWire> {
  if (!target.websocket) {
    // TLS sockets take no `onread`; they keep 'data' events.
    const sink: ReadSink | undefined = target.secure ? undefined : { wire: undefined }
    const socket = await connectTcp(target, timeoutMs, sink)
    socket.setNoDelay(true)
    return { wire: new TcpWire(socket, sink), head: Buffer.alloc(0) }
  }
  const framing = batch ? 'ws-batch' : 'ws'
  if (!target.secure) {
    // Plain ws:// reads into the shared buffer too, as mqtt:// does, so the
    // tool costs the same per byte on both (Node's 'data' path allocates a
    // buffer per read, and the tool's collections of those buffers competed
    // with the gateway for the CPU); the handshake is then done by hand.
    const sink: ReadSink = { wire: undefined }
    const socket = await connectTcp(target, timeoutMs, sink)
    socket.setNoDelay(true)
    const head = await upgradeOver(socket, target, timeoutMs, receive => { sink.handshake = receive })
    return { wire: new WsWire(socket, framing, sink), head }
  }
  const { socket, head } = await upgrade(target, timeoutMs)
  socket.setNoDelay(true)
  return { wire: new WsWire(socket, framing), head }
}

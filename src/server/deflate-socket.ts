/**
 * permessage-deflate (RFC 7692), opt-in: `ws` runs the connection and this
 * adapter makes it look like the raw socket the bridge expects.
 *
 * Messages `ws` has inflated become plain frames on the readable side (so
 * the bridge's frame reader applies the same rules: text → 1003, size
 * limit, proof of life); frames the bridge writes are parsed back and handed
 * to `ws`, which compresses them. Compression costs far more CPU than the
 * lean path, which is why it is off by default.
 */
import { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'
import { Opcode } from '../ws/frame-reader.js'

const EMPTY = Buffer.alloc(0)

/** A final client frame with an all-zero masking key (the reader requires the mask bit). */
function maskedFrame (opcode: number, payload: Buffer): Buffer {
  const len = payload.length
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8
  const header = Buffer.alloc(2 + ext + 4)
  header[0] = 0x80 | opcode
  header[1] = 0x80 | (ext === 0 ? len : ext === 2 ? 126 : 127)
  if (ext === 2) header.writeUInt16BE(len, 2)
  if (ext === 8) header.writeBigUInt64BE(BigInt(len), 2)
  return Buffer.concat([header, payload])
}

function closePayload (code: number, reason: Buffer): Buffer {
  const payload = Buffer.alloc(2 + reason.length)
  payload.writeUInt16BE(code, 0)
  reason.copy(payload, 2)
  return payload
}

export class DeflateClientSocket extends Duplex {
  private readonly ws: WebSocket
  /** Bytes the bridge wrote that do not yet make a whole frame. */
  private written: Buffer = EMPTY
  private readonly highWaterMark: number

  constructor (ws: WebSocket, highWaterMark: number) {
    super({ allowHalfOpen: true })
    this.ws = ws
    this.highWaterMark = highWaterMark
    ws.on('message', (data: Buffer, isBinary: boolean) => this.deliver(isBinary ? Opcode.binary : Opcode.text, data))
    // ws answers pings itself; a pong still proves the client alive.
    ws.on('ping', () => this.deliver(Opcode.pong, EMPTY))
    ws.on('pong', () => this.deliver(Opcode.pong, EMPTY))
    ws.on('error', (err) => this.destroy(err))
    ws.on('close', (code: number, reason: Buffer) => this.onWsClose(code, reason))
  }

  get remoteAddress (): string | undefined {
    return (this.ws as unknown as { _socket?: { remoteAddress?: string } })._socket?.remoteAddress
  }

  private deliver (opcode: number, payload: Buffer): void {
    if (!this.push(maskedFrame(opcode, payload))) this.ws.pause()
  }

  private onWsClose (code: number, reason: Buffer): void {
    if (this.destroyed) return
    if (code === 1006 || code === 1005) {
      // No close frame came: the connection was lost (or closed without a code).
      if (code === 1006) {
        this.destroy(Object.assign(new Error('connection lost'), { code: 'ECONNRESET' }))
        return
      }
      this.push(maskedFrame(Opcode.close, EMPTY))
    } else {
      this.push(maskedFrame(Opcode.close, closePayload(code, reason)))
    }
    this.push(null)
  }

  override _read (): void {
    this.ws.resume()
  }

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.written = this.written.length === 0 ? chunk : Buffer.concat([this.written, chunk])
    this.sendWholeFrames()
    // Hold the bridge back while ws's socket is full: its backpressure
    // then works as on the lean path.
    if (this.ws.bufferedAmount <= this.highWaterMark) {
      callback()
      return
    }
    const wait = setInterval(() => {
      if (this.ws.bufferedAmount <= this.highWaterMark || this.ws.readyState > 1) {
        clearInterval(wait)
        callback()
      }
    }, 5)
    wait.unref()
  }

  /** Parses the server frames the bridge wrote and hands them to ws. */
  private sendWholeFrames (): void {
    let buf = this.written
    while (buf.length >= 2) {
      const len7 = (buf[1] as number) & 0x7f
      const headerSize = len7 === 126 ? 4 : len7 === 127 ? 10 : 2
      if (buf.length < headerSize) break
      const len = len7 === 126 ? buf.readUInt16BE(2) : len7 === 127 ? Number(buf.readBigUInt64BE(2)) : len7
      if (buf.length < headerSize + len) break
      this.sendFrame((buf[0] as number) & 0x0f, buf.subarray(headerSize, headerSize + len))
      buf = buf.subarray(headerSize + len)
    }
    this.written = buf.length === 0 ? EMPTY : Buffer.from(buf)
  }

  private sendFrame (opcode: number, payload: Buffer): void {
    if (this.ws.readyState !== 1) return
    switch (opcode) {
      case Opcode.binary: this.ws.send(payload, { binary: true }); break
      case Opcode.ping: this.ws.ping(payload); break
      case Opcode.pong: this.ws.pong(payload); break
      case Opcode.close:
        this.ws.close(payload.length >= 2 ? payload.readUInt16BE(0) : 1000, payload.subarray(2))
        break
    }
  }

  override _final (callback: (error?: Error | null) => void): void {
    // The bridge ends the socket after the close handshake: ws closes TCP.
    if (this.ws.readyState === 1) this.ws.close(1000)
    callback()
  }

  override _destroy (error: Error | null, callback: (error?: Error | null) => void): void {
    this.ws.terminate()
    callback(error)
  }

  // The socket calls the bridge makes; ws owns the real socket.
  setNoDelay (): this { return this }
  setTimeout (): this { return this }
  destroySoon (): void {
    this.end()
    this.ws.terminate()
  }
}

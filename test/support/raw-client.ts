/**
 * A raw WebSocket client for tests that need to break the rules on purpose:
 * any frame, any bytes, no automatic pongs, and a view of every frame the
 * gateway sends back.
 */
import http from 'node:http'
import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'
import { once } from 'node:events'
import { Opcode, encodeMaskedFrame } from '../../src/wire/websocket.js'
import { frameHeader } from '../../src/ws/frame-writer.js'

export interface ServerFrame {
  opcode: number
  payload: Buffer
}

export type UpgradeResult =
  | { ok: true, client: RawClient }
  | { ok: false, status: number, body: string, headers: http.IncomingHttpHeaders }

export interface UpgradeOptions {
  protocol?: string | undefined
  path?: string
  headers?: Record<string, string>
  /** The local address to connect from, e.g. 127.0.0.7: a distinct client on loopback. */
  localAddress?: string
}

export function upgrade (url: string, options: UpgradeOptions = {}): Promise<UpgradeResult> {
  const target = new URL(url)
  const headers: Record<string, string> = {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...options.headers
  }
  if (options.protocol !== undefined) headers['Sec-WebSocket-Protocol'] = options.protocol
  return new Promise((resolve, reject) => {
    // URL keeps an IPv6 host in brackets; http.request wants it bare.
    const req = http.request({ host: target.hostname.replace(/^\[(.*)\]$/, '$1'), port: target.port, path: options.path ?? target.pathname, headers, localAddress: options.localAddress })
    req.on('upgrade', (res, socket, head) => {
      resolve({ ok: true, client: new RawClient(socket as Socket, head, res.headers) })
    })
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ ok: false, status: res.statusCode ?? 0, body, headers: res.headers }))
    })
    req.on('error', reject)
    req.end()
  })
}

export async function connectRaw (url: string, options: UpgradeOptions = { protocol: 'mqtt' }): Promise<RawClient> {
  const result = await upgrade(url, options)
  if (!result.ok) throw new Error(`upgrade refused: ${result.status} ${result.body}`)
  return result.client
}

/**
 * A client frame, as the load tool writes it (src/wire/websocket.ts); with
 * `mask` false, the unmasked shape of a server frame, which a client must
 * not send [RFC 6455 §5.1].
 */
export function maskedFrame (opcode: number, payload: Buffer, fin = true, mask = true): Buffer {
  if (mask) return encodeMaskedFrame(payload, opcode, fin)
  const frame = Buffer.concat([frameHeader(opcode, payload.length), payload])
  if (!fin) frame[0] = (frame[0] as number) & 0x7f
  return frame
}

export class RawClient {
  readonly socket: Socket
  readonly headers: http.IncomingHttpHeaders
  readonly frames: ServerFrame[] = []
  private buffer: Buffer = Buffer.alloc(0)
  closed = false
  readonly closedPromise: Promise<void>

  constructor (socket: Socket, head: Buffer, headers: http.IncomingHttpHeaders) {
    this.socket = socket
    this.headers = headers
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', () => {})
    this.closedPromise = once(socket, 'close').then(() => { this.closed = true })
    if (head.length > 0) this.onData(head)
  }

  send (bytes: Buffer): void {
    this.socket.write(bytes)
  }

  sendBinary (payload: Buffer): void {
    this.send(maskedFrame(Opcode.binary, payload))
  }

  sendClose (code = 1000, reason = ''): void {
    const payload = Buffer.alloc(2 + Buffer.byteLength(reason))
    payload.writeUInt16BE(code, 0)
    payload.write(reason, 2)
    this.send(maskedFrame(Opcode.close, payload))
  }

  /** Binary message payloads received so far. */
  get messages (): Buffer[] {
    return this.frames.filter((f) => f.opcode === Opcode.binary).map((f) => f.payload)
  }

  /** The close frame's code, if one arrived. */
  get closeCode (): number | undefined {
    const close = this.frames.find((f) => f.opcode === Opcode.close)
    return close === undefined ? undefined : close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005
  }

  get closeReason (): string | undefined {
    const close = this.frames.find((f) => f.opcode === Opcode.close)
    return close?.payload.toString('utf8', 2)
  }

  async waitFor (check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + ms
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  destroy (): void {
    this.socket.destroy()
  }

  private onData (chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    for (;;) {
      const frame = this.parseOne()
      if (frame === undefined) return
      this.frames.push(frame)
    }
  }

  private parseOne (): ServerFrame | undefined {
    const b = this.buffer
    if (b.length < 2) return undefined
    let len = (b[1] as number) & 0x7f
    let at = 2
    if (len === 126) {
      if (b.length < 4) return undefined
      len = b.readUInt16BE(2)
      at = 4
    } else if (len === 127) {
      if (b.length < 10) return undefined
      len = Number(b.readBigUInt64BE(2))
      at = 10
    }
    if (b.length < at + len) return undefined
    const frame = { opcode: (b[0] as number) & 0x0f, payload: Buffer.from(b.subarray(at, at + len)) }
    if (((b[0] as number) & 0x80) === 0) throw new Error('gateway sent a fragmented frame')
    this.buffer = b.subarray(at + len)
    return frame
  }
}

/**
 * Cuts one direction of a traced connection's byte stream into MQTT packets
 * and hands over the head of each: its first byte, its total size, and up to
 * `headLimit(type)` bytes of its body. A packet may span any number of
 * chunks, and a chunk may hold many packets [MQTT-6.0.0-2].
 *
 * Memory stays bounded whatever the client sends: only a packet's head is
 * kept (a 1 MiB PUBLISH costs the trace its first bytes, not a megabyte),
 * and only when the head spans chunks; otherwise the head handed over is a
 * view of the caller's chunk, valid during the callback only (the bridge's
 * chunks are reused memory, see tap.ts).
 */

export interface PacketHead {
  /** The fixed header's first byte: type in the high nibble, flags in the low. */
  first: number
  /** Whole packet, fixed header included. */
  size: number
  /** Remaining Length: the body's size. */
  bodySize: number
  /** The body's first bytes (all of it when `head.length === bodySize`). */
  head: Buffer
}

/** How many body bytes the consumer wants of a packet of `type` whose body is `bodySize`. */
export type HeadLimit = (type: number, bodySize: number) => number

type State = 'skip' | 'type' | 'length' | 'head' | 'body'

export class PacketAssembler {
  private readonly onPacket: (packet: PacketHead) => void
  private readonly onError: (detail: string) => void
  headLimit: HeadLimit
  private state: State = 'type'
  private left = 0
  private first = 0
  private length = 0
  private multiplier = 1
  private lengthBytes = 0
  private want = 0
  private parts: Buffer[] = []
  private gathered = 0
  /** Set after a malformed length: the stream cannot be followed any further. */
  lost = false

  /** `skip`: bytes to pass over first, when attached in the middle of a packet. */
  constructor (headLimit: HeadLimit, onPacket: (packet: PacketHead) => void, onError: (detail: string) => void, skip = 0) {
    this.headLimit = headLimit
    this.onPacket = onPacket
    this.onError = onError
    if (skip > 0) {
      this.state = 'skip'
      this.left = skip
    }
  }

  feed (buf: Buffer): void {
    let pos = 0
    const end = buf.length
    while (pos < end && !this.lost) {
      switch (this.state) {
        case 'skip':
        case 'body': {
          const take = Math.min(this.left, end - pos)
          this.left -= take
          pos += take
          if (this.left === 0) this.state = 'type'
          break
        }
        case 'type':
          this.first = buf[pos++] as number
          this.length = 0
          this.multiplier = 1
          this.lengthBytes = 0
          this.state = 'length'
          break
        case 'length':
          pos = this.readLength(buf, pos)
          break
        case 'head':
          pos = this.gather(buf, pos, end)
          break
      }
    }
  }

  private readLength (buf: Buffer, pos: number): number {
    const byte = buf[pos] as number
    this.length += (byte & 0x7f) * this.multiplier
    this.multiplier *= 128
    this.lengthBytes++
    if ((byte & 0x80) !== 0) {
      if (this.lengthBytes === 4) this.lose('remaining length longer than 4 bytes')
      return pos + 1
    }
    this.want = Math.min(this.length, Math.max(0, this.headLimit(this.first >> 4, this.length)))
    this.left = this.length - this.want
    this.gathered = 0
    this.parts = []
    if (this.want === 0) this.complete(EMPTY)
    else this.state = 'head'
    return pos + 1
  }

  private gather (buf: Buffer, pos: number, end: number): number {
    const take = Math.min(this.want - this.gathered, end - pos)
    if (this.gathered === 0 && take === this.want) {
      // The whole head is in this chunk: a view, no copy.
      this.complete(buf.subarray(pos, pos + take))
      return pos + take
    }
    // A copy: the chunk is reused after this call.
    this.parts.push(Buffer.from(buf.subarray(pos, pos + take)))
    this.gathered += take
    if (this.gathered === this.want) {
      const head = Buffer.concat(this.parts, this.gathered)
      this.parts = []
      this.complete(head)
    }
    return pos + take
  }

  private complete (head: Buffer): void {
    this.state = this.left > 0 ? 'body' : 'type'
    this.onPacket({ first: this.first, size: 1 + this.lengthBytes + this.length, bodySize: this.length, head })
  }

  private lose (detail: string): void {
    this.lost = true
    this.parts = []
    this.onError(detail)
  }

  /** Between packets: the next byte fed starts one. */
  get atBoundary (): boolean {
    return this.state === 'type'
  }
}

const EMPTY = Buffer.alloc(0)

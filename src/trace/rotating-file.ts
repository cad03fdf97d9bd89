/**
 * The trace file (--trace-file): NDJSON lines appended to one file, which is
 * renamed to `<file>.1` when it reaches `maxBytes` (`.1` to `.2`, and so on;
 * the oldest beyond `keep` is deleted), so a trace can run all night within a
 * known amount of disk: (1 + keep) × maxBytes at most.
 *
 * Writes are asynchronous (a slow disk never blocks the event loop); the file
 * is an Outlet like an HTTP viewer, so a disk that cannot keep up makes the
 * trace drop events, counted, rather than grow the gateway's memory.
 */
import { closeSync, createWriteStream, fstatSync, openSync, renameSync, rmSync } from 'node:fs'
import type { WriteStream } from 'node:fs'
import type { Outlet } from './subscriber.js'

const HIGH_WATER_MARK = 256 * 1024

export class RotatingFile implements Outlet {
  readonly path: string
  private readonly maxBytes: number
  private readonly keep: number
  private readonly onError: (err: Error) => void
  private stream: WriteStream | undefined
  private size = 0
  private failed = false
  rotations = 0

  constructor (path: string, maxBytes: number, keep: number, onError: (err: Error) => void) {
    this.path = path
    this.maxBytes = maxBytes
    this.keep = keep
    this.onError = onError
  }

  /** Opens (appends to) the file now; throws when it cannot be opened. */
  open (): void {
    if (this.stream !== undefined) return
    const fd = openSync(this.path, 'a', 0o640)
    try {
      this.size = fstatSync(fd).size
    } catch (err) {
      closeSync(fd)
      throw err
    }
    const stream = createWriteStream('', { fd, highWaterMark: HIGH_WATER_MARK })
    stream.on('error', (err) => this.fail(err))
    this.stream = stream
    this.failed = false
  }

  write (chunk: string): boolean {
    if (this.failed) return true // Lost to a failed disk: logged once, not retried per line.
    if (this.stream === undefined) this.open()
    const stream = this.stream as WriteStream
    const ok = stream.write(chunk)
    this.size += Buffer.byteLength(chunk)
    if (this.size >= this.maxBytes) {
      this.rotate()
      return true
    }
    return ok
  }

  onDrain (callback: () => void): void {
    const stream = this.stream
    if (stream === undefined || !stream.writableNeedDrain) setImmediate(callback)
    else stream.once('drain', callback)
  }

  /** Shared by every trace: a trace's end does not close it (close() does). */
  end (last?: string): void {
    if (last !== undefined) this.write(last)
  }

  async close (): Promise<void> {
    const stream = this.stream
    this.stream = undefined
    if (stream === undefined) return
    await new Promise<void>((resolve) => stream.end(resolve))
  }

  /** Renames the full file away (the old stream still flushes into it) and starts a new one. */
  private rotate (): void {
    const old = this.stream
    this.stream = undefined
    old?.end()
    try {
      if (this.keep === 0) rmSync(this.path, { force: true })
      else {
        rmSync(`${this.path}.${this.keep}`, { force: true })
        for (let i = this.keep - 1; i >= 1; i--) renameIfThere(`${this.path}.${i}`, `${this.path}.${i + 1}`)
        renameSync(this.path, `${this.path}.1`)
      }
      this.rotations++
      this.open()
    } catch (err) {
      this.fail(err as Error)
    }
  }

  private fail (err: Error): void {
    if (this.failed) return
    this.failed = true
    this.onError(err)
  }
}

function renameIfThere (from: string, to: string): void {
  try {
    renameSync(from, to)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}

/**
 * The primary's workers: N slots, each holding one forked gateway process.
 *
 * A worker that exits while the pool runs is replaced, at most once per
 * second per slot, so a crash loop costs a fork a second rather than a
 * spinning CPU. A worker that exits before every slot has listened once
 * fails the whole start instead: a taken port or an unreadable certificate
 * would only fail again.
 */
import cluster from 'node:cluster'
import type { Worker } from 'node:cluster'
import { EventEmitter } from 'node:events'
import type { Logger } from '../observe/logger.js'
import { isClusterMessage } from './protocol.js'

/** Least time between two starts of the same slot. */
export const RESTART_INTERVAL_MS = 1000

export interface PoolEvents {
  /** Every slot listens, for the first time. */
  listening: [url: string, upstream: string]
  /**
   * A worker exited before the pool first listened: its exit code (1 after a
   * signal) and, when it could tell, the one line that says why.
   */
  failed: [code: number, line: string | undefined]
  /** After stop() (or a failed start): every worker has exited. */
  stopped: []
}

interface Slot {
  readonly index: number
  worker: Worker | undefined
  startedAt: number
  listening: boolean
  restart: NodeJS.Timeout | undefined
  /** What the worker said when its start failed. */
  failure: string | undefined
}

export class WorkerPool extends EventEmitter<PoolEvents> {
  private readonly slots: Slot[]
  private readonly env: Record<string, string>
  private readonly logger: Logger
  private started = false
  private stoppingState = false

  /** `env` is added to each worker's environment. */
  constructor (count: number, env: Record<string, string>, logger: Logger) {
    super()
    this.slots = Array.from({ length: count }, (_, index) => ({ index, worker: undefined, startedAt: 0, listening: false, restart: undefined, failure: undefined }))
    this.env = env
    this.logger = logger
  }

  get size (): number { return this.slots.length }
  get listening (): number { return this.slots.filter((s) => s.listening).length }
  get stopping (): boolean { return this.stoppingState }
  private get alive (): number { return this.slots.filter((s) => s.worker !== undefined).length }

  start (): void {
    for (const slot of this.slots) this.fork(slot)
  }

  /** Asks every worker to drain (SIGTERM) and replaces none; 'stopped' follows. */
  stop (): void {
    this.stoppingState = true
    for (const slot of this.slots) {
      clearTimeout(slot.restart)
      slot.restart = undefined
    }
    this.signal('SIGTERM')
    if (this.alive === 0) process.nextTick(() => this.emit('stopped'))
  }

  /** Sends `signal` to every live worker (SIGHUP: reload certificates; SIGKILL: now). */
  signal (signal: NodeJS.Signals): void {
    for (const { worker } of this.slots) worker?.process.kill(signal)
  }

  private fork (slot: Slot): void {
    const worker = cluster.fork(this.env)
    slot.worker = worker
    slot.startedAt = Date.now()
    slot.listening = false
    this.logger.info({ event: 'worker_start', slot: slot.index, worker: worker.id, workerPid: worker.process.pid }, `worker ${worker.id} started (pid ${String(worker.process.pid)})`)
    worker.on('message', (message: unknown) => {
      if (isClusterMessage(message, 'mqtt-ws-gateway:listening')) this.onListening(slot, message.url, message.upstream)
      if (isClusterMessage(message, 'mqtt-ws-gateway:failed')) slot.failure = message.line
    })
    // IPC errors of a dying worker: its 'exit' follows and says the rest.
    worker.on('error', () => {})
    worker.once('exit', (code: number | null, signal: string | null) => this.onExit(slot, worker, code, signal as NodeJS.Signals | null))
  }

  private onListening (slot: Slot, url: string, upstream: string): void {
    slot.listening = true
    if (this.started || this.stoppingState || this.listening < this.slots.length) return
    this.started = true
    this.emit('listening', url, upstream)
  }

  private onExit (slot: Slot, worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    slot.worker = undefined
    slot.listening = false
    const fields = { slot: slot.index, worker: worker.id, workerPid: worker.process.pid, code, signal }
    const how = signal === null ? `code ${String(code)}` : `signal ${signal}`
    if (this.stoppingState) {
      this.logger.info({ event: 'worker_exit', ...fields }, `worker ${worker.id} exited (${how})`)
      if (this.alive === 0) this.emit('stopped')
    } else if (!this.started) {
      this.logger.error({ event: 'worker_exit', ...fields, failure: slot.failure ?? null }, `worker ${worker.id} exited (${how}) before listening`)
      // Its last message may still be on the IPC channel: read to its end first.
      const failed = (): void => { this.emit('failed', code ?? 1, slot.failure) }
      if (worker.isConnected()) worker.once('disconnect', failed)
      else failed()
    } else {
      const restartInMs = Math.max(0, slot.startedAt + RESTART_INTERVAL_MS - Date.now())
      this.logger.error({ event: 'worker_crash', ...fields, restartInMs }, `worker ${worker.id} died (${how}): replacing it in ${restartInMs} ms`)
      slot.restart = setTimeout(() => {
        slot.restart = undefined
        this.fork(slot)
      }, restartInMs)
    }
  }
}

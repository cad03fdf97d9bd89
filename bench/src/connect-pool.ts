/**
 * Opens many connections at a paced rate with a cap on handshakes in
 * progress, so a burst of thousands neither floods the accept queue nor
 * measures the tool's own queueing. Every open has its own timeout, so the
 * pool always finishes.
 */
import { nowMicros } from './payload.js'

export interface PoolOptions {
  /** Connections started per second; 0 starts them as fast as the cap allows. */
  rate: number
  /** Most handshakes in progress at once. */
  concurrency: number
  /** Called after each success, for progress. */
  onOpened?: (opened: number) => void
}

export interface PoolResult<T> {
  /** Opened connections by index; undefined where the open failed. */
  opened: (T | undefined)[]
  failed: number
  /** Distinct failure messages (first few). */
  errors: string[]
  startedUs: number
  /** When the last successful open finished. */
  lastOpenedUs: number
}

const MAX_ERRORS_KEPT = 5

export function openPool<T> (count: number, open: (index: number) => Promise<T>, options: PoolOptions): Promise<PoolResult<T>> {
  const result: PoolResult<T> = { opened: new Array<T | undefined>(count), failed: 0, errors: [], startedUs: nowMicros(), lastOpenedUs: 0 }
  if (count === 0) return Promise.resolve(result)
  return new Promise(resolve => {
    let next = 0
    let inProgress = 0
    let finished = 0
    let succeeded = 0
    const pacer = options.rate > 0 ? setInterval(() => launch(), 1) : undefined
    const allowedNow = (): number => options.rate > 0 ? Math.floor(options.rate * (nowMicros() - result.startedUs) / 1e6) + 1 : count
    const settle = (): void => {
      inProgress--
      if (++finished === count) {
        if (pacer !== undefined) clearInterval(pacer)
        resolve(result)
      } else {
        launch()
      }
    }
    const launch = (): void => {
      while (next < count && inProgress < options.concurrency && next < allowedNow()) {
        const index = next++
        inProgress++
        open(index).then(value => {
          result.opened[index] = value
          result.lastOpenedUs = nowMicros()
          options.onOpened?.(++succeeded)
        }, (err: unknown) => {
          result.failed++
          const message = err instanceof Error ? err.message : String(err)
          if (result.errors.length < MAX_ERRORS_KEPT && !result.errors.includes(message)) result.errors.push(message)
        }).finally(settle)
      }
    }
    launch()
  })
}

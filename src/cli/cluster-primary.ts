/**
 * The primary of `mqtt-ws-gateway --workers N`: forks the workers (which
 * share the listening port through node:cluster), replaces those that die,
 * serves the admin endpoints for all of them, prints the usual lines once
 * every worker listens, and on SIGTERM/SIGINT lets each drain as a single
 * gateway does; a second signal kills them at once.
 */
import { ClusterAdmin } from '../cluster/admin.js'
import { WorkerPool } from '../cluster/pool.js'
import { WORKER_OPTIONS_ENV } from '../cluster/protocol.js'
import { instanceId } from '../observe/instance.js'
import { createLogger } from '../observe/logger.js'
import type { ResolvedOptions } from '../options.js'
import { shutdownPlan } from './serve.js'

export async function runPrimary (options: ResolvedOptions, count: number): Promise<number> {
  // One name for the group (the primary's pid by default): every worker's
  // lines and metrics carry it, so /metrics sums them as one gateway.
  const instance = instanceId(options.instanceId)
  const logger = createLogger(options.logLevel, instance).child({ pid: process.pid, role: 'primary' })
  const pool = new WorkerPool(count, { [WORKER_OPTIONS_ENV]: JSON.stringify({ ...options, instanceId: instance }) }, logger)
  const admin = options.adminPort === 0 ? undefined : new ClusterAdmin(options, pool)
  // Before any fork: a taken admin port fails the start with nothing to clean up.
  const adminBound = await admin?.listen()
  let exitCode = 0
  const stopped = new Promise<void>((resolve) => pool.once('stopped', resolve))
  // One line for the whole cluster: the first worker's reason (the others fail alike).
  pool.once('failed', (code, line) => {
    console.error(`mqtt-ws-gateway: ${line ?? `a worker exited with code ${code} before listening; stopping the others`}`)
    exitCode = code === 0 ? 1 : code
    pool.stop()
  })
  pool.once('listening', (url, upstream) => {
    console.log(`mqtt-ws-gateway listening on ${url} (upstream ${upstream}, ${count} workers)`)
    if (adminBound !== undefined) console.log(`admin on http://${formatHost(adminBound.address)}:${adminBound.port}/ (metrics of all workers, health)`)
  })
  const forward = (): void => pool.signal('SIGHUP')
  const onSignal = stopOnSignals(pool, options)
  process.on('SIGHUP', forward)
  pool.start()
  try {
    await stopped
  } finally {
    process.off('SIGHUP', forward)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await admin?.close()
  }
  return exitCode
}

/** First SIGINT/SIGTERM: every worker drains; a second: SIGKILL to each, exit 1. Returns the handler. */
function stopOnSignals (pool: WorkerPool, options: ResolvedOptions): (signal: NodeJS.Signals) => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    if (pool.stopping) {
      console.error(`${signal} again: killing the workers`)
      pool.signal('SIGKILL')
      process.exit(1)
    }
    console.error(`${signal}: ${shutdownPlan(options)}, in ${pool.size} workers (send ${signal} again to exit at once)`)
    pool.stop()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return onSignal
}

function formatHost (address: string): string {
  return address.includes(':') ? `[${address}]` : address
}

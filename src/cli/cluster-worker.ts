/**
 * One worker of `mqtt-ws-gateway --workers N`: the normal gateway, its
 * options from the primary, no admin listener of its own (the primary
 * serves the cluster's) and its metrics registry handed to prom-client's
 * cluster aggregation, which answers the primary's requests over IPC.
 */
import cluster from 'node:cluster'
import { AggregatorRegistry } from 'prom-client'
import { WORKER_OPTIONS_ENV } from '../cluster/protocol.js'
import type { FailedMessage, ListeningMessage } from '../cluster/protocol.js'
import { GatewayServer } from '../gateway.js'
import { createLogger } from '../observe/logger.js'
import { createMetrics } from '../observe/metrics.js'
import { resolveOptions } from '../options.js'
import type { GatewayOptions } from '../options.js'
import { UpstreamProbe } from '../upstream/probe.js'
import { describeFailure } from './failure.js'

/** As often as the single gateway's admin listener probes the broker. */
const PROBE_INTERVAL_MS = 5000

/** Runs until the primary (or a terminal) sends SIGTERM/SIGINT, then drains and exits. */
export async function runWorker (): Promise<number> {
  try {
    return await serveWorker()
  } catch (err) {
    return await reportFailure(err)
  } finally {
    // The IPC channel would keep the process alive; exit once main() has
    // set the exit code.
    setImmediate(() => process.exit())
  }
}

/**
 * A start that failed: told to the primary, which prints one line for the
 * cluster (N workers printing N lines would bury it). Printed here only
 * when there is no primary to tell.
 */
async function reportFailure (err: unknown): Promise<number> {
  const { line, exitCode } = describeFailure(err)
  const message: FailedMessage = { type: 'mqtt-ws-gateway:failed', line, exitCode }
  const sent = await new Promise<boolean>((resolve) => {
    if (process.send === undefined || !process.connected) return resolve(false)
    process.send(message, (error: Error | null) => resolve(error === null))
  })
  if (!sent) console.error(`mqtt-ws-gateway: ${line}`)
  return exitCode
}

async function serveWorker (): Promise<number> {
  const given = JSON.parse(process.env[WORKER_OPTIONS_ENV] ?? '{}') as Partial<GatewayOptions>
  const options = resolveOptions({ ...given, workers: 1, adminPort: 0 })
  const logger = createLogger(options.logLevel, options.instanceId).child({ pid: process.pid, worker: cluster.worker?.id })
  const stopRequested = stopSignal()
  const gateway = new GatewayServer({ ...options, logger })
  // Metrics first, so that no connection is missed; the probe needs the listening gateway's upstream.
  const probe: { current?: UpstreamProbe } = {}
  const metrics = createMetrics(gateway, { tcpUpstream: true, upstreamReachable: () => probe.current?.state.reachable })
  new AggregatorRegistry() // installs the worker's answer to the primary's metrics requests
  AggregatorRegistry.setRegistries([metrics.registry])
  const address = await gateway.listen()
  probe.current = new UpstreamProbe(gateway.upstream, PROBE_INTERVAL_MS)
  void probe.current.start()
  process.on('SIGHUP', () => reloadTls(gateway))
  process.send?.({ type: 'mqtt-ws-gateway:listening', url: address.url, upstream: address.upstream } satisfies ListeningMessage)
  const signal = await stopRequested
  logger.info({ event: 'worker_drain', signal }, `${signal}: closing connections`)
  await gateway.close({ delayMs: options.shutdownDelay, drainMs: options.shutdownPeriod })
  probe.current.stop()
  metrics.stop()
  return 0
}

/**
 * Resolves on the first SIGTERM/SIGINT. Later ones are ignored: Ctrl-C
 * reaches the whole process group and the primary forwards it too; only
 * the primary decides that a second one means "now" (it sends SIGKILL).
 */
function stopSignal (): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.on('SIGTERM', resolve)
    process.on('SIGINT', resolve)
  })
}

function reloadTls (gateway: GatewayServer): void {
  try {
    gateway.reloadTls()
  } catch (err) {
    gateway.logger.error({ event: 'tls_reload_failed', detail: (err as Error).message }, 'TLS reload failed, keeping the old certificates')
  }
}

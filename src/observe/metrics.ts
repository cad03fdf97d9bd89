/**
 * Prometheus metrics of one gateway, in a registry of its own (several
 * gateways in one process must not share or collide in the global one).
 *
 * Counters of events are bumped by lifecycle-event subscribers; traffic
 * totals and gauges are read from `gateway.stats()` when Prometheus scrapes.
 * Nothing here runs per packet.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { closeReasons, upgradeRejections } from '../errors.js'
import type { CloseReason, UpgradeRejection } from '../errors.js'
import { subscribe } from '../events.js'
import type { GatewayRef } from '../events.js'
import type { GatewayStats } from '../gateway.js'

export const METRIC_PREFIX = 'mqtt_ws_gateway_'

export interface MetricsSource extends GatewayRef {
  /** Live bridged connections. */
  readonly connections: number
  stats (): GatewayStats
  /** --instance-id: the `instance` label of every series. */
  readonly instanceId?: string
}

export interface MetricsOptions {
  /** True when bridging to a TCP broker: only then is there an upstream connect to time. */
  tcpUpstream: boolean
  /** Whether the upstream answered the last readiness probe; undefined without one. */
  upstreamReachable: () => boolean | undefined
}

export interface GatewayMetrics {
  readonly registry: Registry
  stop (): void
}

/** Seconds, from a fraction of a millisecond (in-process, loopback) to a slow WAN broker. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Seconds: MQTT connections live from a failed attempt to days. */
const DURATION_BUCKETS = [0.1, 1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600]

const name = (suffix: string): string => METRIC_PREFIX + suffix

export function createMetrics (gateway: MetricsSource, options: MetricsOptions): GatewayMetrics {
  const registry = new Registry()
  // Before any metric is made: every series carries it. Prometheus keeps its
  // own target label `instance` and files this one as `exported_instance`
  // (unless honor_labels: true): both name the gateway.
  if (gateway.instanceId !== undefined) registry.setDefaultLabels({ instance: gateway.instanceId })
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX })
  trafficMetrics(registry, gateway, options)
  const unsubscribe = lifecycleMetrics(registry, gateway, options)
  const stopLag = eventLoopLag(registry)
  return {
    registry,
    stop: () => {
      unsubscribe()
      stopLag()
    }
  }
}

/** Gauges and counters read from the gateway at scrape time. */
function trafficMetrics (registry: Registry, gateway: MetricsSource, options: MetricsOptions): void {
  const registers = [registry]
  new Gauge({
    name: name('connections_active'),
    help: 'Bridged WebSocket connections open now.',
    registers,
    collect () { this.set(gateway.connections) }
  })
  // Totals only ever grow, so they are counters; they are summed on demand
  // instead of being bumped per packet.
  const totals = (suffix: string, help: string, pick: (s: GatewayStats) => [number, number]): void => {
    new Counter({
      name: name(suffix),
      help,
      labelNames: ['direction'] as const,
      registers,
      collect () {
        const [fromClient, toClient] = pick(gateway.stats())
        this.reset()
        this.inc({ direction: 'from_client' }, fromClient)
        this.inc({ direction: 'to_client' }, toClient)
      }
    })
  }
  totals('bytes_total', 'MQTT bytes bridged, by direction (from_client: to the broker).',
    (s) => [s.bytesFromClients, s.bytesToClients])
  totals('packets_total', 'MQTT packets bridged, by direction (from_client: to the broker).',
    (s) => [s.packetsFromClients, s.packetsToClients])
  new Gauge({
    name: name('buffered_bytes'),
    help: 'Bytes held in the gateway now, waiting for a slow client or broker, both directions.',
    registers,
    collect () { this.set(gateway.stats().bufferedBytes) }
  })
  if (options.tcpUpstream) {
    new Gauge({
      name: name('upstream_reachable'),
      help: '1 if the last TCP probe of the upstream broker connected, else 0 (checked every few seconds).',
      registers,
      // Across --workers: 1 only if every worker reaches the broker.
      aggregator: 'min',
      collect () { this.set(options.upstreamReachable() === true ? 1 : 0) }
    })
  }
}

/** Counters and histograms fed by lifecycle events; returns the unsubscribe function. */
function lifecycleMetrics (registry: Registry, gateway: GatewayRef, options: MetricsOptions): () => void {
  const registers = [registry]
  const opened = new Counter({ name: name('connections_total'), help: 'WebSocket connections accepted and bridged.', registers })
  const rejected = new Counter({
    name: name('upgrades_rejected_total'),
    help: 'WebSocket upgrades refused, by reason (the HTTP status follows from it).',
    labelNames: ['reason'] as const,
    registers
  })
  for (const reason of Object.keys(upgradeRejections) as UpgradeRejection[]) rejected.inc({ reason }, 0)
  const closed = new Counter({
    name: name('connections_closed_total'),
    help: 'Bridged connections closed, by who closed first and why.',
    labelNames: ['initiator', 'reason'] as const,
    registers
  })
  for (const reason of Object.keys(closeReasons) as CloseReason[]) closed.inc({ initiator: closeReasons[reason].initiator, reason }, 0)
  const duration = new Histogram({
    name: name('connection_duration_seconds'),
    help: 'Lifetime of closed connections, from the 101 answer to both sockets closed.',
    buckets: DURATION_BUCKETS,
    registers
  })
  const handshake = new Histogram({
    name: name('handshake_duration_seconds'),
    help: 'Upgrade request to 101 answer, including the upstream connect.',
    buckets: LATENCY_BUCKETS,
    registers
  })
  // The embedded broker is reached in-process: there is no connect to time.
  const upstreamConnect = !options.tcpUpstream
    ? undefined
    : new Histogram({
      name: name('upstream_connect_duration_seconds'),
      help: 'Connect to the upstream broker: during the upgrade, or after the CONNECT with --upstream-strategy hash.',
      buckets: LATENCY_BUCKETS,
      registers
    })
  const pauses = new Counter({
    name: name('backpressure_pauses_total'),
    help: 'Times one side was paused because the other (slow_side) had a full write buffer.',
    labelNames: ['slow_side'] as const,
    registers
  })
  pauses.inc({ slow_side: 'client' }, 0)
  pauses.inc({ slow_side: 'broker' }, 0)
  const takeovers = new Counter({
    name: name('client_id_takeovers_total'),
    help: 'Connections closed because a new one CONNECTed with the same client id (through this gateway, or through another as the broker said: close reason broker_takeover).',
    registers
  })
  return subscribe(gateway, {
    open: (e) => {
      opened.inc()
      handshake.observe(e.handshakeMs / 1000)
      if (e.upstreamConnectMs !== undefined) upstreamConnect?.observe(e.upstreamConnectMs / 1000)
    },
    upstream: (e) => upstreamConnect?.observe(e.connectMs / 1000),
    reject: (e) => rejected.inc({ reason: e.reason }),
    close: (e) => {
      closed.inc({ initiator: e.initiator, reason: e.reason })
      duration.observe(e.durationMs / 1000)
      // The broker said the same client id connected elsewhere.
      if (e.reason === 'broker_takeover') takeovers.inc()
    },
    backpressure: (e) => { if (e.paused) pauses.inc({ slow_side: e.slowSide }) },
    takeover: () => takeovers.inc()
  })
}

/**
 * Event-loop delay over the time since the previous scrape (the default
 * metrics' nodejs_eventloop_lag_* figures cover the whole life of the
 * process, where one old stall hides every later one). Returns the stop function.
 */
function eventLoopLag (registry: Registry): () => void {
  const delay = monitorEventLoopDelay({ resolution: 20 })
  delay.enable()
  new Gauge({
    name: name('event_loop_lag_seconds'),
    help: '99th percentile of event-loop delay since the previous scrape, in seconds.',
    registers: [registry],
    // Across --workers: the slowest worker's, not a meaningless sum.
    aggregator: 'max',
    collect () {
      // An empty window (two scrapes within the resolution) reads 0.
      this.set(delay.count === 0 ? 0 : delay.percentile(99) / 1e9)
      delay.reset()
    }
  })
  return () => delay.disable()
}

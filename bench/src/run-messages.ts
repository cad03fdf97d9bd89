/**
 * A messages run: connect subscribers, then publishers; drive the publishers
 * for `duration` seconds or `count` messages; wait (bounded) for what is in
 * flight; measure; close everything.
 */
import type { BenchClient, ClientRole } from './client.js'
import { openPool } from './connect-pool.js'
import { ClosedLoop, OpenLoop } from './drive.js'
import type { Driver } from './drive.js'
import { summarize } from './latency.js'
import type { BenchOptions } from './options.js'
import { nowMicros } from './payload.js'
import { readCpuMicros, readSyscalls } from './proc.js'
import { PublishBatch } from './publish-batch.js'
import { Publisher } from './publisher.js'
import { Receivers } from './receivers.js'
import type { ConnectStats, CpuUse, MessagesResult } from './results.js'
import { LossLog, closeAll, connectStats, keepAlive, openClient, runId, waitUntil } from './session.js'
import { planTopology } from './topology.js'
import type { Topology } from './topology.js'

export interface MessagesProgress {
  mode: 'messages'
  elapsedS: number
  /** Seconds left of sending, or undefined when it depends on a count. */
  remainingS: number | undefined
  sent: number
  received: number
  /** Messages received per second over the last interval. */
  rate: number
  p99Us: number
  disconnects: number
}

export interface MessagesHooks {
  onProgress?: (progress: MessagesProgress) => void
}

const SETUP_CONCURRENCY = 100

/** Everything one run holds, so its parts can be handed around and closed in one place. */
interface Run {
  options: BenchOptions
  topology: Topology
  clientPrefix: string
  publishers: Publisher[]
  receivers: Receivers
  losses: LossLog
  driver: Driver | undefined
  clients: BenchClient[]
}

export async function runMessages (options: BenchOptions, hooks: MessagesHooks = {}): Promise<MessagesResult> {
  const id = runId()
  const separateSubscribers = options.echo ? 0 : options.subscribers
  const topology = planTopology(options.topics, options.publishers, options.echo ? options.publishers : separateSubscribers, `${options.topicPrefix}/${id}`)
  const publishers: Publisher[] = []
  const run: Run = {
    options,
    topology,
    clientPrefix: `bench-${id}`,
    publishers,
    receivers: new Receivers(publishers, options.echo ? options.publishers : separateSubscribers),
    losses: new LossLog(),
    driver: undefined,
    clients: []
  }
  try {
    const connect = await connectAll(run, separateSubscribers)
    return await measure(run, connect, hooks)
  } finally {
    run.driver?.stop()
    await closeAll(run.clients)
    run.receivers.latency.destroy()
  }
}

/** The role of subscriber `index`, or of a publisher that is also its own subscriber (echo). */
function roleFor (run: Run, index: number, subscribes: boolean, publishes: boolean): ClientRole {
  return {
    onPublish: subscribes ? (_c, body, at, length, now) => run.receivers.onPublish(index, body, at, length, now) : undefined,
    onAck: publishes ? (_c, type, id, reason) => run.publishers[index]?.onAck(type, id, reason) : undefined,
    afterRead: () => run.driver?.wake(),
    onLost: (_c, reason) => run.losses.add(reason)
  }
}

async function connectAll (run: Run, subscribers: number): Promise<ConnectStats> {
  const { options, topology } = run
  const subs = await openPool(subscribers, async j => {
    const client = await openClient(options, `${run.clientPrefix}-s${j}`)
    run.clients.push(client)
    client.role = roleFor(run, j, true, false)
    await client.subscribe(topology.subscriberFilters[j]!.map(topic => ({ topic, qos: options.qos })), options.timeoutMs)
    return client
  }, { rate: 0, concurrency: SETUP_CONCURRENCY })
  const pubs = await openPool(options.publishers, async i => {
    const client = await openClient(options, `${run.clientPrefix}-p${i}`)
    run.clients.push(client)
    client.role = roleFor(run, i, options.echo, true)
    if (options.echo) await client.subscribe(topology.subscriberFilters[i]!.map(topic => ({ topic, qos: options.qos })), options.timeoutMs)
    return client
  }, { rate: 0, concurrency: SETUP_CONCURRENCY })
  const stats = connectStats(subs, pubs)
  if (stats.failed > 0) throw new Error(`${stats.failed} of ${stats.attempted} clients failed to connect: ${stats.errors.join('; ')}`)
  pubs.opened.forEach((client, i) => run.publishers.push(makePublisher(run, i, client!)))
  return stats
}

function makePublisher (run: Run, index: number, client: BenchClient): Publisher {
  const { options, topology } = run
  const batch = new PublishBatch({
    topic: topology.publisherTopics[index]!,
    qos: options.qos,
    version: options.version,
    payloadSize: options.payload,
    publisher: index,
    framing: client.wire.framing
  })
  const limit = options.count === undefined ? Infinity : share(options.count, options.publishers, index)
  const publisher = new Publisher(index, client, batch, options.qos, topology.fanout[index]!, limit)
  client.wire.socket.on('drain', () => run.driver?.wake())
  return publisher
}

/** Publisher `index`'s part of `count` messages spread over `n` publishers. */
function share (count: number, n: number, index: number): number {
  return Math.floor(count / n) + (index < count % n ? 1 : 0)
}

interface ProcessSnapshot { cpuUs: number | undefined, syscalls: number | undefined }

function processSnapshot (pids: readonly number[]): ProcessSnapshot[] {
  return pids.map(pid => ({ cpuUs: readCpuMicros(pid), syscalls: readSyscalls(pid) }))
}

async function measure (run: Run, connect: ConnectStats, hooks: MessagesHooks): Promise<MessagesResult> {
  const { options, publishers, receivers } = run
  const stopPings = keepAlive(() => run.clients, options.keepalive)
  const cpuBefore = processSnapshot(options.pids)
  const toolBefore = process.cpuUsage()
  const startedUs = nowMicros()
  run.driver = options.rate > 0 ? new OpenLoop(publishers, options.rate) : new ClosedLoop(publishers, options.inflight)
  const stopProgress = reportProgress(run, startedUs, hooks)
  run.driver.start()
  await sendingDone(run, startedUs)
  run.driver.stop()
  const sendingEndedUs = nowMicros()
  await waitUntil(() => drained(run), options.drainMs)
  stopProgress()
  stopPings()
  const toolCpu = process.cpuUsage(toolBefore)
  const cpuAfter = processSnapshot(options.pids)
  const endUs = Math.max(receivers.lastArrival, sendingEndedUs)
  const elapsedS = (endUs - startedUs) / 1e6
  const cpu = options.pids.flatMap((pid, i): CpuUse[] => {
    const before = cpuBefore[i]
    const after = cpuAfter[i]
    if (before?.cpuUs === undefined || after?.cpuUs === undefined) return []
    const use = cpuUse(pid, after.cpuUs - before.cpuUs, receivers.received)
    if (before.syscalls === undefined || after.syscalls === undefined || receivers.received === 0) return [use]
    return [{ ...use, syscallsPerMessage: round((after.syscalls - before.syscalls) / receivers.received, 3) }]
  })
  return buildResult(run, connect, elapsedS, cpuUse(process.pid, toolCpu.user + toolCpu.system, receivers.received), cpu)
}

function cpuUse (pid: number, cpuUs: number, messages: number): CpuUse {
  return { pid, cpuUs: Math.round(cpuUs), usPerMessage: messages > 0 ? round(cpuUs / messages, 3) : 0 }
}

function round (value: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** With --count, give up when nothing could be sent for this long (e.g. a broker that stopped acking). */
const SEND_STALL_US = 10_000_000

/**
 * Resolves when the duration is over, every publisher sent its count, no
 * publisher can send, or (count mode) sending has stalled.
 */
function sendingDone (run: Run, startedUs: number): Promise<void> {
  const { options, publishers } = run
  const deadlineUs = startedUs + options.duration * 1e6
  const useDeadline = options.count === undefined
  let lastSent = -1
  let lastProgressUs = startedUs
  return waitUntil(() => {
    const now = nowMicros()
    if (useDeadline && now >= deadlineUs) return true
    const sent = publishers.reduce((sum, p) => sum + p.sent, 0)
    if (sent !== lastSent) {
      lastSent = sent
      lastProgressUs = now
    }
    return now - lastProgressUs > SEND_STALL_US || publishers.every(p => p.done || !p.client.usable)
  }, useDeadline ? options.duration * 1000 + 1000 : 7 * 24 * 3600 * 1000)
}

/** Everything sent has arrived (and, at QoS 1/2, every flow is complete), or nothing more can. */
function drained (run: Run): boolean {
  const { receivers, publishers } = run
  const idsDone = publishers.every(p => p.idsFree || !p.client.usable)
  return idsDone && receivers.received >= receivers.expected()
}

function reportProgress (run: Run, startedUs: number, hooks: MessagesHooks): () => void {
  const onProgress = hooks.onProgress
  if (onProgress === undefined) return () => {}
  let lastReceived = 0
  let lastAt = startedUs
  const timer = setInterval(() => {
    const now = nowMicros()
    const { receivers, options, publishers } = run
    const elapsedS = (now - startedUs) / 1e6
    onProgress({
      mode: 'messages',
      elapsedS,
      remainingS: options.count === undefined ? Math.max(0, options.duration - elapsedS) : undefined,
      sent: publishers.reduce((sum, p) => sum + p.sent, 0),
      received: receivers.received,
      rate: (receivers.received - lastReceived) / ((now - lastAt) / 1e6),
      p99Us: receivers.latency.totalCount > 0 ? receivers.latency.getValueAtPercentile(99) : 0,
      disconnects: run.losses.count
    })
    lastReceived = receivers.received
    lastAt = now
  }, 1000)
  return () => clearInterval(timer)
}

function buildResult (run: Run, connect: ConnectStats, elapsedS: number, toolCpu: CpuUse, cpu: CpuUse[]): MessagesResult {
  const { options, receivers, publishers } = run
  const sent = publishers.reduce((sum, p) => sum + p.sent, 0)
  const expected = receivers.expected()
  return {
    mode: 'messages',
    url: options.target.url,
    scenario: {
      publishers: options.publishers,
      subscribers: options.echo ? 0 : options.subscribers,
      topics: options.topics,
      echo: options.echo,
      qos: options.qos,
      payload: options.payload,
      rate: options.rate,
      inflight: options.inflight,
      duration: options.duration,
      count: options.count,
      mqtt: options.version === 5 ? '5' : '3.1.1',
      wsBatch: options.wsBatch
    },
    elapsedS: round(elapsedS, 3),
    sent,
    expected,
    received: receivers.received,
    lost: Math.max(0, expected - receivers.received),
    duplicated: receivers.duplicates,
    outOfOrder: receivers.outOfOrder,
    skipped: run.driver?.skipped ?? 0,
    rejected: publishers.reduce((sum, p) => sum + p.rejected, 0),
    foreign: receivers.foreign,
    msgPerSec: elapsedS > 0 ? Math.round(receivers.received / elapsedS) : 0,
    mbPerSec: elapsedS > 0 ? round(receivers.bytes / elapsedS / 1e6, 3) : 0,
    latencyUs: summarize(receivers.latency),
    disconnects: run.losses.count,
    disconnectReasons: run.losses.reasons,
    connect,
    toolCpu,
    cpu
  }
}

/**
 * Small real runs of the load tool against an in-process Aedes broker: over
 * mqtt://, and over ws:// through a `ws` server piping into the same broker.
 * A few hundred messages each; nothing may be lost. And the suite's TCP
 * relay (a real socat process) in front of the same broker.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { Aedes } from 'aedes'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { resolveBenchOptions } from '../../src/options.js'
import type { BenchInput } from '../../src/options.js'
import type { ConnectionsResult, MessagesResult } from '../../src/results.js'
import { runScenario } from '../../src/run.js'
import { findSocat, startRelay } from '../../src/suite-processes.js'
import { runBench } from '../../src/cli.js'

let broker: Aedes
let tcpUrl = ''
let wsUrl = ''
const tcpServer = createServer()
// A plain `ws` server in front of the same broker: the tool's WebSocket side
// (handshake, masking, frame reader) checked against another implementation.
const wsServer = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'mqtt' })

before(async () => {
  broker = await Aedes.createBroker()
  tcpServer.on('connection', socket => broker.handle(socket))
  wsServer.on('connection', socket => broker.handle(createWebSocketStream(socket)))
  await new Promise<void>(resolve => tcpServer.listen(0, '127.0.0.1', resolve))
  if ((wsServer.address() as AddressInfo | null)?.port === undefined) await new Promise(resolve => wsServer.once('listening', resolve))
  tcpUrl = `mqtt://127.0.0.1:${(tcpServer.address() as AddressInfo).port}`
  wsUrl = `ws://127.0.0.1:${(wsServer.address() as AddressInfo).port}/mqtt`
})

after(async () => {
  await new Promise<void>(resolve => wsServer.close(() => resolve()))
  await new Promise<void>(resolve => tcpServer.close(() => resolve()))
  await new Promise<void>(resolve => broker.close(() => resolve()))
})

async function messages (input: Omit<BenchInput, 'url'>, url: string): Promise<MessagesResult> {
  const result = await runScenario(resolveBenchOptions({ url, drainMs: 5000, ...input }))
  assert.equal(result.mode, 'messages')
  return result as MessagesResult
}

function assertComplete (r: MessagesResult): void {
  assert.ok(r.sent > 0, 'sent something')
  assert.equal(r.received, r.expected, `received ${r.received} of ${r.expected}`)
  assert.equal(r.lost, 0)
  assert.equal(r.duplicated, 0)
  assert.equal(r.disconnects, 0)
  assert.equal(r.latencyUs.count, r.received)
}

describe('bench against Aedes over mqtt://', () => {
  for (const qos of [0, 1, 2]) {
    test(`QoS ${qos}: 2 publishers → 2 subscribers, 300 messages, nothing lost`, async () => {
      const r = await messages({ qos, publishers: 2, subscribers: 2, topics: 'shared', count: 300, inflight: 50 }, tcpUrl)
      assertComplete(r)
      assert.equal(r.sent, 300)
      assert.equal(r.expected, 600)
      assert.equal(r.outOfOrder, 0)
    })
  }

  test('wildcard fan-in, large payloads', async () => {
    const r = await messages({ publishers: 4, subscribers: 1, topics: 'wildcard', payload: 20_000, count: 200, inflight: 4 }, tcpUrl)
    assertComplete(r)
    assert.ok(r.mbPerSec > 0)
  })

  test('open loop sends at the set rate', async () => {
    const r = await messages({ rate: 1000, duration: 0.5 }, tcpUrl)
    assertComplete(r)
    assert.ok(r.sent >= 400 && r.sent <= 600, `sent ${r.sent} at 1,000 msg/s for 0.5 s`)
  })

  test('echo: a client receives what it publishes', async () => {
    const r = await messages({ echo: true, publishers: 2, topics: 'per-publisher', count: 200 }, tcpUrl)
    assertComplete(r)
    assert.equal(r.expected, 200)
  })

  test('a watched process: CPU and read/write system calls per message', async () => {
    // The broker runs in this process, so it is the tool and the broker together.
    const r = await messages({ qos: 0, count: 5000, inflight: 100, pid: [process.pid] }, tcpUrl)
    assertComplete(r)
    const watched = r.cpu[0]
    assert.equal(watched?.pid, process.pid)
    assert.ok(watched.usPerMessage > 0)
    // 2 connections, each read and written in batches: well under one call per message each way.
    assert.ok(watched.syscallsPerMessage !== undefined && watched.syscallsPerMessage > 0 && watched.syscallsPerMessage < 4, `${watched.syscallsPerMessage} syscalls/msg`)
  })

  test('connections mode opens, holds and closes', async () => {
    const r = await runScenario(resolveBenchOptions({ url: tcpUrl, mode: 'connections', connections: 30, hold: 0.2, pid: [process.pid] })) as ConnectionsResult
    assert.equal(r.connect.connected, 30)
    assert.equal(r.disconnects, 0)
    assert.ok(r.rss !== undefined && r.rss.pid === process.pid)
  })
})

describe('bench against Aedes over ws://', () => {
  for (const wsBatch of [false, true]) {
    test(`QoS 1, 300 messages${wsBatch ? ', packets batched per frame' : ''}, nothing lost`, async () => {
      const r = await messages({ qos: 1, publishers: 2, subscribers: 1, topics: 'per-publisher', count: 300, wsBatch }, wsUrl)
      assertComplete(r)
    })
  }

  test('QoS 2 with 64 KiB payloads', async () => {
    assertComplete(await messages({ qos: 2, payload: 65_536, count: 50, inflight: 8 }, wsUrl))
  })
})

// CI installs socat (.ci/run), so there this suite always runs.
describe('the suite\'s TCP relay (socat) in front of the broker', { skip: findSocat() === undefined && process.env.CI !== 'true' ? 'socat not installed' : false }, () => {
  test('carries QoS 1 both ways with nothing lost, and stops with its service', async () => {
    const socat = findSocat()
    assert.ok(socat !== undefined, 'socat is installed (apt-get install socat)')
    const relay = await startRelay(socat, Number(new URL(tcpUrl).port))
    try {
      assert.notEqual(relay.url, tcpUrl)
      assertComplete(await messages({ qos: 1, publishers: 2, subscribers: 2, topics: 'shared', count: 300 }, relay.url))
      assertComplete(await messages({ qos: 0, payload: 65_536, count: 50, inflight: 8 }, relay.url))
    } finally {
      await relay.service.stop()
    }
    assert.equal(relay.service.running, false)
    await assert.rejects(messages({ count: 1 }, relay.url))
  })
})

describe('the CLI', () => {
  test('--json prints one result line and exits 0', async t => {
    const log = t.mock.method(console, 'log', () => {})
    const code = await runBench(['--url', tcpUrl, '--count', '100', '--qos', '1', '--json'])
    assert.equal(code, 0)
    assert.equal(log.mock.callCount(), 1)
    const result = JSON.parse(String(log.mock.calls[0]?.arguments[0])) as MessagesResult
    assert.equal(result.received, 100)
  })

  test('bad flags exit 2 naming the flag', async t => {
    const error = t.mock.method(console, 'error', () => {})
    assert.equal(await runBench(['--url', tcpUrl, '--qos', '7']), 2)
    assert.match(String(error.mock.calls[0]?.arguments[0]), /--qos/)
  })
})

/**
 * A trace viewer that never reads: it opens /api/trace on a flood of
 * publishes and stops reading at once. The gateway (its own process) must
 * keep its memory bounded while the viewer's events are dropped and counted,
 * must not slow the clients (every message still reaches the subscriber, at
 * about the untraced speed), and must cut the viewer off after it stayed
 * stalled, telling it how many events it lost.
 *
 * Memory is what the gateway still holds after a forced collection (it runs
 * under --expose-gc and reports on SIGUSR2): RSS alone also counts garbage
 * not yet collected, which grew 12-14 MB a round with nothing retained and
 * made this test fail at random.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcessByStdio } from 'node:child_process'
import net from 'node:net'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { stopChild } from '../support/child.js'
import { freePort } from '../support/free-port.js'
import { waitUntil } from '../support/wait.js'
import { connectPacket, encode, subscribePacket } from '../support/mqtt-bytes.js'
import { connectRaw } from '../support/raw-client.js'
import type { RawClient } from '../support/raw-client.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const STALL_MS = 15_000
const ROUND = 25_000
const PER_FRAME = 500
const PUBLISH = encode({ cmd: 'publish', topic: 'flood/line-1', payload: Buffer.alloc(40, 0x61), qos: 0, retain: false, dup: false })
/** Growth allowed, after collection, while the stuck viewer's events are dropped: its queue is 1 MiB at most. */
const HEAP_GROWTH_KB = 4 * 1024
const RSS_GROWTH_KB = 24 * 1024

describe('a trace viewer that never reads', () => {
  let child: ChildProcessByStdio<null, Readable, null>
  const logs: Record<string, unknown>[] = []
  let wsUrl = ''
  let adminPort = 0
  let publisher: RawClient
  let subscriber: RawClient
  let viewer: net.Socket
  let viewerBytes = ''
  let delivered = 0
  const heap: number[] = []
  const rss: number[] = []
  const roundMs: number[] = []
  let reported: ((line: string) => void) | undefined

  /** Has the gateway collect its garbage, then records its heap in use and its RSS. */
  async function measure (): Promise<void> {
    const line = await new Promise<string>((resolve) => {
      reported = resolve
      child.kill('SIGUSR2')
    })
    const [, heapKb = '', rssKb = ''] = line.split(' ')
    heap.push(Number(heapKb))
    rss.push(Number(rssKb))
  }

  /** Publishes ROUND messages in frames of PER_FRAME; resolves once the subscriber has them all. */
  async function round (): Promise<void> {
    const started = performance.now()
    const target = delivered + ROUND
    const frame = Buffer.concat(Array.from({ length: PER_FRAME }, () => PUBLISH))
    for (let i = 0; i < ROUND / PER_FRAME; i++) {
      publisher.sendBinary(frame)
      // Let the loop turn, as a real client's writes would.
      if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve))
    }
    await waitUntil(() => delivered >= target, 60_000, 'the subscriber has every message')
    roundMs.push(performance.now() - started)
  }

  before(async () => {
    child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/support/trace-gateway.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, MWG_TEST_TRACE_LIMITS: JSON.stringify({ stallMs: STALL_MS }), MWG_TEST_ADMIN_PORT: String(await freePort()), NODE_TEST_CONTEXT: '' }
    })
    const ready = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('gateway did not start')), 20_000)
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.startsWith('READY ')) {
          clearTimeout(timer)
          resolve(line)
        } else if (line.startsWith('HEAP ')) reported?.(line)
        else if (line.startsWith('{')) logs.push(JSON.parse(line) as Record<string, unknown>)
      })
    })
    const [, ws = '', admin = ''] = ready.split(' ')
    wsUrl = ws
    adminPort = Number(new URL(admin).port)
    subscriber = await connectRaw(wsUrl)
    subscriber.sendBinary(connectPacket('flood-sink'))
    subscriber.sendBinary(subscribePacket('flood/#'))
    await subscriber.waitFor(() => subscriber.messages.length >= 2, 5000, 'SUBACK')
    // From now on the frames are counted (by their bytes: whole PUBLISH packets) and dropped, not kept.
    subscriber.frames.length = 0
    let bytes = 0
    subscriber.socket.on('data', () => {
      for (const frame of subscriber.frames) bytes += frame.payload.length
      subscriber.frames.length = 0
      delivered = Math.floor(bytes / PUBLISH.length)
    })
    publisher = await connectRaw(wsUrl)
    publisher.sendBinary(connectPacket('flooder'))
    await publisher.waitFor(() => publisher.messages.length >= 1, 5000, 'CONNACK')
  })

  after(async () => {
    viewer?.destroy()
    publisher?.destroy()
    subscriber?.destroy()
    if (child !== undefined) await stopChild(child, 'SIGKILL', 1000)
  })

  test('memory stays bounded, the clients are not slowed, the viewer is cut off with a count', async () => {
    await round() // untraced: the speed to compare with
    viewer = net.connect(adminPort, '127.0.0.1')
    viewer.on('data', (chunk: Buffer) => { viewerBytes += chunk.toString() })
    viewer.write('GET /api/trace?topic=flood/%23&payload=64 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    await waitUntil(() => viewerBytes.includes('"trace_start"'), 5000, 'the trace started')
    viewer.pause() // …and never reads again.
    await round()
    await measure()
    for (let i = 0; i < 3; i++) {
      await round()
      await measure()
    }
    const rounds = `${heap.length - 1} rounds of ${ROUND} traced messages`
    const heapGrowth = Math.max(...heap) - (heap[0] as number)
    assert.ok(heapGrowth < HEAP_GROWTH_KB, `the heap in use grew by ${heapGrowth} kB over ${rounds}: ${heap.join(', ')} kB`)
    const rssGrowth = Math.max(...rss) - (rss[0] as number)
    assert.ok(rssGrowth < RSS_GROWTH_KB, `RSS grew by ${rssGrowth} kB over ${rounds}: ${rss.join(', ')} kB`)
    const listed = await (await fetch(`http://127.0.0.1:${adminPort}/api/traces`)).json() as { traces: { viewers: { queued: number, dropped: number }[] }[] }
    const seen = listed.traces[0]?.viewers[0]
    assert.ok(seen !== undefined)
    assert.ok(seen.queued <= 1000, `${seen.queued} events queued`)
    assert.ok(seen.dropped > 50_000, `${seen.dropped} events dropped`)
    const untraced = roundMs[0] as number
    for (const ms of roundMs.slice(1)) assert.ok(ms < 4 * untraced + 2000, `a traced round took ${Math.round(ms)} ms, untraced ${Math.round(untraced)} ms`)

    // Still stalled past STALL_MS: the next events cut the viewer off.
    await waitUntil(async () => {
      publisher.sendBinary(PUBLISH)
      return logs.some((l) => l.event === 'trace_stop')
    }, STALL_MS + 10_000, 'the viewer cut off', 250)
    const stop = logs.find((l) => l.event === 'trace_stop') as Record<string, unknown>
    assert.equal(stop.reason, 'viewer_cut_off')
    assert.ok((stop.dropped as number) > 50_000)
    // The viewer, reading again, finds the last line: how many it lost.
    viewer.resume()
    await waitUntil(() => viewerBytes.includes('"cut_off"'), 10_000, 'the cut-off line')
    const told = /"type":"cut_off","dir":"gateway","dropped":(\d+)/.exec(viewerBytes)
    assert.equal(Number(told?.[1]), stop.dropped)
    console.log(`# heap in use ${heap.join(', ')} kB; RSS ${rss.join(', ')} kB; rounds ${roundMs.map((ms) => Math.round(ms)).join(', ')} ms (first untraced); dropped ${String(stop.dropped)}`)
  })
})

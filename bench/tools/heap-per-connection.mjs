#!/usr/bin/env node
/**
 * Live heap per idle connection of a gateway build, after forced
 * collections: the figure RSS is too noisy to show below ~2 KB.
 *
 *   node bench/tools/heap-per-connection.mjs <build dir> <broker url> [connections]
 *
 * Runs the build's `dist/index.js` in a child under --expose-gc, in front of
 * the broker; opens and closes 200 connections (so that lazily built code is
 * built), collects, opens `connections` (default 2,000) MQTT-over-WebSocket
 * clients that CONNECT and get their CONNACK, waits 12 s (past the CONNECT
 * deadline, so no timer of the handshake is counted), collects again, and
 * prints the difference per connection. Compare two builds against the same
 * broker: `git worktree add /tmp/before <commit> && (cd /tmp/before && npm ci && npm run build)`.
 */
/* global process, Buffer, console, setTimeout */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import WebSocket from 'ws'

const CHILD = 'child'
const SETTLE_MS = 12_000

if (process.argv[2] === CHILD) {
  const { createGateway } = await import(pathToFileURL(resolve(process.argv[3], 'dist/index.js')).href)
  const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, logLevel: 'silent', upstream: process.argv[4], maxConnections: 20_000, wsPingIdle: 0 })
  process.send({ url: (await gateway.listen()).url })
  process.on('message', (message) => {
    if (message === 'exit') process.exit(0)
    for (let i = 0; i < 3; i++) globalThis.gc()
    process.send({ heap: process.memoryUsage().heapUsed, external: process.memoryUsage().external })
  })
} else {
  const [build, broker, count = '2000'] = process.argv.slice(2)
  if (build === undefined || broker === undefined) {
    console.error('usage: heap-per-connection.mjs <build dir> <broker url> [connections]')
    process.exit(2)
  }
  const n = Number(count)
  const child = fork(fileURLToPath(import.meta.url), [CHILD, build, broker], { execArgv: ['--expose-gc'] })
  const reply = async () => (await once(child, 'message'))[0]
  const { url } = await reply()
  const measure = async () => { child.send('measure'); return reply() }
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
  const connect = (i) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'mqtt')
    ws.on('error', reject)
    ws.on('open', () => {
      const id = Buffer.from(`heap-${process.pid}-${i}`)
      const body = Buffer.concat([Buffer.from([0, 4]), Buffer.from('MQTT'), Buffer.from([4, 2, 0, 0, 0, id.length]), id])
      ws.send(Buffer.concat([Buffer.from([0x10, body.length]), body]))
    })
    ws.once('message', () => resolve(ws))
  })
  const open = async (from, total) => {
    const sockets = []
    for (let i = 0; i < total; i += 100) sockets.push(...await Promise.all(Array.from({ length: Math.min(100, total - i) }, (_, k) => connect(from + i + k))))
    return sockets
  }
  for (const ws of await open(0, 200)) ws.close()
  await sleep(1000)
  const before = await measure()
  const sockets = await open(1000, n)
  await sleep(SETTLE_MS)
  const after = await measure()
  console.log(JSON.stringify({ build, connections: n, heapBytesPerConnection: Math.round((after.heap - before.heap) / n), externalBytesPerConnection: Math.round((after.external - before.external) / n) }))
  child.send('exit')
  for (const ws of sockets) ws.terminate()
}

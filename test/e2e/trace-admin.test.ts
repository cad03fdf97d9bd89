/**
 * The trace endpoints as an operator meets them: who may use them (token,
 * loopback, the requests a web page could forge), the limits (traces at
 * once, traced connections, duration, bad parameters), and a detached trace
 * into the rotating trace file started, listed and stopped with the
 * `trace` command, each start and stop logged with who asked.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { GatewayServer } from '../../src/gateway.js'
import { freePort } from '../support/free-port.js'
import { waitUntil, withTimeout } from '../support/wait.js'
import { connectPacket, publishPacket } from '../support/mqtt-bytes.js'
import { connectRaw } from '../support/raw-client.js'
import type { RawClient } from '../support/raw-client.js'
import { capturingLogger, runCliTrace, streamTrace } from '../support/trace-viewers.js'

const TOKEN = 'fedcba9876543210-unnamed-token'

/** A GET with the headers given, Host included (fetch would not let a test forge it). */
async function rawGet (url: string, headers: Record<string, string>): Promise<{ status: number, body: string, headers: http.IncomingHttpHeaders }> {
  return await new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      // A trace stream never ends by itself: the first bytes are enough.
      res.once('data', () => { if (res.statusCode === 200) req.destroy() })
      res.on('close', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
    })
    req.on('error', (err) => { if (req.destroyed) return; reject(err) })
  })
}

describe('trace endpoints: access, limits, detached traces', () => {
  const log = capturingLogger()
  const dir = mkdtempSync(join(tmpdir(), 'mwg-trace-admin-'))
  const traceFile = join(dir, 'night.ndjson')
  let gateway: GatewayServer
  let admin = ''
  let wsUrl = ''
  const raws: RawClient[] = []

  async function client (id: string): Promise<RawClient> {
    const raw = await connectRaw(wsUrl)
    raws.push(raw)
    raw.sendBinary(connectPacket(id))
    await raw.waitFor(() => raw.messages.length >= 1, 5000, 'CONNACK')
    return raw
  }

  before(async () => {
    gateway = new GatewayServer({
      host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: await freePort(), logger: log.logger, wsPingIdle: 0,
      maxTraces: 2, maxTracedConnections: 1, traceFile, traceMaxDuration: 3600
    })
    const address = await gateway.listen()
    admin = address.adminUrl ?? ''
    wsUrl = address.url
  })

  after(async () => {
    for (const raw of raws) raw.destroy()
    await gateway?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('no token, loopback: a forged Host (DNS rebinding) or a cross-site request is refused and logged', async () => {
    const port = new URL(admin).port
    assert.equal((await rawGet(`${admin}api/trace?client=x`, { Host: `127.0.0.1:${port}` })).status, 200)
    const rebound = await rawGet(`${admin}api/trace?client=x`, { Host: `attacker.example:${port}` })
    assert.equal(rebound.status, 403)
    assert.equal((JSON.parse(rebound.body) as { error: string }).error, 'MWG_ERR_TRACE_FORBIDDEN')
    assert.equal((await rawGet(`${admin}api/connections`, { Host: `localhost:${port}`, 'Sec-Fetch-Site': 'cross-site' })).status, 403)
    assert.ok(log.entries().some((e) => e.event === 'trace_refused' && e.remote === '127.0.0.1'))
    // Metrics and the status page stay as they were.
    assert.equal((await fetch(`${admin}metrics`)).status, 200)
  })

  test('bad parameters: 400 naming them', async () => {
    for (const [query, code] of [['client=a&payload=5000', 'MWG_ERR_TRACE_PARAM'], ['client=a&duration=0', 'MWG_ERR_TRACE_PARAM'], ['client=a&duration=3601', 'MWG_ERR_TRACE_PARAM'], ['topic=a/%23/b', 'MWG_ERR_TRACE_FILTER'], ['', 'MWG_ERR_TRACE_FILTER']]) {
      const res = await fetch(`${admin}api/trace?${query}`)
      assert.equal(res.status, 400, query)
      assert.equal((await res.json() as { error: string }).error, code, query)
    }
    assert.equal((await fetch(`${admin}api/trace?client=a`, { method: 'POST' })).status, 400)
  })

  test('--max-traces: the next trace is refused with 429', async () => {
    const one = await streamTrace(admin, 'client=one')
    const two = await streamTrace(admin, 'client=two')
    const three = await fetch(`${admin}api/trace?client=three`)
    assert.equal(three.status, 429)
    assert.equal((await three.json() as { error: string }).error, 'MWG_ERR_TRACE_LIMIT')
    one.stop()
    two.stop()
    await waitUntil(async () => (await (await fetch(`${admin}api/traces`)).json() as { traces: unknown[] }).traces.length === 0, 5000, 'both ended')
  })

  test('--max-traced-connections: a match beyond it is reported, not traced', async () => {
    const trace = await streamTrace(admin, 'clientPrefix=cap-')
    await client('cap-1')
    await client('cap-2')
    await waitUntil(() => trace.events.some((e) => e.type === 'limit'), 5000, 'the limit event')
    const traced = new Set(trace.events.filter((e) => e.type === 'packet').map((e) => e.conn))
    assert.equal(traced.size, 1)
    assert.match(String(trace.events.find((e) => e.type === 'limit')?.detail), /matches, but 1 connections are traced already \(--max-traced-connections\): not traced/)
    trace.stop()
    await trace.done
  })

  test('the connection list: newest first, searched and paged on the server, at most 200 rows a page', async () => {
    const page = await (await fetch(`${admin}api/connections?q=CAP-&limit=1`)).json() as { total: number, matched: number, rows: { clientId: string, traced: boolean }[] }
    assert.deepEqual([page.total, page.matched, page.rows.map((r) => r.clientId)], [2, 2, ['cap-2']])
    const next = await (await fetch(`${admin}api/connections?q=cap-&limit=1&offset=1`)).json() as { rows: { clientId: string }[] }
    assert.deepEqual(next.rows.map((r) => r.clientId), ['cap-1'])
    assert.equal((await fetch(`${admin}api/connections?limit=201`)).status, 400)
  })

  test('duration: the trace ends by itself', async () => {
    const trace = await streamTrace(admin, 'client=nobody&duration=1')
    await withTimeout(trace.done, 5000, 'the end')
    const end = trace.events.at(-1)
    assert.deepEqual([end?.type, end?.reason], ['trace_end', 'duration'])
    assert.ok((end?.mono as number) - (trace.events[0]?.mono as number) >= 995)
  })

  test('detached into the trace file: started, listed and stopped with the trace command, logged', async () => {
    const started = await runCliTrace(['--client', 'night-owl', '--detach', '--duration', '45m', '--admin', admin])
    assert.equal(started.code, 0, started.stderr)
    const id = /^trace (\d+) \(client "night-owl"\) runs until \S+, into .*night\.ndjson; stop it with: mqtt-ws-gateway trace --stop \d+\n$/.exec(started.stdout)?.[1]
    assert.ok(id !== undefined, started.stdout)
    const owl = await client('night-owl')
    owl.sendBinary(publishPacket('owl/hoot', 'hoo'))
    const listed = await runCliTrace(['--list', '--admin', admin])
    assert.match(listed.stdout, new RegExp(`^trace ${id}: client "night-owl"; \\d+ events, 1 connections now; until \\S+, detached \\(file\\); started by 127\\.0\\.0\\.1\\n$`))
    await waitUntil(() => readFileSync(traceFile, 'utf8').includes('owl/hoot'), 5000, 'the PUBLISH in the file')
    const stopped = await runCliTrace(['--stop', id, '--admin', admin])
    assert.deepEqual([stopped.code, stopped.stdout], [0, `trace ${id} stopped\n`])
    assert.equal((await runCliTrace(['--stop', id, '--admin', admin])).code, 1, 'a second stop: no such trace')
    const lines = readFileSync(traceFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.trace === Number(id))
    assert.deepEqual(lines.map((e) => e.type === 'packet' ? e.packet : e.type), ['trace_start', 'open', 'CONNECT', 'CONNACK', 'PUBLISH', 'trace_end'])
    assert.equal(lines.at(-1)?.reason, 'stopped')
    const logged = log.entries().filter((e) => e.trace === Number(id))
    assert.deepEqual(logged.map((e) => [e.event, e.reason]), [['trace_start', undefined], ['trace_stop', 'stopped']])
    assert.deepEqual(logged[1]?.by, { address: '127.0.0.1' })
  })

  test('the trace command: --help, usage errors exit 2, an unreachable gateway 1', async () => {
    const help = await runCliTrace(['--help'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /^Usage: mqtt-ws-gateway trace <criteria> \[options\]/)
    // Without --admin: the gateway's own variables, as in its container (0.0.0.0 reached on loopback).
    const fromEnv = await runCliTrace(['--list'], { MQTT_WS_GATEWAY_ADMIN_HOST: '0.0.0.0', MQTT_WS_GATEWAY_ADMIN_PORT: new URL(admin).port })
    assert.deepEqual([fromEnv.code, fromEnv.stdout], [0, 'no trace running\n'])
    const none = await runCliTrace(['--admin', admin])
    assert.equal(none.code, 2)
    assert.match(none.stderr, /name what to trace/)
    const down = await runCliTrace(['--client', 'x', '--admin', `http://127.0.0.1:${await freePort()}`])
    assert.equal(down.code, 1)
    assert.match(down.stderr, /cannot reach the admin listener .* \(connection refused\)/)
  })
})

describe('a trace file that cannot be opened', () => {
  const log = capturingLogger()
  let gateway: GatewayServer

  after(async () => { await gateway?.close() })

  test('500 naming the file, logged; the gateway serves on', async () => {
    gateway = new GatewayServer({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: await freePort(), logger: log.logger, traceFile: join(tmpdir(), 'mwg-no-such-dir', 'x', 'trace.ndjson') })
    const admin = (await gateway.listen()).adminUrl ?? ''
    const res = await fetch(`${admin}api/trace?client=a`)
    assert.equal(res.status, 500)
    const body = await res.json() as { error: string, message: string }
    assert.equal(body.error, 'MWG_ERR_TRACE_FILE')
    assert.match(body.message, /cannot open --trace-file .*trace\.ndjson: ENOENT/)
    assert.ok(log.entries().some((e) => e.event === 'trace_file_error'))
    assert.equal((await fetch(`${admin}healthz`)).status, 200)
    assert.equal(gateway.traces.active, false)
  })
})

describe('trace endpoints with --admin-token', () => {
  const log = capturingLogger()
  let gateway: GatewayServer
  let admin = ''

  before(async () => {
    gateway = new GatewayServer({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: await freePort(), logger: log.logger, adminToken: [TOKEN] })
    admin = (await gateway.listen()).adminUrl ?? ''
  })

  after(async () => { await gateway?.close() })

  test('no token or a wrong one: 401 with WWW-Authenticate; the right one: traced, logged by fingerprint', async () => {
    const missing = await fetch(`${admin}api/connections`)
    assert.equal(missing.status, 401)
    assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer /)
    assert.equal((await fetch(`${admin}api/connections`, { headers: { Authorization: 'Bearer not-the-token-at-all' } })).status, 401)
    const trace = await streamTrace(admin, 'client=x', { Authorization: `Bearer ${TOKEN}` })
    assert.equal(trace.status, 200)
    await waitUntil(() => trace.events.length > 0, 5000, 'trace_start')
    trace.stop()
    const start = log.entries().find((e) => e.event === 'trace_start')
    assert.match(String((start?.by as { token?: string }).token), /^sha256:[0-9a-f]{8}$/)
    assert.ok(!log.lines().join('\n').includes(TOKEN))
  })

  test('the trace command reads the token from MQTT_WS_GATEWAY_ADMIN_TOKEN', async () => {
    assert.equal((await runCliTrace(['--list', '--admin', admin], { MQTT_WS_GATEWAY_ADMIN_TOKEN: TOKEN })).code, 0)
    const without = await runCliTrace(['--list', '--admin', admin])
    assert.equal(without.code, 1)
    assert.match(without.stderr, /401: send Authorization: Bearer <admin token>/)
  })
})

/**
 * The live connections list at the scale the status page promises: 10,000
 * connections in one gateway (its own process, the embedded broker, so that
 * no broker socket counts against this machine's 20,000 open files). The
 * list is paged and searched on the server: whatever the number of
 * connections, the page asks for 50 rows and gets 50 rows, a search finds
 * the one connection it names, the answer stays small, and a trace started
 * from the table (by client id) attaches to that connection alone.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { freePort } from '../support/free-port.js'
import { spawnGateway } from '../support/gateway-process.js'
import type { GatewayProcess } from '../support/gateway-process.js'
import { connectPacket } from '../support/mqtt-bytes.js'
import { connectRaw } from '../support/raw-client.js'
import type { RawClient } from '../support/raw-client.js'

const CONNECTIONS = 10_000
const AT_ONCE = 200
/** A page of 50 rows is a few hundred bytes a row; the whole list would be megabytes. */
const MAX_PAGE_BYTES = 50 * 1024

interface Page { total: number, matched: number, rows: { clientId: string, connectionId: number }[] }

/** The n of `many-<n>`: a batch connects at once, so within one batch the order is the gateway's. */
const indexOf = (clientId: string): number => Number(clientId.slice('many-'.length))

describe(`the live connections list with ${CONNECTIONS.toLocaleString('en')} connections`, () => {
  let gw: GatewayProcess
  let admin = ''
  const clients: RawClient[] = []

  before(async () => {
    const adminPort = await freePort()
    admin = `http://127.0.0.1:${adminPort}/`
    gw = await spawnGateway(['--admin-port', String(adminPort), '--max-connections', String(CONNECTIONS), '--tcp-port', '0', '--ws-ping-idle', '0', '--log-level', 'warn'])
    const started = performance.now()
    for (let i = 0; i < CONNECTIONS; i += AT_ONCE) {
      const batch = await Promise.all(Array.from({ length: Math.min(AT_ONCE, CONNECTIONS - i) }, async (_, k) => {
        const client = await connectRaw(gw.url)
        client.sendBinary(connectPacket(`many-${i + k}`))
        await client.waitFor(() => client.messages.length >= 1, 10_000, 'CONNACK')
        client.frames.length = 0
        return client
      }))
      clients.push(...batch)
    }
    console.log(`# ${CONNECTIONS} connections in ${Math.round(performance.now() - started)} ms; gateway RSS ${Math.round(gw.rssKb() / 1024)} MB`)
  })

  after(async () => {
    for (const client of clients) client.socket.destroy()
    await gw?.stop()
  })

  async function list (query: string): Promise<{ page: Page, bytes: number, ms: number }> {
    const started = performance.now()
    const res = await fetch(`${admin}api/connections?${query}`)
    assert.equal(res.status, 200)
    const text = await res.text()
    return { page: JSON.parse(text) as Page, bytes: Buffer.byteLength(text), ms: performance.now() - started }
  }

  test('a page is 50 rows of all of them, newest first, and stays small', async () => {
    const { page, bytes, ms } = await list('limit=50')
    console.log(`# first page: ${bytes} bytes in ${ms.toFixed(1)} ms`)
    assert.equal(page.total, CONNECTIONS)
    assert.equal(page.matched, CONNECTIONS)
    assert.equal(page.rows.length, 50)
    const ids = page.rows.map((r) => r.connectionId)
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest (highest connection number) first')
    for (const row of page.rows) assert.ok(indexOf(row.clientId) >= CONNECTIONS - AT_ONCE, `${row.clientId} is of the last batch`)
    assert.ok(bytes < MAX_PAGE_BYTES, `${bytes} bytes for 50 rows`)
  })

  test('a search finds the one connection it names among all of them', async () => {
    const { page, ms } = await list(`q=many-4321&limit=50`)
    console.log(`# search: ${ms.toFixed(1)} ms`)
    assert.equal(page.total, CONNECTIONS)
    assert.deepEqual(page.rows.map((r) => r.clientId), ['many-4321'])
  })

  test('the last page ends at the last connection', async () => {
    const { page } = await list(`offset=${CONNECTIONS - 20}&limit=50`)
    assert.equal(page.rows.length, 20)
    for (const row of page.rows) assert.ok(indexOf(row.clientId) < AT_ONCE, `${row.clientId} is of the first batch`)
  })

  test('a trace started on one of them attaches to that one alone', async () => {
    const abort = new AbortController()
    const res = await fetch(`${admin}api/trace?client=many-4321`, { signal: abort.signal })
    assert.equal(res.status, 200)
    const events: { type: string, client?: string }[] = []
    const reader = (res.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader()
    let text = ''
    try {
      while (!events.some((e) => e.type === 'attached')) {
        const { value, done } = await reader.read()
        if (done) break
        text += value
        const lines = text.split('\n')
        text = lines.pop() ?? ''
        for (const line of lines) if (line !== '') events.push(JSON.parse(line) as { type: string, client?: string })
      }
    } finally {
      abort.abort()
    }
    const attached = events.filter((e) => e.type === 'attached')
    assert.deepEqual(attached.map((e) => e.client), ['many-4321'])
  })

  test('more rows than a page may hold are refused', async () => {
    assert.equal((await fetch(`${admin}api/connections?limit=201`)).status, 400)
  })
})

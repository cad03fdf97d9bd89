/**
 * MQTT.js's own browser bundle in headless Chromium, as a `ClientDriver`.
 * A tiny loopback HTTP server serves the page and the bundle; each client
 * gets its own browser context (a fresh profile) with one page.
 */
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { ConnackError, Inbox, LossCounter } from './client.js'
import type { ClientDriver, ConnectOptions, QoS, TestClient } from './client.js'
import { programs } from './programs.js'
import { withTimeout } from './wait.js'

const PAGE = fileURLToPath(new URL('../interop/browser/page.html', import.meta.url))
const BUNDLE = createRequire(import.meta.url).resolve('mqtt/dist/mqtt.min') // the export map adds .js
const CALL_TIMEOUT = 10_000

export const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic'
]

export interface BrowserHarness {
  readonly driver: ClientDriver
  close: () => Promise<void>
}

interface PageEvent {
  event: 'message' | 'close'
  topic?: string
  payload?: string
  qos?: QoS
  retain?: boolean
}

interface ConnectResult { ok: boolean, sessionPresent?: boolean, reasonCode?: unknown, error?: string }

async function serveStatic (): Promise<http.Server> {
  const files: Record<string, { type: string, body: Buffer }> = {
    '/': { type: 'text/html; charset=utf-8', body: await readFile(PAGE) },
    '/mqtt.min.js': { type: 'text/javascript; charset=utf-8', body: await readFile(BUNDLE) }
  }
  const server = http.createServer((req, res) => {
    const file = files[req.url ?? '']
    res.writeHead(file === undefined ? 404 : 200, { 'content-type': file?.type ?? 'text/plain' })
    res.end(file?.body ?? 'not found')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

/** Calls `mqttDriver[method](...args)` in the page; arguments travel as JSON. */
async function call<T> (page: Page, method: string, ...args: unknown[]): Promise<T> {
  const expression = `window.mqttDriver.${method}(...${JSON.stringify(args)})`
  return await withTimeout(page.evaluate(expression) as Promise<T>, CALL_TIMEOUT, `browser ${method}`)
}

function onPageEvent (inbox: Inbox, losses: LossCounter): (json: string) => void {
  return (json) => {
    const event = JSON.parse(json) as PageEvent
    if (event.event === 'close') return losses.ended()
    inbox.push({
      topic: event.topic ?? '',
      payload: Buffer.from(event.payload ?? '', 'hex'),
      qos: event.qos ?? 0,
      retain: event.retain === true
    })
  }
}

function pageConnectOptions (options: ConnectOptions): Record<string, unknown> {
  return {
    ...options,
    clean: options.clean ?? true,
    keepalive: options.keepalive ?? 60,
    will: options.will === undefined ? undefined : { ...options.will, payload: options.will.payload.toString('hex') }
  }
}

function connectError (result: ConnectResult): Error {
  if (typeof result.reasonCode === 'number') return new ConnackError(result.reasonCode, result.error)
  return new Error(`browser connect failed: ${result.error ?? 'no reason'}`)
}

function wrap (context: BrowserContext, page: Page, sessionPresent: boolean, inbox: Inbox, losses: LossCounter): TestClient {
  let closed = false
  const closeContext = async (): Promise<void> => {
    losses.expectEnd()
    if (closed) return
    closed = true
    await context.close()
  }
  return {
    sessionPresent,
    get connectionLosses () { return losses.losses },
    get pending () { return inbox.size },
    subscribe: async (topic, qos) => await call<number[]>(page, 'subscribe', topic, qos),
    publish: async (topic, payload, qos, retain = false) => {
      await call<undefined>(page, 'publish', topic, payload.toString('hex'), qos, retain)
    },
    take: async (count, timeoutMs) => await inbox.take(count, timeoutMs),
    disconnect: async () => {
      losses.expectEnd()
      await call<undefined>(page, 'disconnect')
      await closeContext()
    },
    // Closing the context closes the page and with it the WebSocket: no DISCONNECT is sent.
    kill: closeContext,
    close: closeContext
  }
}

async function connectInBrowser (browser: Browser, pageUrl: string, options: ConnectOptions): Promise<TestClient> {
  const context = await browser.newContext()
  try {
    const page = await context.newPage()
    const inbox = new Inbox()
    const losses = new LossCounter()
    await page.exposeFunction('mqttEvent', onPageEvent(inbox, losses))
    await page.goto(pageUrl)
    const result = await call<ConnectResult>(page, 'connect', pageConnectOptions(options))
    if (!result.ok) throw connectError(result)
    return wrap(context, page, result.sessionPresent === true, inbox, losses)
  } catch (err) {
    await context.close()
    throw err
  }
}

/** Starts the page server and one Chromium; `close()` stops both. */
export async function startBrowser (): Promise<BrowserHarness> {
  const server = await serveStatic()
  const pageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  let browser: Browser
  try {
    browser = await chromium.launch({ executablePath: programs.chromium, args: chromiumArgs, timeout: 30_000 })
  } catch (err) {
    server.close()
    throw err
  }
  return {
    driver: {
      name: 'MQTT.js (Chromium)',
      versions: [4, 5],
      connect: async (options) => await connectInBrowser(browser, pageUrl, options)
    },
    close: async () => {
      await browser.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

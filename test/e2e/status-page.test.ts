/**
 * The admin status page in headless Chromium, with MQTT.js clients sending
 * traffic through the gateway: the page shows the live connection count,
 * draws its charts, lists a close, and runs under its own CSP without a
 * single console error. Leaves a screenshot in .tmp/status-page.png.
 */
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { GatewayServer } from '../../src/gateway.js'
import { chromiumArgs } from '../support/browser.js'
import { freePort } from '../support/free-port.js'
import { programs, skipUnlessAvailable } from '../support/programs.js'
import { waitUntil } from '../support/wait.js'
import { startTcpBroker } from '../support/brokers.js'
import type { TcpBroker } from '../support/brokers.js'

const SCREENSHOT = fileURLToPath(new URL('../../.tmp/status-page.png', import.meta.url))

describe('status page in Chromium', { skip: skipUnlessAvailable('status page', 'chromium') }, () => {
  let broker: TcpBroker
  let gateway: GatewayServer
  let browser: Browser
  let page: Page
  let adminUrl: string
  const clients: MqttClient[] = []
  const pageErrors: string[] = []
  let publishing: NodeJS.Timeout | undefined

  async function connect (url: string, clientId: string): Promise<MqttClient> {
    const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, connectTimeout: 5000 })
    clients.push(client)
    return client
  }

  before(async () => {
    broker = await startTcpBroker()
    // Samples four times a second over 20 s, so the charts fill within the test.
    gateway = new GatewayServer({
      host: '127.0.0.1', port: 0, adminPort: await freePort(), upstream: broker.url, logLevel: 'silent'
    }, { admin: { sampleIntervalMs: 250, windowMs: 20_000 } })
    const address = await gateway.listen()
    adminUrl = address.adminUrl ?? ''
    const subscriber = await connect(address.url, 'dashboard-subscriber')
    await subscriber.subscribeAsync('plant/#')
    const publisher = await connect(address.url, 'sensor-publisher')
    for (const id of ['sensor-1', 'sensor-2', 'sensor-3']) await connect(address.url, id)
    let tick = 0
    publishing = setInterval(() => {
      // A burst every second, so the message chart has some shape.
      const count = tick++ % 4 === 0 ? 20 : 5
      for (let i = 0; i < count; i++) publisher.publish(`plant/line-${i % 3}`, Buffer.alloc(200 + 50 * (i % 5), 0x61))
    }, 250)
    browser = await chromium.launch({ executablePath: programs.chromium, args: chromiumArgs, timeout: 30_000 })
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.on('console', (message) => { if (message.type() === 'error') pageErrors.push(message.text()) })
    page.on('pageerror', (err) => pageErrors.push(err.message))
    await page.goto(adminUrl)
  })

  after(async () => {
    clearInterval(publishing)
    await browser?.close()
    for (const client of clients) client.end(true)
    await gateway?.close()
    await broker?.kill()
  })

  test('shows the live connection count', async () => {
    await waitUntil(async () => Number(await page.locator('#t-connections').innerText()) >= 5, 5000, 'five connections shown')
    assert.match(await page.locator('#ready').innerText(), /^ready$/)
    assert.match(await page.locator('#upstream').innerText(), /^upstream mqtt:\/\/127\.0\.0\.1:\d+$/)
  })

  test('draws connections, messages/s and bytes/s as lines', async () => {
    // Locators, not page functions: the page's CSP forbids evaluating strings.
    const points = async (chart: string): Promise<number> => {
      const line = page.locator(`#${chart} polyline`).first()
      return (await line.count()) === 0 ? 0 : ((await line.getAttribute('points')) ?? '').split(' ').length
    }
    await waitUntil(async () => (await points('c-connections')) >= 8 && (await points('c-messages')) >= 8 && (await points('c-bytes')) >= 8,
      10_000, 'eight points in every chart')
    // Samples are per interval and publishing is bursty: wait for a non-zero one.
    await waitUntil(async () => (await page.locator('#t-msg-to').innerText()) !== '0/s', 5000, 'a non-zero message rate')
    assert.match(await page.locator('#t-msg-to').innerText(), /^[\d.]+k?\/s$/)
  })

  test('lists a client that disconnected in the closes table', async () => {
    const leaving = clients.find((c) => c.options.clientId === 'sensor-2')
    assert.ok(leaving !== undefined)
    await leaving.endAsync()
    const row = page.locator('#closes tr', { hasText: 'sensor-2' })
    await row.waitFor({ timeout: 5000 })
    const cells = await row.locator('td').allInnerTexts()
    assert.equal(cells.length, 7)
    assert.equal(cells[1], 'sensor-2')
    assert.equal(cells[2], '127.0.0.1')
    assert.match(cells[3] ?? '', /^mqtt:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(cells[4], 'client')
    assert.match(cells[5] ?? '', /^client_(disconnect|close)/)
    assert.equal(await page.locator('#no-closes').isHidden(), true)
    await waitUntil(async () => await page.locator('#t-connections').innerText() === '4', 5000, 'four connections shown')
  })

  test('renders without console errors (CSP included) and leaves a screenshot', async () => {
    // Let the charts run on a little after the close.
    await new Promise((resolve) => setTimeout(resolve, 3000))
    mkdirSync(fileURLToPath(new URL('.', `file://${SCREENSHOT}`)), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    assert.deepEqual(pageErrors, [])
  })
})

/**
 * `Origin: null` from a real browser. A page from an allowed origin opens a
 * WebSocket (let in), and embeds a sandboxed iframe that opens another: the
 * iframe's origin is opaque, so Chromium sends `Origin: null`, which any page
 * on the web can produce and must be refused (403) like any other origin
 * that is not listed, even though requests without an Origin are let in.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, test } from 'node:test'
import { chromium } from 'playwright-core'
import { createGateway } from '../../src/index.js'
import { chromiumArgs } from '../support/browser.js'
import { programs } from '../support/programs.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { waitUntil } from '../support/wait.js'
import { captureLogs } from '../support/logs.js'

/** The page: one WebSocket of its own, one from a sandboxed iframe; results in window.results. */
function pageHtml (wsUrl: string): string {
  const probe = (who: string, report: string): string =>
    `const ws = new WebSocket(${JSON.stringify(wsUrl)}, 'mqtt');` +
    `ws.onopen = () => { ${report}({ who: '${who}', result: 'open' }); ws.close() };` +
    `ws.onerror = () => ${report}({ who: '${who}', result: 'error' });`
  const inner = `<script>${probe('iframe', '((m) => parent.postMessage(m, \'*\'))')}</script>`
  return `<!doctype html><html><body><script>
window.results = {};
window.addEventListener('message', (e) => { window.results[e.data.who] = e.data.result });
${probe('top', '((m) => { window.results[m.who] = m.result })')}
const frame = document.createElement('iframe');
frame.setAttribute('sandbox', 'allow-scripts');
frame.srcdoc = ${JSON.stringify(inner).replace(/</g, '\\u003c')};
document.body.appendChild(frame);
</script></body></html>`
}

async function servePage (html: () => string): Promise<{ origin: string, close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(html())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

describe('Origin: null from Chromium', { skip: skipUnlessAvailable('Origin: null from Chromium', 'chromium') }, () => {
  test('a sandboxed iframe on an allowed page is refused with 403; the page itself is let in', async (t) => {
    let wsUrl = ''
    const page = await servePage(() => pageHtml(wsUrl))
    t.after(() => page.close())
    const logs = captureLogs()
    // allowMissingOrigin stays at its default (true): devices without an Origin get in.
    const gateway = createGateway({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: 0, logger: logs.logger, allowedOrigins: [page.origin] })
    wsUrl = (await gateway.listen()).url
    t.after(() => gateway.close())

    const browser = await chromium.launch({ executablePath: programs.chromium, args: chromiumArgs, timeout: 30_000 })
    t.after(() => browser.close())
    const tab = await browser.newPage()
    await tab.goto(`${page.origin}/`)
    await tab.waitForFunction('window.results.top !== undefined && window.results.iframe !== undefined', undefined, { timeout: 10_000 })
    const results = await tab.evaluate('window.results') as Record<string, string>

    assert.equal(results.top, 'open', 'the allowed page connects')
    assert.equal(results.iframe, 'error', 'the sandboxed iframe does not')
    await waitUntil(() => logs.find({ event: 'reject', reason: 'origin' }) !== undefined, 2000, 'the refusal logged')
    const refusal = logs.find({ event: 'reject', reason: 'origin' })
    assert.equal(refusal?.status, 403)
    assert.equal(refusal?.detail, 'null')
    assert.equal(logs.lines.filter((l) => l.event === 'open').length, 1, 'one connection: the page\'s own')
  })
})

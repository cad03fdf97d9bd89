/**
 * Who names the client behind a real reverse proxy. nginx and HAProxy run in
 * front of the gateway as their docs set them up; the client connects from
 * its own loopback address (127.0.0.7) and sends spoofed `Forwarded`,
 * `X-Forwarded-For` and `X-Real-IP` headers, different on every upgrade.
 * Only the header the proxy writes (--client-address-header) is believed:
 * the gateway logs and limits 127.0.0.7, so under --max-connections-per-ip 2
 * the third upgrade gets 429 whatever the client claims.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import { createGateway } from '../../src/index.js'
import type { GatewayOptions } from '../../src/index.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { waitUntil } from '../support/wait.js'
import { captureLogs } from '../support/logs.js'
import { upgrade } from '../support/raw-client.js'
import type { UpgradeResult } from '../support/raw-client.js'
import { startHaproxy, startNginx } from '../support/reverse-proxy.js'
import type { ReverseProxy } from '../support/reverse-proxy.js'

const CLIENT = '127.0.0.7'

async function startGateway (t: TestContext, options: Partial<GatewayOptions>): Promise<{ port: number, logs: ReturnType<typeof captureLogs> }> {
  const logs = captureLogs()
  const gateway = createGateway({
    host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: 0, logger: logs.logger, closeTimeout: 300,
    trustedProxies: ['127.0.0.1'], maxConnectionsPerIp: 2, ...options
  })
  const { port } = await gateway.listen()
  t.after(() => gateway.close())
  return { port, logs }
}

/** Three upgrades from 127.0.0.7 through `proxy`, each claiming another address in every header. */
async function threeSpoofedUpgrades (t: TestContext, proxy: ReverseProxy): Promise<UpgradeResult[]> {
  const results: UpgradeResult[] = []
  for (let i = 1; i <= 3; i++) {
    const result = await upgrade(proxy.url, {
      protocol: 'mqtt',
      localAddress: CLIENT,
      headers: { Forwarded: `for=198.51.100.${i}`, 'X-Forwarded-For': `198.51.100.${100 + i}`, 'X-Real-IP': `198.51.100.${200 + i}` }
    })
    if (result.ok) t.after(() => result.client.destroy())
    results.push(result)
  }
  return results
}

async function assertClientIsItself (t: TestContext, proxy: ReverseProxy, logs: ReturnType<typeof captureLogs>): Promise<void> {
  const results = await threeSpoofedUpgrades(t, proxy)
  assert.deepEqual(results.map((r) => r.ok ? 101 : r.status), [101, 101, 429], proxy.log())
  assert.equal(logs.find({ event: 'reject', reason: 'limit_ip' })?.remote, CLIENT)
  // The address came from a header: no port (the proxy's source port would be a lie).
  assert.deepEqual(logs.lines.filter((l) => l.event === 'open').map((l) => l.remote), [CLIENT, CLIENT])
  const [first] = results
  if (first?.ok === true) first.client.destroy()
  await waitUntil(() => logs.find({ event: 'close' }) !== undefined, 3000, 'close log line')
  assert.equal(logs.find({ event: 'close' })?.remote, CLIENT)
}

describe('client address behind nginx', { skip: skipUnlessAvailable('client address behind nginx', 'nginx') }, () => {
  test('X-Forwarded-For from $proxy_add_x_forwarded_for (the default): a client-sent Forwarded is ignored', async (t) => {
    const { port, logs } = await startGateway(t, {})
    const proxy = await startNginx(t, port, ['proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;'])
    await assertClientIsItself(t, proxy, logs)
  })

  test('--client-address-header forwarded: the Forwarded element nginx appends; X-Forwarded-For is ignored', async (t) => {
    const { port, logs } = await startGateway(t, { clientAddressHeader: 'forwarded' })
    const proxy = await startNginx(t, port, ['proxy_set_header Forwarded $proxy_add_forwarded;'])
    await assertClientIsItself(t, proxy, logs)
  })

  test('--client-address-header x-real-ip: the X-Real-IP nginx sets over the client\'s own', async (t) => {
    const { port, logs } = await startGateway(t, { clientAddressHeader: 'x-real-ip' })
    const proxy = await startNginx(t, port, ['proxy_set_header X-Real-IP $remote_addr;'])
    await assertClientIsItself(t, proxy, logs)
  })
})

describe('client address behind HAProxy', { skip: skipUnlessAvailable('client address behind HAProxy', 'haproxy') }, () => {
  // Debian 12's HAProxy 2.6 has no `option forwarded` (RFC 7239; HAProxy 2.8+).
  test('option forwardfor appends X-Forwarded-For (the default): a client-sent Forwarded is ignored', async (t) => {
    const { port, logs } = await startGateway(t, {})
    const proxy = await startHaproxy(t, port, ['option forwardfor'])
    await assertClientIsItself(t, proxy, logs)
  })
})

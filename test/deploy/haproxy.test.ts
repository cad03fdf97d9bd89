/**
 * deploy/haproxy/haproxy.cfg: `haproxy -c -f` with its variables set (and
 * refused without one), what the file must say for long-lived WebSockets
 * behind PROXY protocol, and the health check seen from HAProxy itself: a
 * real gateway's admin /readyz keeps it UP, a missing gateway goes DOWN, and
 * a gateway that gets SIGTERM is taken out by its 503 within
 * fall × inter + timeout check.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { stopChild, tail } from '../support/child.js'
import { freePort } from '../support/free-port.js'
import { waitUntil } from '../support/wait.js'
import { spawnGateway } from '../support/gateway-process.js'
import type { GatewayProcess } from '../support/gateway-process.js'
import { connectRaw } from '../support/raw-client.js'
import type { RawClient } from '../support/raw-client.js'
import {
  LONGEST_KEEPALIVE_S, ROOT, deployFile, haproxyDetectionSeconds, haproxyDirective, haproxyLines, haproxyTime,
  haproxyVariables
} from '../support/deploy-files.js'
import { deployPrograms, skipUnlessInstalled } from '../support/deploy-programs.js'

const CONFIG = deployFile('haproxy', 'haproxy.cfg')
const lines = haproxyLines()

/** haproxy -c -f with `env` as its whole environment. */
function check (env: Record<string, string>): { status: number | null, output: string } {
  const result = spawnSync(deployPrograms.haproxy, ['-c', '-f', CONFIG], { env, encoding: 'utf8', timeout: 20_000 })
  return { status: result.status, output: result.stdout + result.stderr }
}

async function loopbackVariables (): Promise<Record<string, string>> {
  const env: Record<string, string> = {}
  for (const name of haproxyVariables()) env[name] = name.endsWith('_ADDR') ? '127.0.0.1' : String(await freePort())
  return env
}

function serverLines (): string[][] {
  return lines.filter((words) => words[0] === 'server')
}

describe('deploy/haproxy/haproxy.cfg', { skip: skipUnlessInstalled('HAProxy configuration', 'haproxy') }, () => {
  test('haproxy -c accepts it with its variables set', async () => {
    const env = await loopbackVariables()
    assert.deepEqual(Object.keys(env), [
      'FRONTEND_ADDR', 'FRONTEND_PORT', 'GATEWAY_A_ADDR', 'GATEWAY_A_ADMIN_PORT', 'GATEWAY_A_PORT',
      'GATEWAY_B_ADDR', 'GATEWAY_B_ADMIN_PORT', 'GATEWAY_B_PORT'
    ])
    const result = check(env)
    assert.equal(result.status, 0, result.output)
  })

  test('and refuses it when a variable is missing: no silent default address', async () => {
    const { GATEWAY_B_ADMIN_PORT: _dropped, ...env } = await loopbackVariables()
    const result = check(env)
    assert.equal(result.status, 1)
    assert.match(result.output, /'server gateways\/gateway_b' : 'port' expects a port number/)
  })

  test('mode tcp, leastconn, PROXY v2 to every gateway, retries on another gateway', () => {
    assert.deepEqual(haproxyDirective(['mode']), ['tcp'])
    assert.deepEqual(haproxyDirective(['balance']), ['leastconn'])
    assert.deepEqual(haproxyDirective(['option', 'redispatch']), ['1'], 'redispatch on every retry')
    assert.ok(Number(haproxyDirective(['retries'])?.[0]) >= 1)
    const defaults = haproxyDirective(['default-server']) ?? []
    assert.ok(defaults.includes('send-proxy-v2') && defaults.includes('check'), defaults.join(' '))
    assert.ok(!lines.some((words) => words.includes('on-marked-down')), 'a gateway marked down drains its own clients')
  })

  test('the health check is GET /readyz on each gateway\'s admin port, without a PROXY header', () => {
    assert.deepEqual(haproxyDirective(['option', 'httpchk']), [])
    const send = haproxyDirective(['http-check', 'send']) ?? []
    assert.deepEqual(send.slice(0, 4), ['meth', 'GET', 'uri', '/readyz'])
    assert.deepEqual(haproxyDirective(['http-check', 'expect']), ['status', '200'])
    assert.ok(!lines.some((words) => words.includes('check-send-proxy')))
    const servers = serverLines()
    assert.equal(servers.length, 2)
    for (const words of servers) {
      const name = (words[1] ?? '').replace('gateway_', '').toUpperCase()
      assert.equal(words[2], `"\${GATEWAY_${name}_ADDR}:\${GATEWAY_${name}_PORT}"`)
      assert.deepEqual(words.slice(3), ['port', `"\${GATEWAY_${name}_ADMIN_PORT}"`])
    }
  })

  test('an open WebSocket outlives 1.5 × the longest MQTT keep-alive README.md ("Running a fleet") documents', () => {
    assert.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), new RegExp(`keep-alives up to \\*\\*${LONGEST_KEEPALIVE_S} s\\*\\*`))
    const tunnel = haproxyTime(haproxyDirective(['timeout', 'tunnel'])?.[0] ?? '0')
    assert.ok(tunnel > 1.5 * LONGEST_KEEPALIVE_S, `timeout tunnel ${tunnel} s`)
    assert.ok(haproxyDirective(['timeout', 'client-fin']) !== undefined)
  })

  describe('health checks against a real gateway', () => {
    let haproxy: ChildProcess | undefined
    let gateway: GatewayProcess | undefined
    let client: RawClient | undefined
    const log = tail()
    after(async () => {
      client?.destroy()
      if (gateway !== undefined) await gateway.stop()
      if (haproxy !== undefined) await stopChild(haproxy, 'SIGKILL', 1000)
    })

    test('UP while /readyz answers 200, DOWN on its 503 after SIGTERM within fall × inter + timeout check', async () => {
      const env = await loopbackVariables()
      gateway = await spawnGateway(['--admin-port', env.GATEWAY_A_ADMIN_PORT as string, '--tcp-port', '0'])
      env.GATEWAY_A_PORT = new URL(gateway.url).port
      haproxy = spawn(deployPrograms.haproxy, ['-db', '-f', CONFIG], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      haproxy.stdout?.on('data', log.push)
      haproxy.stderr?.on('data', log.push)
      await waitUntil(() => /Server gateways\/gateway_b is DOWN/.test(log.text()), 5000, `gateway_b (no gateway there) DOWN\n${log.text()}`)
      // Rise and fall both count checks inter apart: a few of them have passed for A.
      await new Promise((resolve) => setTimeout(resolve, 1000 + 2 * 500))
      assert.doesNotMatch(log.text(), /gateway_a is DOWN/)
      // A client that never answers the close frame keeps the drain, and so the 503, going.
      client = await connectRaw(gateway.url)
      const bound = haproxyDetectionSeconds(lines)
      const signalled = Date.now()
      gateway.child.kill('SIGTERM')
      await waitUntil(() => /gateway_a is DOWN/.test(log.text()), (bound + 1) * 1000, `gateway_a DOWN after SIGTERM\n${log.text()}`)
      const seconds = (Date.now() - signalled) / 1000
      console.log(`HAProxy marked the draining gateway DOWN ${seconds.toFixed(2)} s after SIGTERM (bound ${bound} s)`)
      assert.match(log.text(), /gateway_a is DOWN, reason: Layer7 wrong status, code: 503/)
      assert.ok(seconds <= bound + 0.5, `${seconds} s > ${bound} s`)
    })
  })
})

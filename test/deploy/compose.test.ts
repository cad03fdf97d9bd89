/**
 * deploy/compose.yaml, the fleet as containers (HAProxy -> 2 gateways ->
 * Mosquitto), checked without Docker: HAProxy gets every variable
 * haproxy.cfg expands and `haproxy -c` accepts the file with Compose's
 * values; its servers are the gateways' fixed addresses, their WebSocket and
 * admin ports as the gateways resolve them (--print-config); the gateways
 * trust PROXY headers from HAProxy's address; HAProxy's health checks take a
 * draining gateway out before its --shutdown-delay ends; docker stop waits
 * for the whole drain.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, test } from 'node:test'
import {
  STOP_MARGIN_S, deployFile, haproxyDetectionSeconds, haproxyVariables, parseSpan, readCompose
} from '../support/deploy-files.js'
import type { ComposeService } from '../support/deploy-files.js'
import { gatewayInvocations, optionValue, printConfig, todaysOptions } from '../support/deploy-gateway-cli.js'
import { deployPrograms, skipUnlessInstalled } from '../support/deploy-programs.js'

const compose = readCompose()
const haproxy = compose.services.haproxy as ComposeService
const haproxyEnv = haproxy.environment ?? {}
const gateways = gatewayInvocations().filter((i) => i.source.startsWith('deploy/compose.yaml'))

function address (service: ComposeService | undefined): string | undefined {
  const networks = service?.networks
  return networks === undefined || Array.isArray(networks) ? undefined : networks.fleet?.ipv4_address
}

describe('deploy/compose.yaml', () => {
  test('two gateways built from deploy/Dockerfile, one HAProxy running deploy/haproxy/haproxy.cfg, one Mosquitto', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['gateway-a', 'gateway-b', 'haproxy', 'mosquitto'])
    assert.deepEqual(gateways.map((g) => g.source), ['deploy/compose.yaml gateway-a', 'deploy/compose.yaml gateway-b'])
    assert.deepEqual(haproxy.volumes, ['./haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro'])
    const published = Object.entries(compose.services).filter(([, s]) => s.ports !== undefined).map(([name]) => name)
    assert.deepEqual(published, ['haproxy'], 'clients reach the gateways through HAProxy only')
  })

  test('HAProxy\'s image is the HAProxy release the tests run', { skip: skipUnlessInstalled('compose HAProxy version', 'haproxy') }, () => {
    const version = /version (\d+\.\d+)/.exec(spawnSync(deployPrograms.haproxy, ['-v'], { encoding: 'utf8' }).stdout)?.[1]
    assert.equal(haproxy.image, `haproxy:${version}`)
  })

  test('HAProxy gets every variable haproxy.cfg expands, and haproxy -c accepts the file with them', { skip: skipUnlessInstalled('compose HAProxy variables', 'haproxy') }, () => {
    assert.deepEqual(Object.keys(haproxyEnv).sort(), haproxyVariables())
    const result = spawnSync(deployPrograms.haproxy, ['-c', '-f', deployFile('haproxy', 'haproxy.cfg')], { env: haproxyEnv, encoding: 'utf8' })
    assert.equal(result.status, 0, result.stdout + result.stderr)
  })

  test('HAProxy\'s servers are the gateways\' addresses and ports; the gateways trust HAProxy alone', async () => {
    for (const [letter, name] of [['A', 'gateway-a'], ['B', 'gateway-b']] as const) {
      const invocation = gateways.find((g) => g.source.endsWith(name))
      assert.ok(invocation !== undefined)
      const today = await todaysOptions(invocation)
      const config = await printConfig(today.args, today.env)
      assert.equal(haproxyEnv[`GATEWAY_${letter}_ADDR`], address(compose.services[name]))
      assert.equal(Number(haproxyEnv[`GATEWAY_${letter}_PORT`]), config.port)
      assert.equal(Number(haproxyEnv[`GATEWAY_${letter}_ADMIN_PORT`]), config.adminPort, 'health checks on the admin port')
      assert.equal(config.adminHost, '0.0.0.0', 'reachable by HAProxy')
      assert.deepEqual(config.trustedProxies, [address(haproxy)])
      assert.ok(invocation.args.includes('--accept-proxy-protocol'), 'HAProxy sends PROXY v2')
    }
  })

  test('HAProxy takes a draining gateway out before its --shutdown-delay ends', () => {
    const detection = haproxyDetectionSeconds()
    for (const invocation of gateways) {
      const delay = Number(optionValue(invocation, '--shutdown-delay')) / 1000
      assert.ok(delay >= detection, `${invocation.source}: --shutdown-delay ${delay} s < ${detection} s`)
    }
  })

  test('docker stop waits for shutdown-delay + shutdown-period + close-timeout + margin', () => {
    for (const invocation of gateways) {
      const [delay, period, close] = ['--shutdown-delay', '--shutdown-period', '--close-timeout']
        .map((flag) => Number(optionValue(invocation, flag)) / 1000)
      const needed = (delay ?? NaN) + (period ?? NaN) + (close ?? NaN) + STOP_MARGIN_S
      const grace = parseSpan(compose.services[invocation.source.split(' ')[1] as string]?.stop_grace_period ?? '10s')
      assert.ok(grace >= needed, `${invocation.source}: stop_grace_period ${grace} s < ${needed} s`)
    }
  })
})

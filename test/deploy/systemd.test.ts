/**
 * deploy/systemd/mqtt-ws-gateway.service: `systemd-analyze verify` (works
 * without a running systemd: it loads the unit and checks its syntax, known
 * directives and that ExecStart's program exists), `systemd-analyze
 * security --offline` for the hardening (an exposure score, 0 best, 10
 * worst), and the directives the gateway's behaviour depends on: reload is
 * SIGHUP, stop is SIGTERM to the main process with time for the drain, and
 * enough file descriptors for --max-connections.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, test } from 'node:test'
import { GATEWAY_SCRIPT, STOP_MARGIN_S, deployFile, parseSpan, readImage, readUnit, unitValue } from '../support/deploy-files.js'
import { gatewayInvocations, optionValue, printConfig, todaysOptions } from '../support/deploy-gateway-cli.js'
import { deployPrograms, skipUnlessInstalled } from '../support/deploy-programs.js'

const UNIT = deployFile('systemd', 'mqtt-ws-gateway.service')
const unit = readUnit()
const service = (key: string): string | undefined => unitValue(unit, 'Service', key)
const invocation = gatewayInvocations().find((i) => i.source === 'deploy/systemd/mqtt-ws-gateway.service')
/** Highest exposure `systemd-analyze security` may give the unit, in its tenths (20 = 2.0, "OK"). */
const EXPOSURE_THRESHOLD = 20

function analyze (args: string[]): { status: number | null, stdout: string, stderr: string } {
  const result = spawnSync(deployPrograms.systemdAnalyze, args, { encoding: 'utf8', timeout: 60_000 })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe('deploy/systemd/mqtt-ws-gateway.service', () => {
  describe('systemd-analyze', { skip: skipUnlessInstalled('systemd unit', 'systemdAnalyze') }, () => {
    test('verify: no error and no warning', () => {
      const result = analyze(['verify', UNIT])
      assert.equal(result.status, 0, result.stderr)
      assert.equal(result.stderr.trim(), '', 'unknown directives are only warned about: none allowed')
    })

    test('security --offline: exposure at most 2.0', () => {
      const result = analyze(['security', '--offline=yes', `--threshold=${EXPOSURE_THRESHOLD}`, UNIT])
      const score = /Overall exposure level for \S+: (\d+\.\d)/.exec(result.stdout)?.[1]
      console.log(`systemd-analyze security: exposure ${score}`)
      assert.equal(result.status, 0, `exposure ${score} > ${EXPOSURE_THRESHOLD / 10}`)
    })
  })

  test('ExecStart runs the image\'s script with node, directly', () => {
    const [program, script] = (service('ExecStart') ?? '').split(/\s+/)
    assert.equal(program, '/usr/bin/node')
    assert.ok(script?.endsWith(`/${GATEWAY_SCRIPT}`), script)
    assert.equal(readImage().entrypoint[1], GATEWAY_SCRIPT)
    assert.equal(service('Type'), 'exec')
  })

  test('reload is SIGHUP (the gateway re-reads its TLS certificates), stop is SIGTERM to the main process', () => {
    assert.equal(service('ExecReload'), '/bin/kill -HUP $MAINPID')
    assert.equal(service('KillSignal'), 'SIGTERM')
    assert.equal(service('KillMode'), 'mixed', 'with --workers the main process drains its workers itself')
    assert.equal(service('RestartPreventExitStatus'), '2', 'exit 2 is an invalid option')
  })

  test('TimeoutStopSec covers shutdown-delay + shutdown-period + close-timeout + margin', () => {
    assert.ok(invocation !== undefined)
    const [delay, period, close] = ['--shutdown-delay', '--shutdown-period', '--close-timeout'].map((flag) => {
      const value = optionValue(invocation, flag)
      assert.ok(value !== undefined, `${flag} is set in the unit, beside TimeoutStopSec`)
      return Number(value) / 1000
    }) as [number, number, number]
    const needed = delay + period + close + STOP_MARGIN_S
    assert.ok(parseSpan(service('TimeoutStopSec') ?? '0') >= needed, `TimeoutStopSec < ${needed} s`)
  })

  test('LimitNOFILE holds two descriptors per connection at --max-connections, and some', async () => {
    assert.ok(invocation !== undefined)
    const today = await todaysOptions(invocation)
    const config = await printConfig(today.args, today.env)
    assert.ok(Number(service('LimitNOFILE')) >= 2 * Number(config.maxConnections) + 1024)
  })

  test('hardening: a dedicated user, no new privileges, a read-only system, no W^X ban (V8 JITs)', () => {
    const expected: Record<string, string> = {
      User: 'mqtt-ws-gateway',
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      CapabilityBoundingSet: 'CAP_NET_BIND_SERVICE'
    }
    for (const [key, value] of Object.entries(expected)) assert.equal(service(key), value, key)
    assert.equal(service('MemoryDenyWriteExecute'), undefined, 'node cannot run with it')
  })
})

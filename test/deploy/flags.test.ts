/**
 * Every gateway option used anywhere in deploy/ (the Dockerfile's
 * ENTRYPOINT/CMD and ENV, compose.yaml's commands and environments, the
 * Kubernetes containers' args and env, the systemd ExecStart and
 * Environment) is run through the real CLI with `--print-config`, which
 * validates options exactly as a start does. HAProxy and nginx comments
 * mention flags but start nothing, so they are not read.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { gatewayInvocations, knownOptions, printConfig, runCli, todaysOptions, unknownOptions } from '../support/deploy-gateway-cli.js'

describe('gateway options in deploy/', () => {
  const invocations = gatewayInvocations()

  test('every file that starts a gateway is read', () => {
    assert.deepEqual(invocations.map((invocation) => invocation.source), [
      'deploy/Dockerfile',
      'deploy/compose.yaml gateway-a',
      'deploy/compose.yaml gateway-b',
      'deploy/kubernetes/deployment.yaml gateway',
      'deploy/systemd/mqtt-ws-gateway.service'
    ])
    for (const invocation of invocations) {
      assert.ok(invocation.args.length + Object.keys(invocation.env).length > 0, `${invocation.source}: no options found`)
    }
  })

  test('the check can fail: the CLI refuses a misspelled flag and an unknown variable', async () => {
    const [flag, variable] = await Promise.all([
      runCli(['--shutdown-periods', '10000', '--print-config']),
      runCli(['--print-config'], { MQTT_WS_GATEWAY_SHUTDOWN_PERIODS: '10000' })
    ])
    assert.equal(flag.status, 2)
    assert.equal(variable.status, 2)
  })

  test('the values deploy/ gives the options the gateway has today are valid', async () => {
    await Promise.all(invocations.map(async (invocation) => {
      const today = await todaysOptions(invocation)
      await assert.doesNotReject(printConfig(today.args, today.env), invocation.source)
    }))
  })

  test('every flag and MQTT_WS_GATEWAY_* variable in deploy/ is accepted by --print-config', async () => {
    const known = await knownOptions()
    const refused = await Promise.all(invocations.map(async (invocation) => {
      const result = await runCli([...invocation.args, '--print-config'], invocation.env)
      if (result.status === 0) return undefined
      const unknown = unknownOptions(invocation, known)
      return `${invocation.source}: ${unknown.length > 0 ? `unknown ${unknown.join(', ')}` : result.stderr.trim()}`
    }))
    assert.deepEqual(refused.filter((line) => line !== undefined), [])
  })
})

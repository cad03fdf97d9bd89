/**
 * The image's start command, run the way the image runs it, without Docker
 * (none on these machines): the runtime stage's layout rebuilt in a temp
 * directory (WORKDIR with dist/ from `npm run build`, package.json, and a
 * node_modules holding the production dependencies only), then the
 * Dockerfile's exact ENTRYPOINT argv started as PID 1 of a new PID namespace
 * (util-linux `unshare`), as the Dockerfile's USER, with the Dockerfile's
 * ENV (only the addresses and ports moved to free loopback ones). Then:
 * the HEALTHCHECK command passes; SIGTERM, as `docker stop` and the kubelet
 * send it, reaches node as PID 1 and drains (the client gets 1001, the
 * process exits 0); the HEALTHCHECK then fails.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { stopChild, tail } from '../support/child.js'
import { freePort } from '../support/free-port.js'
import { rawMqttConnect } from '../support/upgrade.js'
import { waitUntil, withTimeout } from '../support/wait.js'
import { GATEWAY_SCRIPT, readImage } from '../support/deploy-files.js'
import { buildRuntimeLayout } from '../support/deploy-image-layout.js'

const image = readImage()
const [uid, gid] = image.user.split(':').map(Number) as [number, number | undefined]

/** Why this machine cannot run the test, or false. Root is needed for a PID namespace and setpriv. */
function skipReason (): string | false {
  if (process.env.CI === 'true') return false
  const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore', timeout: 10_000 })
  if (probe.status === 0) return false
  const reason = 'image start command: skipped, `unshare --pid` is not permitted here (needs root)'
  console.error(reason)
  return reason
}

/** Runs `argv` as the image's user: as PID 1 of a new PID namespace when `asPid1`. */
function startAsImageUser (argv: string[], cwd: string, env: Record<string, string>, asPid1: boolean): ChildProcess {
  const setpriv = ['setpriv', `--reuid=${uid}`, `--regid=${gid ?? uid}`, '--clear-groups', '--', ...argv]
  const command = asPid1 ? ['unshare', '--pid', '--fork', '--mount-proc', ...setpriv] : setpriv
  return spawn(command[0] as string, command.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Exit code of the HEALTHCHECK command, run as Docker runs it: in the container's environment. */
async function healthcheck (cwd: string, env: Record<string, string>): Promise<number | null> {
  const child = startAsImageUser(image.healthcheck.command, cwd, env, false)
  const [code] = await withTimeout(once(child, 'exit'), 10_000, 'HEALTHCHECK') as [number | null]
  return code
}

/** The host PID of the namespace's PID 1: the child `unshare --fork` made. */
function pid1Of (unsharePid: number): number {
  const children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/)
  assert.equal(children.length, 1, `unshare has one child: ${children.join(' ')}`)
  return Number(children[0])
}

function status (pid: number): Record<string, string> {
  const entries = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').map((line) => line.split(':\t') as [string, string])
  return Object.fromEntries(entries.filter((entry) => entry.length === 2))
}

describe('the image\'s start command', { skip: skipReason() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mwg-image-'))
  const workdir = join(dir, image.workdir)
  const out = tail()
  let env: Record<string, string>
  let gateway: ChildProcess | undefined
  /** Host PID of the namespace's PID 1: SIGKILL to it ends everything in the namespace. */
  let pid1: number | undefined
  let wsUrl = ''

  before(async () => {
    chmodSync(dir, 0o755)
    await buildRuntimeLayout(workdir)
    const [port, adminPort] = [await freePort(), await freePort()]
    env = {
      PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      ...image.env,
      // Loopback only in tests; everything else as the image sets it.
      MQTT_WS_GATEWAY_HOST: '127.0.0.1',
      MQTT_WS_GATEWAY_PORT: String(port),
      MQTT_WS_GATEWAY_ADMIN_HOST: '127.0.0.1',
      MQTT_WS_GATEWAY_ADMIN_PORT: String(adminPort),
      MQTT_WS_GATEWAY_TCP_PORT: '0'
    }
    wsUrl = `ws://127.0.0.1:${port}/mqtt`
  })

  after(async () => {
    if (pid1 !== undefined) {
      try { process.kill(pid1, 'SIGKILL') } catch { /* already gone */ }
    }
    if (gateway !== undefined) await stopChild(gateway, 'SIGKILL', 1000)
    rmSync(dir, { recursive: true, force: true })
  })

  test('the runtime layout has production dependencies only', () => {
    assert.ok(existsSync(join(workdir, GATEWAY_SCRIPT)), GATEWAY_SCRIPT)
    assert.ok(existsSync(join(workdir, 'node_modules', 'ws')), 'ws, a dependency')
    assert.ok(!existsSync(join(workdir, 'node_modules', 'typescript')), 'no typescript, a dev dependency')
    assert.ok(!existsSync(join(workdir, 'node_modules', 'mqtt')), 'no mqtt, a dev dependency')
  })

  test('the ENTRYPOINT starts as PID 1, as the image\'s user, and the HEALTHCHECK passes', async () => {
    gateway = startAsImageUser(image.entrypoint, workdir, env, true)
    gateway.stdout?.on('data', out.push)
    gateway.stderr?.on('data', out.push)
    await waitUntil(() => out.text().includes('listening on ws://127.0.0.1:'), 20_000, `gateway start\n${out.text()}`)
    const pid = pid1 = pid1Of(gateway.pid as number)
    const proc = status(pid)
    assert.match(proc.NSpid ?? '', /\s1$/, 'PID 1 in its namespace')
    assert.equal(proc.Uid?.split('\t')[0], String(uid))
    assert.deepEqual(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1), image.entrypoint)
    assert.equal(await healthcheck(workdir, env), 0)
  })

  test('SIGTERM reaches node as PID 1: the client gets 1001, the process exits 0, the HEALTHCHECK then fails', async () => {
    assert.ok(gateway !== undefined && pid1 !== undefined, 'started by the previous test')
    const client = await rawMqttConnect(wsUrl, 'image-test')
    const exited = once(gateway, 'exit')
    process.kill(pid1, 'SIGTERM')
    assert.equal(await withTimeout(client.closed, 15_000, `close after SIGTERM\n${out.text()}`), 1001)
    const [exitCode] = await withTimeout(exited, 15_000, `exit after SIGTERM\n${out.text()}`) as [number | null]
    assert.equal(exitCode, 0, out.text())
    assert.match(out.text(), /SIGTERM: closing connections/)
    assert.notEqual(await healthcheck(workdir, env), 0)
  })
})

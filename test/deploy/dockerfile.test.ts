/**
 * deploy/Dockerfile without Docker (none on these machines): linted with
 * dockerfile-utils, the validator of the Docker language server, which
 * follows BuildKit's syntax (dockerfilelint, the other npm linter, has had no
 * release since 2020), then read for what the image must be: multi-stage,
 * production dependencies only, a numeric non-root user, node itself as the
 * exec-form ENTRYPOINT, the admin port in one place and equal to the
 * gateway's default, a HEALTHCHECK node can run, and a build context of
 * exactly what COPY takes. test/deploy/image.test.ts runs its command.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import type { Copy } from 'dockerfile-ast/lib/instructions/copy.js'
import { validate } from 'dockerfile-utils'
import { GATEWAY_SCRIPT, ROOT, readDeployFile, readImage } from '../support/deploy-files.js'
import type { Stage } from '../support/deploy-files.js'
import { printConfig } from '../support/deploy-gateway-cli.js'

const text = readDeployFile('Dockerfile')
const image = readImage(text)

function runs (stage: Stage): string[] {
  return stage.instructions.filter((i) => i.getKeyword() === 'RUN').map((i) => i.getArgumentsContent() ?? '')
}

function copies (stage: Stage): { from: string | undefined, sources: string[] }[] {
  return stage.instructions.filter((i) => i.getKeyword() === 'COPY').map((i) => {
    const from = (i as Copy).getFromFlag()?.getValue() ?? undefined
    const paths = i.getExpandedArguments().map((a) => a.getValue())
    return { from, sources: paths.slice(0, -1) }
  })
}

describe('deploy/Dockerfile', () => {
  test('dockerfile-utils finds no problem in it', () => {
    assert.deepEqual(validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`), [])
  })

  test('the linter is engaged: it flags a broken copy', () => {
    // Single quotes are not JSON: Docker would run that ENTRYPOINT through
    // a shell, and the shell, not node, would be PID 1.
    const broken = text.replace('--interval=10s', '--interval=10')
      .replace(`ENTRYPOINT ["node", "${GATEWAY_SCRIPT}"]`, `ENTRYPOINT ['node', '${GATEWAY_SCRIPT}']`)
    assert.deepEqual(validate(broken).map((d) => d.range.start.line + 1).sort(), [
      text.split('\n').findIndex((line) => line.includes('--interval=10s')) + 1,
      text.split('\n').findIndex((line) => line.startsWith('ENTRYPOINT')) + 1
    ])
  })

  test('multi-stage: the runtime installs production dependencies only and takes dist/ from the build', () => {
    const [build, runtime] = [image.stages[0] as Stage, image.runtime]
    assert.equal(image.stages.length, 2)
    assert.ok(runs(build).some((run) => /^npm ci\b/.test(run) && !run.includes('--omit=dev')), 'build: npm ci with dev dependencies')
    assert.ok(runs(build).includes('npm run build'), 'build: npm run build')
    assert.ok(runs(runtime).some((run) => /^npm ci --omit=dev\b/.test(run)), 'runtime: npm ci --omit=dev')
    assert.ok(!runs(runtime).some((run) => run.includes('npm run build')), 'runtime: no compiler')
    assert.deepEqual(copies(runtime).filter((c) => c.from !== undefined), [{ from: build.name, sources: ['/app/dist'] }])
    assert.equal(runtime.image, build.image, 'both stages on the same Node')
  })

  test('the base image is a Node release package.json allows', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
    const major = Number(/^node:(\d+)-/.exec(image.runtime.image)?.[1])
    const minimum = Number(/>=\s*(\d+)/.exec(pkg.engines.node)?.[1])
    assert.ok(major >= minimum, `${image.runtime.image} vs engines ${pkg.engines.node}`)
  })

  test('it runs as a numeric non-root user, so Kubernetes runAsNonRoot can verify it', () => {
    const [uid, gid] = image.user.split(':')
    assert.match(uid ?? '', /^\d+$/)
    assert.notEqual(Number(uid), 0)
    assert.notEqual(Number(gid ?? uid), 0)
  })

  test('node is PID 1: the exec-form ENTRYPOINT starts node on the gateway script, no shell or npm between', () => {
    assert.deepEqual(image.entrypoint, ['node', GATEWAY_SCRIPT])
    assert.deepEqual(image.cmd, [])
    assert.ok(!image.runtime.instructions.some((i) => i.getKeyword() === 'STOPSIGNAL'), 'SIGTERM, the default, is what drains')
  })

  test('the admin port is set in one place, equal to the gateway\'s default, and listens on all interfaces', async () => {
    const adminPort = image.args.ADMIN_PORT
    assert.ok(adminPort !== undefined, 'ARG ADMIN_PORT')
    const defaults = await printConfig([])
    assert.equal(Number(adminPort), defaults.adminPort, 'ARG ADMIN_PORT vs --print-config')
    assert.equal(image.env.MQTT_WS_GATEWAY_ADMIN_PORT, adminPort)
    const inImage = await printConfig([], image.env)
    assert.equal(inImage.adminHost, '0.0.0.0')
    assert.equal(inImage.adminPort, Number(adminPort))
    assert.deepEqual(image.expose, [String(inImage.port), adminPort])
  })

  test('HEALTHCHECK asks /healthz on the admin port with node (slim images have no curl)', () => {
    const { flags, command } = image.healthcheck
    assert.equal(command[0], 'node')
    assert.match(command.join(' '), /127\.0\.0\.1:' \+ process\.env\.MQTT_WS_GATEWAY_ADMIN_PORT \+ '\/healthz'/)
    assert.ok(Number.parseInt(flags.timeout ?? '') < Number.parseInt(flags.interval ?? ''), 'timeout < interval')
  })

  test('the build context (Dockerfile.dockerignore) is exactly what COPY takes, and all of it exists', () => {
    const ignore = readDeployFile('Dockerfile.dockerignore').split('\n').map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
    assert.equal(ignore[0], '*', 'everything excluded first')
    const allowed = ignore.slice(1).map((line) => line.replace(/^!/, '')).sort()
    const copied = image.stages.flatMap(copies).filter((c) => c.from === undefined).flatMap((c) => c.sources)
    assert.deepEqual([...new Set(copied)].sort(), allowed)
    for (const source of allowed) assert.ok(existsSync(join(ROOT, source)), `${source} exists`)
  })
})

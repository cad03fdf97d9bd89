/**
 * How each file in deploy/ starts the gateway (flags and MQTT_WS_GATEWAY_*
 * variables), and the real CLI to judge them: `--print-config` validates
 * every option the way a start would, then prints the effective values.
 */
import { execFile } from 'node:child_process'
import { GATEWAY_SCRIPT, ROOT, readCompose, readImage, readKubernetes, readUnit, unitValue } from './deploy-files.js'

export interface GatewayInvocation {
  /** Where it comes from, e.g. "deploy/compose.yaml gateway-a". */
  source: string
  /** Options after the gateway script, as the process gets them. */
  args: string[]
  /** MQTT_WS_GATEWAY_* variables the process sees (the image's ENV included). */
  env: Record<string, string>
}

/** A stand-in for values Kubernetes fills in (downward API). */
const FIELD_VALUES: Record<string, string> = { 'metadata.name': 'mqtt-ws-gateway-5d8f7c9b6-x2k4q' }

function gatewayEnv (env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('MQTT_WS_GATEWAY_')))
}

/** Arguments after the gateway script in a command line (ENTRYPOINT + CMD, ExecStart). */
function afterScript (argv: string[], source: string): string[] {
  const index = argv.findIndex((word) => word.endsWith(GATEWAY_SCRIPT))
  if (index === -1) throw new Error(`${source}: no ${GATEWAY_SCRIPT} in ${argv.join(' ')}`)
  return argv.slice(index + 1)
}

function fromDockerfile (): GatewayInvocation {
  const image = readImage()
  return { source: 'deploy/Dockerfile', args: afterScript([...image.entrypoint, ...image.cmd], 'Dockerfile'), env: gatewayEnv(image.env) }
}

function fromCompose (imageEnv: Record<string, string>): GatewayInvocation[] {
  return Object.entries(readCompose().services)
    .filter(([, service]) => service.build?.dockerfile === 'deploy/Dockerfile')
    .map(([name, service]) => ({
      source: `deploy/compose.yaml ${name}`,
      args: service.command ?? [],
      env: gatewayEnv({ ...imageEnv, ...service.environment })
    }))
}

interface EnvVar { name: string, value?: string, valueFrom?: { fieldRef?: { fieldPath: string } } }
interface Container { name: string, image: string, command?: string[], args?: string[], env?: EnvVar[] }

function envValue (variable: EnvVar): string {
  if (variable.value !== undefined) return variable.value
  const field = variable.valueFrom?.fieldRef?.fieldPath
  const value = field === undefined ? undefined : FIELD_VALUES[field]
  if (value === undefined) throw new Error(`no stand-in value for ${variable.name}`)
  return value
}

function fromKubernetes (imageEnv: Record<string, string>): GatewayInvocation[] {
  return readKubernetes()
    .filter(({ manifest }) => manifest.kind === 'Deployment')
    .flatMap(({ file, manifest }) => {
      const spec = manifest.spec as { template: { spec: { containers: Container[] } } }
      return spec.template.spec.containers.map((container) => {
        if (container.command !== undefined) throw new Error(`${file}: command overrides the image's ENTRYPOINT`)
        const env = Object.fromEntries((container.env ?? []).map((variable) => [variable.name, envValue(variable)]))
        return { source: `deploy/kubernetes/${file} ${container.name}`, args: container.args ?? [], env: gatewayEnv({ ...imageEnv, ...env }) }
      })
    })
}

function fromSystemd (): GatewayInvocation {
  const unit = readUnit()
  const execStart = unitValue(unit, 'Service', 'ExecStart') ?? ''
  const env = Object.fromEntries((unit.get('Service')?.get('Environment') ?? []).flatMap((line) =>
    line.split(/\s+/).map((pair) => pair.replace(/^"|"$/g, '').split('=') as [string, string])))
  return { source: 'deploy/systemd/mqtt-ws-gateway.service', args: afterScript(execStart.split(/\s+/), 'ExecStart'), env: gatewayEnv(env) }
}

/** Every place in deploy/ that starts a gateway. */
export function gatewayInvocations (): GatewayInvocation[] {
  const imageEnv = fromDockerfile().env
  return [fromDockerfile(), ...fromCompose(imageEnv), ...fromKubernetes(imageEnv), fromSystemd()]
}

/** Flag names (--x) an argument list uses; a word after a flag that is not a flag is its value. */
export function flagNames (args: string[]): string[] {
  return args.filter((word) => word.startsWith('--'))
}

/** The value an invocation gives an option: the flag wins over the variable, as in the CLI. */
export function optionValue (invocation: GatewayInvocation, flag: string): string | undefined {
  const index = invocation.args.lastIndexOf(flag)
  const next = invocation.args[index + 1]
  if (index !== -1 && next !== undefined && !next.startsWith('--')) return next
  return invocation.env[`MQTT_WS_GATEWAY_${flag.slice(2).toUpperCase().replace(/-/g, '_')}`]
}

export interface CliResult { status: number | null, stdout: string, stderr: string }

/** The environment of this process without MQTT_WS_GATEWAY_* or the test runner's context. */
function cleanEnv (): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('MQTT_WS_GATEWAY_') || key === 'NODE_TEST_CONTEXT' || value === undefined) continue
    env[key] = value
  }
  return env
}

/** `mqtt-ws-gateway <args>` from the source tree, as the other CLI tests run it. */
export async function runCli (args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return await new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: ROOT, env: { ...cleanEnv(), ...env }, encoding: 'utf8', timeout: 30_000
    }, (err, stdout, stderr) => {
      const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ status, stdout, stderr })
    })
  })
}

/** The effective configuration for `args` and `env`; rejects with the CLI's message when refused. */
export async function printConfig (args: string[], env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const result = await runCli([...args, '--print-config'], env)
  if (result.status !== 0) throw new Error(`--print-config exited ${result.status}: ${result.stderr.trim()}`)
  return JSON.parse(result.stdout) as Record<string, unknown>
}

export interface KnownOptions { flags: Set<string>, env: Set<string> }

let known: Promise<KnownOptions> | undefined

/** The flags and variables `--help` lists today (asked once per test file). */
export async function knownOptions (): Promise<KnownOptions> {
  known ??= runCli(['--help']).then(({ stdout }) => ({
    flags: new Set([...stdout.matchAll(/--[a-z][a-z0-9-]*/g)].map((match) => match[0])),
    env: new Set([...stdout.matchAll(/MQTT_WS_GATEWAY_[A-Z0-9_]+/g)].map((match) => match[0]))
  }))
  return await known
}

/** The invocation with only the options the gateway has today: its values can be checked now. */
export async function todaysOptions (invocation: GatewayInvocation): Promise<GatewayInvocation> {
  return withoutOptions(invocation, unknownOptions(invocation, await knownOptions()))
}

/** What an invocation uses that `--help` does not list. */
export function unknownOptions (invocation: GatewayInvocation, known: KnownOptions): string[] {
  return [
    ...flagNames(invocation.args).filter((flag) => !known.flags.has(flag)),
    ...Object.keys(invocation.env).filter((name) => !known.env.has(name))
  ]
}

/** The invocation without the options in `drop` (a flag with its value). */
export function withoutOptions (invocation: GatewayInvocation, drop: string[]): GatewayInvocation {
  const args: string[] = []
  for (let i = 0; i < invocation.args.length; i++) {
    const word = invocation.args[i] as string
    if (!drop.includes(word)) {
      args.push(word)
      continue
    }
    const next = invocation.args[i + 1]
    if (next !== undefined && !next.startsWith('--')) i++
  }
  const env = Object.fromEntries(Object.entries(invocation.env).filter(([name]) => !drop.includes(name)))
  return { source: invocation.source, args, env }
}

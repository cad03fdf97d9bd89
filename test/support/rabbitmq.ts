/**
 * Real RabbitMQ for a test file: Debian's rabbitmq-server (3.10) with its
 * MQTT plugin, one node or a cluster on loopback. Each cluster gets a temp
 * dir with its own Erlang cookie, its own epmd on a free port (so it never
 * meets a RabbitMQ or epmd the machine runs, and node names need not be
 * unique), and each node its own name, ports, config, data and logs there.
 * Nodes run as child processes in their own process group: stop() is
 * SIGTERM to the start script's PID (RabbitMQ's graceful shutdown), kill()
 * is SIGKILL to the group (a crash). What is left when the test process
 * exits, or is ended by a signal (the test runner's timeout), is killed.
 *
 * The cluster forms the way an operator configures it: peer discovery
 * (`classic_config`) naming the first node, which starts alone. The others
 * start one by one once it accepts MQTT, because in 3.10:
 * - a fresh node alone waits 3.3-6.3 s for peers before its MQTT client-id
 *   tracker (a Raft cluster) elects itself; a node that joins during that
 *   wait finds no leader and retries 5 s later;
 * - two nodes joining at once can crash one of them
 *   (`incompatible_feature_flags, {badrpc, nodedown}`);
 * - a seed that lists peers not yet running retries them for 5 s.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isRunning, stopChild, tail } from './child.js'
import { freePort } from './free-port.js'
import { isExecutable } from './programs.js'
import { acceptsTcp, waitUntil } from './wait.js'

export const rabbitPrograms = {
  server: '/usr/lib/rabbitmq/bin/rabbitmq-server',
  ctl: '/usr/lib/rabbitmq/bin/rabbitmqctl',
  epmd: '/usr/bin/epmd'
} as const

/** A boot takes 5-6 s of CPU and 10-13 s here; it took 33 s with the 2 cores loaded 13 deep. */
const NODE_START_TIMEOUT = 90_000
/** A graceful stop with mirrored queues took ~3 s here. */
const NODE_STOP_GRACE = 20_000

/** A policy in the definitions file every node loads at boot, as operators ship them. */
export interface RabbitPolicy {
  name: string
  /** Regular expression on queue names. */
  pattern: string
  definition: Record<string, unknown>
}

export interface RabbitOptions {
  /** Cluster size (default 1). */
  nodes?: number
  /** Extra rabbitmq.conf lines for every node, e.g. `mqtt.durable_queue_type = quorum`. */
  config?: string[]
  policies?: RabbitPolicy[]
  /** Also open the Web MQTT plugin's WebSocket listener (reference runs of the client harness). */
  websockets?: boolean
}

export interface RabbitNode {
  /** Erlang node name, e.g. `mwg-a@localhost`. */
  readonly name: string
  readonly port: number
  /** mqtt://127.0.0.1:PORT */
  readonly url: string
  /** ws://127.0.0.1:PORT/ws of the Web MQTT plugin, when asked for. */
  readonly wsUrl: string | undefined
  /** Milliseconds from spawn until it accepted MQTT connections. */
  readonly startMs: number
  /** Graceful shutdown (SIGTERM, as a service manager stops it); SIGKILL if it lingers. Idempotent. */
  stop: () => Promise<void>
  /** SIGKILL to the node's processes: a crash. */
  kill: () => Promise<void>
  /** The last lines it logged, for failure messages. */
  log: () => string
}

export interface RabbitCluster {
  readonly nodes: readonly RabbitNode[]
  /** The nodes' URLs, comma-separated, in order: a gateway's `upstream`. */
  readonly upstream: string
  /** Milliseconds from the first spawn until every node accepted MQTT. */
  readonly startMs: number
  /** Runs `rabbitmqctl -n NODE ARGS...` against a running node; resolves with its stdout. */
  ctl: (node: RabbitNode, args: string[]) => Promise<string>
  /** Kills every node (their data goes with the temp dir) and epmd, and removes the temp dir. Idempotent. */
  close: () => Promise<void>
}

/** The `skip` option for a suite that needs RabbitMQ: false when it is installed (or under CI=true), else a reason, printed once. */
export function skipUnlessRabbitmq (suite: string): string | false {
  if (process.env.CI === 'true') return false
  const missing = Object.values(rabbitPrograms).filter((path) => !isExecutable(path))
  if (missing.length === 0) return false
  const reason = `${suite}: skipped, missing ${missing.join(', ')} (apt-get install rabbitmq-server)`
  console.error(reason)
  return reason
}

// Process groups still running, killed if the test process ends without closing them.
const live = new Set<ChildProcess>()
const dirs = new Set<string>()

function killLeftovers (): void {
  for (const child of live) signalGroup(child, 'SIGKILL')
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
}

let hooked = false

/** Once, on the first start: test files that never start RabbitMQ keep Node's own signal handling. */
function killLeftoversAtTheEnd (): void {
  if (hooked) return
  hooked = true
  process.once('exit', killLeftovers)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killLeftovers()
      // The handler is gone now: the signal's default action ends the process as it would have.
      process.kill(process.pid, signal)
    })
  }
}

function signalGroup (child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** RabbitMQ's default password hashing (rabbit_password_hashing_sha256): base64(salt ++ sha256(salt ++ password)). */
function passwordHash (password: string): string {
  const salt = randomBytes(4)
  const digest = createHash('sha256').update(Buffer.concat([salt, Buffer.from(password)])).digest()
  return Buffer.concat([salt, digest]).toString('base64')
}

/** A definitions file replaces the default user, so it names guest/guest (MQTT's anonymous login) itself. */
function definitions (policies: RabbitPolicy[]): string {
  return JSON.stringify({
    users: [{ name: 'guest', password_hash: passwordHash('guest'), hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['administrator'] }],
    vhosts: [{ name: '/' }],
    permissions: [{ user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
    policies: policies.map((p) => ({ vhost: '/', name: p.name, pattern: p.pattern, 'apply-to': 'queues', priority: 0, definition: p.definition }))
  })
}

interface NodeSpec {
  name: string
  dir: string
  mqttPort: number
  distPort: number
  wsPort: number | undefined
  /** Node to join through peer discovery; undefined for the first node. */
  seed: string | undefined
}

function configText (spec: NodeSpec, base: string, options: RabbitOptions): string {
  const lines = [
    'listeners.tcp = none',
    `mqtt.listeners.tcp.1 = 127.0.0.1:${spec.mqttPort}`,
    `load_definitions = ${join(base, 'definitions.json')}`,
    'log.console = true',
    'log.console.level = info',
    'log.file = false'
  ]
  if (spec.seed !== undefined) {
    lines.push('cluster_formation.peer_discovery_backend = classic_config', `cluster_formation.classic_config.nodes.1 = ${spec.seed}`)
  }
  if (spec.wsPort !== undefined) lines.push(`web_mqtt.tcp.port = ${spec.wsPort}`, 'web_mqtt.tcp.ip = 127.0.0.1')
  return [...lines, ...(options.config ?? [])].join('\n') + '\n'
}

async function writeNodeFiles (spec: NodeSpec, base: string, options: RabbitOptions): Promise<void> {
  await mkdir(spec.dir)
  await writeFile(join(spec.dir, 'rabbitmq.conf'), configText(spec, base, options))
  const plugins = spec.wsPort === undefined ? 'rabbitmq_mqtt' : 'rabbitmq_mqtt,rabbitmq_web_mqtt'
  await writeFile(join(spec.dir, 'enabled_plugins'), `[${plugins}].\n`)
  // Empty, so that /etc/rabbitmq/rabbitmq-env.conf is not read.
  await writeFile(join(spec.dir, 'rabbitmq-env.conf'), '')
}

/** Everything the node and rabbitmqctl read; nothing inherited but PATH, so that no RABBITMQ_* of the caller leaks in. */
function baseEnv (base: string, epmdPort: number): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', HOME: base, ERL_EPMD_PORT: String(epmdPort) }
}

function nodeEnv (spec: NodeSpec, base: string, epmdPort: number): NodeJS.ProcessEnv {
  return {
    ...baseEnv(base, epmdPort),
    RABBITMQ_NODENAME: spec.name,
    RABBITMQ_DIST_PORT: String(spec.distPort),
    RABBITMQ_MNESIA_BASE: join(spec.dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(spec.dir, 'log'),
    RABBITMQ_CONFIG_FILE: join(spec.dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(spec.dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(spec.dir, 'enabled_plugins'),
    RABBITMQ_CONF_ENV_FILE: join(spec.dir, 'rabbitmq-env.conf'),
    RABBITMQ_PLUGINS_EXPAND_DIR: join(spec.dir, 'plugins-expand'),
    RABBITMQ_PID_FILE: join(spec.dir, 'pid'),
    ERL_CRASH_DUMP: join(spec.dir, 'erl_crash.dump'),
    // Our epmd runs already; the Erlang distribution listens on loopback only.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}'
  }
}

async function waitListening (child: ChildProcess, ports: number[], what: string, log: () => string): Promise<void> {
  const ready = async (): Promise<boolean> => {
    if (!isRunning(child)) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode})`)
    for (const port of ports) if (!await acceptsTcp(port)) return false
    return true
  }
  try {
    await waitUntil(ready, NODE_START_TIMEOUT, `${what} listening on ${ports.join(', ')}`, 50)
  } catch (err) {
    throw new Error(`${(err as Error).message}; its log:\n${log()}`, { cause: err })
  }
}

async function startNode (spec: NodeSpec, env: NodeJS.ProcessEnv): Promise<RabbitNode> {
  const logs = tail()
  const startedAt = performance.now()
  // Its own process group: the start script, erl and its helpers die together on kill().
  const child = spawn(rabbitPrograms.server, [], { cwd: spec.dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  child.once('exit', () => live.delete(child))
  child.stdout.on('data', logs.push)
  child.stderr.on('data', logs.push)
  child.on('error', (err) => logs.push(`spawn error: ${err.message}\n`))
  const kill = async (): Promise<void> => {
    const exited = isRunning(child) ? once(child, 'exit') : Promise.resolve()
    signalGroup(child, 'SIGKILL')
    await exited
  }
  const stop = async (): Promise<void> => {
    // SIGTERM to the script: it stops RabbitMQ gracefully and exits when the VM has.
    await stopChild(child, 'SIGTERM', NODE_STOP_GRACE)
    signalGroup(child, 'SIGKILL')
  }
  const ports = spec.wsPort === undefined ? [spec.mqttPort] : [spec.mqttPort, spec.wsPort]
  try {
    await waitListening(child, ports, `rabbitmq node ${spec.name}`, logs.text)
  } catch (err) {
    await kill()
    throw err
  }
  return {
    name: spec.name,
    port: spec.mqttPort,
    url: `mqtt://127.0.0.1:${spec.mqttPort}`,
    wsUrl: spec.wsPort === undefined ? undefined : `ws://127.0.0.1:${spec.wsPort}/ws`,
    startMs: Math.round(performance.now() - startedAt),
    stop,
    kill,
    log: logs.text
  }
}

async function startEpmd (port: number): Promise<ChildProcess> {
  const logs = tail()
  const epmd = spawn(rabbitPrograms.epmd, ['-port', String(port), '-address', '127.0.0.1'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(epmd)
  epmd.once('exit', () => live.delete(epmd))
  epmd.stdout.on('data', logs.push)
  epmd.stderr.on('data', logs.push)
  try {
    await waitListening(epmd, [port], 'epmd', logs.text)
  } catch (err) {
    await stopChild(epmd, 'SIGKILL')
    throw err
  }
  return epmd
}

async function nodeSpecs (base: string, count: number, websockets: boolean): Promise<NodeSpec[]> {
  const specs: NodeSpec[] = []
  for (let i = 0; i < count; i++) {
    const name = `mwg-${String.fromCharCode(97 + i)}@localhost`
    specs.push({
      name,
      dir: join(base, name.split('@')[0] ?? name),
      mqttPort: await freePort(),
      distPort: await freePort(),
      wsPort: websockets ? await freePort() : undefined,
      seed: i === 0 ? undefined : specs[0]?.name
    })
  }
  return specs
}

function runCtl (env: NodeJS.ProcessEnv, node: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = []
    const err = tail(4096)
    const child = spawn(rabbitPrograms.ctl, ['-n', node, '--quiet', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', err.push)
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'))
      else reject(new Error(`rabbitmqctl -n ${node} ${args.join(' ')} exited ${code}: ${err.text()}`))
    })
  })
}

async function ctlEnv (base: string, epmdPort: number): Promise<NodeJS.ProcessEnv> {
  // The CLI is an Erlang node too: our epmd, and a free distribution port instead of 35672-35682.
  const port = String(await freePort())
  return { ...baseEnv(base, epmdPort), RABBITMQ_CTL_ERL_ARGS: '-start_epmd false', RABBITMQ_CTL_DIST_PORT_MIN: port, RABBITMQ_CTL_DIST_PORT_MAX: port }
}

/** Starts a RabbitMQ cluster of `options.nodes` (default 1) on loopback; every node accepts MQTT when this resolves. */
export async function startRabbitCluster (options: RabbitOptions = {}): Promise<RabbitCluster> {
  for (const path of Object.values(rabbitPrograms)) {
    if (!isExecutable(path)) throw new Error(`${path} not found (apt-get install rabbitmq-server)`)
  }
  killLeftoversAtTheEnd()
  const startedAt = performance.now()
  const base = await mkdtemp(join(tmpdir(), 'mwg-rabbitmq-'))
  dirs.add(base)
  await writeFile(join(base, '.erlang.cookie'), randomBytes(16).toString('hex'), { mode: 0o400 })
  await writeFile(join(base, 'definitions.json'), definitions(options.policies ?? []))
  const epmdPort = await freePort()
  const nodes: RabbitNode[] = []
  let epmd: ChildProcess | undefined
  const close = async (): Promise<void> => {
    await Promise.all(nodes.map(async (node) => { await node.kill() }))
    if (epmd !== undefined) await stopChild(epmd)
    await rm(base, { recursive: true, force: true })
    dirs.delete(base)
  }
  try {
    epmd = await startEpmd(epmdPort)
    for (const spec of await nodeSpecs(base, options.nodes ?? 1, options.websockets === true)) {
      await writeNodeFiles(spec, base, options)
      nodes.push(await startNode(spec, nodeEnv(spec, base, epmdPort)))
    }
  } catch (err) {
    await close()
    throw err
  }
  return {
    nodes,
    upstream: nodes.map((node) => node.url).join(','),
    startMs: Math.round(performance.now() - startedAt),
    ctl: async (node, args) => await runCtl(await ctlEnv(base, epmdPort), node.name, args),
    close
  }
}

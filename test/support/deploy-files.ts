/**
 * The deployment files of deploy/, read the way their programs read them, so
 * that the checks in test/deploy/ compare what Docker, Compose, Kubernetes,
 * systemd and HAProxy would actually see: the Dockerfile through
 * dockerfile-ast (the parser of the Docker language server), YAML through
 * `yaml`, the systemd unit through a small parser of its documented syntax.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DockerfileParser } from 'dockerfile-ast'
import type { Instruction } from 'dockerfile-ast'
import type { Healthcheck } from 'dockerfile-ast/lib/instructions/healthcheck.js'
import { parseAllDocuments, parse as parseYaml } from 'yaml'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const DEPLOY = join(ROOT, 'deploy')

/**
 * The longest MQTT keep-alive README.md ("Running a fleet") documents (AWS IoT Core's
 * maximum); every proxy timeout in deploy/ must exceed 1.5 × this
 * [MQTT-3.1.2-24: the server may close after 1.5 × keep-alive of silence].
 */
export const LONGEST_KEEPALIVE_S = 1200
/** Seconds every stop budget keeps beyond shutdown-delay + shutdown-period + close-timeout. */
export const STOP_MARGIN_S = 5

export function deployFile (...parts: string[]): string {
  return join(DEPLOY, ...parts)
}

export function readDeployFile (...parts: string[]): string {
  return readFileSync(deployFile(...parts), 'utf8')
}

// ---- Dockerfile ----------------------------------------------------------

export interface Stage {
  name: string
  image: string
  instructions: Instruction[]
}

export interface ImageSpec {
  stages: Stage[]
  /** The last stage: what `docker build` produces. */
  runtime: Stage
  /** ARG defaults of the runtime stage. */
  args: Record<string, string>
  /** ENV of the runtime stage, ARGs expanded. */
  env: Record<string, string>
  workdir: string
  user: string
  expose: string[]
  entrypoint: string[]
  cmd: string[]
  healthcheck: { flags: Record<string, string>, command: string[] }
}

/** The arguments of an exec-form (JSON array) instruction; throws on the shell form. */
function jsonForm (instruction: Instruction): string[] {
  const content = instruction.getArgumentsContent() ?? ''
  const start = content.indexOf('[')
  if (start === -1) throw new Error(`${instruction.getKeyword()} is in shell form: ${content}`)
  const parsed: unknown = JSON.parse(content.slice(start).replace(/\\\n/g, ''))
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
    throw new Error(`${instruction.getKeyword()} is not a JSON array of strings`)
  }
  return parsed
}

function splitStages (instructions: Instruction[]): Stage[] {
  const stages: Stage[] = []
  for (const instruction of instructions) {
    const words = instruction.getExpandedArguments().map((a) => a.getValue())
    if (instruction.getKeyword() === 'FROM') {
      stages.push({ name: words[2] ?? String(stages.length), image: words[0] ?? '', instructions: [] })
    } else {
      stages.at(-1)?.instructions.push(instruction)
    }
  }
  return stages
}

function words (instruction: Instruction): string[] {
  return instruction.getExpandedArguments().map((a) => a.getValue())
}

function assignments (stage: Stage, keyword: string): Record<string, string> {
  const values: Record<string, string> = {}
  for (const instruction of stage.instructions.filter((i) => i.getKeyword() === keyword)) {
    for (const word of words(instruction)) {
      const eq = word.indexOf('=')
      if (eq > 0) values[word.slice(0, eq)] = word.slice(eq + 1)
    }
  }
  return values
}

function last (stage: Stage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.getKeyword() === keyword).at(-1)
}

function healthcheck (stage: Stage): ImageSpec['healthcheck'] {
  const instruction = last(stage, 'HEALTHCHECK')
  if (instruction === undefined) return { flags: {}, command: [] }
  const flags: Record<string, string> = {}
  for (const flag of (instruction as Healthcheck).getFlags()) flags[flag.getName()] = flag.getValue() ?? ''
  return { flags, command: jsonForm(instruction) }
}

export function readImage (text = readDeployFile('Dockerfile')): ImageSpec {
  const stages = splitStages(DockerfileParser.parse(text).getInstructions())
  const runtime = stages.at(-1)
  if (runtime === undefined) throw new Error('the Dockerfile has no FROM')
  const entrypoint = last(runtime, 'ENTRYPOINT')
  const cmd = last(runtime, 'CMD')
  return {
    stages,
    runtime,
    args: assignments(runtime, 'ARG'),
    env: assignments(runtime, 'ENV'),
    workdir: words(last(runtime, 'WORKDIR') as Instruction)[0] ?? '/',
    user: words(last(runtime, 'USER') as Instruction)[0] ?? 'root',
    expose: runtime.instructions.filter((i) => i.getKeyword() === 'EXPOSE').flatMap(words),
    entrypoint: entrypoint === undefined ? [] : jsonForm(entrypoint),
    cmd: cmd === undefined ? [] : jsonForm(cmd),
    healthcheck: healthcheck(runtime)
  }
}

/** The gateway script the image starts (ENTRYPOINT's second word), relative to WORKDIR. */
export const GATEWAY_SCRIPT = 'dist/cli/main.js'

// ---- YAML ----------------------------------------------------------------

export type Manifest = Record<string, unknown> & { apiVersion: string, kind: string, metadata?: { name?: string } }

/** Every document of every YAML file in deploy/kubernetes/, with the file it came from. */
export function readKubernetes (): { file: string, manifest: Manifest }[] {
  const files = ['deployment.yaml', 'service.yaml', 'poddisruptionbudget.yaml', 'ingress.yaml']
  return files.flatMap((file) => parseAllDocuments(readDeployFile('kubernetes', file)).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`)
    return { file, manifest: doc.toJS() as Manifest }
  }))
}

export function findManifest<T> (kind: string): T {
  const found = readKubernetes().find((entry) => entry.manifest.kind === kind)
  if (found === undefined) throw new Error(`no ${kind} in deploy/kubernetes/`)
  return found.manifest as unknown as T
}

export interface ComposeService {
  image?: string
  build?: { context: string, dockerfile: string }
  command?: string[]
  environment?: Record<string, string>
  networks?: Record<string, { ipv4_address?: string }> | string[]
  stop_grace_period?: string
  volumes?: string[]
  ports?: string[]
}

export interface ComposeFile {
  services: Record<string, ComposeService>
  networks: Record<string, { ipam?: { config?: { subnet: string }[] } }>
}

/** deploy/compose.yaml with YAML merge keys (<<) applied, as Compose applies them. */
export function readCompose (): ComposeFile {
  return parseYaml(readDeployFile('compose.yaml'), { merge: true }) as ComposeFile
}

// ---- systemd -------------------------------------------------------------

/**
 * A unit file as systemd reads it (systemd.syntax(7)): sections of
 * `Key=value` lines, `#`/`;` comments, trailing backslash joins lines; a key
 * may repeat. Section → key → values in order.
 */
export function parseUnit (text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>()
  let section: Map<string, string[]> | undefined
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((line) => line.trim())
  for (const line of lines) {
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[(.+)\]$/.exec(line)
    if (header !== null) {
      section = new Map()
      sections.set(header[1] as string, section)
      continue
    }
    const eq = line.indexOf('=')
    if (section === undefined || eq <= 0) throw new Error(`not a unit file line: ${line}`)
    const key = line.slice(0, eq).trim()
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()])
  }
  return sections
}

export function readUnit (): Map<string, Map<string, string[]>> {
  return parseUnit(readDeployFile('systemd', 'mqtt-ws-gateway.service'))
}

/** The last value of `key` in `section` (systemd: a later assignment wins). */
export function unitValue (unit: Map<string, Map<string, string[]>>, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1)
}

/** "30s", "1min 30s", "500ms", "2" (seconds): systemd.time(7) spans used in deploy/, in seconds. */
export function parseSpan (text: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600 }
  let total = 0
  for (const match of text.matchAll(/(\d+(?:\.\d+)?)\s*([a-z]*)/g)) {
    const unit = units[match[2] === '' ? 's' : match[2] as string]
    if (unit === undefined) throw new Error(`unknown time unit in ${text}`)
    total += Number(match[1]) * unit
  }
  return total
}

// ---- HAProxy -------------------------------------------------------------

/** The haproxy.cfg lines without comments, each split into words. */
export function haproxyLines (text = readDeployFile('haproxy', 'haproxy.cfg')): string[][] {
  return text.split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '')
    .map((line) => line.split(/\s+/))
}

/** Names of the environment variables haproxy.cfg expands (`"${NAME}"`). */
export function haproxyVariables (text = readDeployFile('haproxy', 'haproxy.cfg')): string[] {
  const names = new Set<string>()
  for (const words of haproxyLines(text)) {
    for (const match of words.join(' ').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) names.add(match[1] as string)
  }
  return [...names].sort()
}

/** An HAProxy time ("500ms", "1s", "5m"; a bare number is milliseconds), in seconds. */
export function haproxyTime (text: string): number {
  const match = /^(\d+)(us|ms|s|m|h|d)?$/.exec(text)
  if (match === null) throw new Error(`not an HAProxy time: ${text}`)
  const units: Record<string, number> = { us: 1e-6, ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }
  return Number(match[1]) * (units[match[2] ?? 'ms'] as number)
}

/** The words after `keyword ...` on the first line that starts with them (e.g. ['timeout', 'tunnel']). */
export function haproxyDirective (keyword: string[], lines = haproxyLines()): string[] | undefined {
  const line = lines.find((words) => keyword.every((word, i) => words[i] === word))
  return line?.slice(keyword.length)
}

/** The value after `name` among a server line's words (`inter 500ms` → '500ms'). */
export function serverOption (words: string[], name: string): string | undefined {
  const index = words.indexOf(name)
  return index === -1 ? undefined : words[index + 1]
}

/**
 * Seconds from a gateway's /readyz turning 503 to HAProxy marking it down,
 * at worst: `fall` failed checks `inter` apart, the last one waiting up to
 * `timeout check`.
 */
export function haproxyDetectionSeconds (lines = haproxyLines()): number {
  const defaults = haproxyDirective(['default-server'], lines) ?? []
  const fall = Number(serverOption(defaults, 'fall') ?? 3)
  const inter = haproxyTime(serverOption(defaults, 'inter') ?? '2s')
  const check = haproxyTime(haproxyDirective(['timeout', 'check'], lines)?.[0] ?? '0')
  return fall * inter + check
}

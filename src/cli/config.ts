/**
 * Reading options from the command line, the environment and a JSON file.
 *
 * Precedence, lowest first: defaults, config file (--config), environment
 * (MQTT_WS_GATEWAY_*), flags. Every source is turned into one partial
 * options object; resolveOptions() then validates the merge once.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import { InvalidOptionError } from '../errors.js'
import { optionNames } from '../options.js'
import type { GatewayOptions } from '../options.js'
import { optionSchema } from '../options/schema.js'

type OptionName = keyof GatewayOptions

export const ENV_PREFIX = 'MQTT_WS_GATEWAY_'

/** `max-message-size` for `maxMessageSize`, unless the schema names the flag (`path` for `paths`). */
export function flagName (name: OptionName): string {
  return (Object.hasOwn(optionSchema, name) ? optionSchema[name].flag : undefined) ?? name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

/** `MQTT_WS_GATEWAY_MAX_MESSAGE_SIZE`: the prefix and the flag in upper snake case. */
export function envName (name: OptionName): string {
  return ENV_PREFIX + flagName(name).replace(/-/g, '_').toUpperCase()
}

/** Turns a string from a flag or the environment into the option's type. */
function coerce (name: OptionName, raw: string, source: string): unknown {
  const spec = optionSchema[name]
  switch (spec.kind) {
    case 'number': {
      // A number that may also be a word: --workers auto.
      if (spec.words.includes(raw.trim())) return raw.trim()
      const n = Number(raw)
      if (raw.trim() === '' || !Number.isFinite(n)) {
        throw new InvalidOptionError(name, `(${source}) must be a number, got ${JSON.stringify(raw)}`)
      }
      return n
    }
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(raw)) return true
      if (/^(0|false|no|off)$/i.test(raw)) return false
      throw new InvalidOptionError(name, `(${source}) must be true or false, got ${JSON.stringify(raw)}`)
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
    default:
      return raw
  }
}

export function fromEnv (env: NodeJS.ProcessEnv): Partial<GatewayOptions> {
  const out: Record<string, unknown> = {}
  const known = new Set(optionNames.map(envName))
  known.add(`${ENV_PREFIX}CONFIG`)
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(ENV_PREFIX) || value === undefined) continue
    if (!known.has(key)) throw new InvalidOptionError(key, 'is not a known environment variable')
  }
  for (const name of optionNames) {
    const raw = env[envName(name)]
    if (raw !== undefined) out[name] = coerce(name, raw, envName(name))
  }
  return out as Partial<GatewayOptions>
}

export function fromFile (path: string): Partial<GatewayOptions> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new InvalidOptionError('config', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new InvalidOptionError('config', `${path} is not valid JSON: ${(err as Error).message}`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidOptionError('config', `${path} must hold a JSON object`)
  }
  return parsed as Partial<GatewayOptions>
}

export interface ParsedCommandLine {
  options: Partial<GatewayOptions>
  configFile: string | undefined
  help: boolean
  version: boolean
  printConfig: boolean
}

export function parseFlags (argv: string[]): ParsedCommandLine {
  const config: NonNullable<ParseArgsConfig['options']> = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
    'print-config': { type: 'boolean' }
  }
  for (const name of optionNames) {
    const { kind, repeatable } = optionSchema[name]
    // A list, or a repeatable string (--upstream: several brokers, joined into one).
    config[flagName(name)] = kind === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: kind === 'list' || repeatable }
    // --no-X turns a boolean off over the environment or the config file.
    if (kind === 'boolean') config[`no-${flagName(name)}`] = { type: 'boolean' }
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>
  try {
    values = parseArgs({ args: argv, options: config, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new InvalidOptionError(flagFromParseError(err), (err as Error).message)
  }
  const options: Record<string, unknown> = {}
  for (const name of optionNames) {
    const value = values[flagName(name)] ?? (values[`no-${flagName(name)}`] === true ? false : undefined)
    if (value === undefined) continue
    if (Array.isArray(value) && optionSchema[name].repeatable) options[name] = value.map(String).join(',')
    else if (Array.isArray(value)) options[name] = value.flatMap((v) => coerce(name, String(v), `--${flagName(name)}`) as string[])
    else options[name] = typeof value === 'boolean' ? value : coerce(name, value, `--${flagName(name)}`)
  }
  return {
    options: options as Partial<GatewayOptions>,
    configFile: values.config as string | undefined,
    help: values.help === true,
    version: values.version === true,
    printConfig: values['print-config'] === true
  }
}

function flagFromParseError (err: unknown): string {
  const match = /'(-[^']+)'/.exec((err as Error).message)
  return match?.[1] ?? 'command line'
}

/** The merged, not yet validated, options of every source. */
export function gatherOptions (argv: string[], env: NodeJS.ProcessEnv): ParsedCommandLine {
  const flags = parseFlags(argv)
  const configFile = flags.configFile ?? env[`${ENV_PREFIX}CONFIG`]
  const file = configFile === undefined ? {} : fromFile(configFile)
  return { ...flags, configFile, options: { ...file, ...fromEnv(env), ...flags.options } }
}

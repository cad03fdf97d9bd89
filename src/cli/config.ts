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
import { defaultOptions, optionNames } from '../options.js'
import type { GatewayOptions } from '../options.js'

type OptionName = keyof GatewayOptions

export const ENV_PREFIX = 'MQTT_WS_GATEWAY_'

export function flagName (name: OptionName): string {
  return name === 'paths' ? 'path' : name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

export function envName (name: OptionName): string {
  return ENV_PREFIX + (name === 'paths' ? 'PATH' : flagName(name).replace(/-/g, '_').toUpperCase())
}

type Kind = 'number' | 'boolean' | 'string' | 'list'

function kindOf (name: OptionName): Kind {
  if (Array.isArray(defaultOptions[name])) return 'list'
  const value = defaultOptions[name]
  if (typeof value === 'number') return 'number'
  if (typeof value === 'boolean') return 'boolean'
  return 'string'
}

/** Turns a string from a flag or the environment into the option's type. */
function coerce (name: OptionName, raw: string, source: string): unknown {
  switch (kindOf(name)) {
    case 'number': {
      // The one number that may also be a word: --workers auto.
      if (name === 'workers' && raw.trim() === 'auto') return 'auto'
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
    const kind = kindOf(name)
    // --upstream may be repeated: several brokers, joined into one list.
    const repeatable = kind === 'list' || name === 'upstream'
    config[flagName(name)] = kind === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: repeatable }
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
    if (Array.isArray(value) && name === 'upstream') options[name] = value.map(String).join(',')
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

/**
 * `mqtt-ws-gateway --help`: every option with its flag, environment
 * variable, help and default, all from the option schema. The README's
 * option table is this text's twin.
 */
import { defaultOptions, optionNames } from '../options.js'
import type { GatewayOptions } from '../options.js'
import { optionSchema } from '../options/schema.js'
import { envName, flagName } from './config.js'

type OptionName = keyof GatewayOptions

/** An option's default as text (a list comma-separated), or undefined when it has none. */
export function defaultText (name: OptionName): string | undefined {
  const fallback = defaultOptions[name]
  if (fallback === undefined) return undefined
  return Array.isArray(fallback) ? fallback.join(',') : String(fallback)
}

export function helpText (): string {
  const rows = optionNames.map((name) => {
    const kind = optionSchema[name].kind === 'boolean' ? `, --no-${flagName(name)}` : ' <value>'
    const fallback = defaultText(name)
    const shown = fallback === undefined ? '' : ` (default: ${fallback})`
    return `  --${flagName(name)}${kind}\n      ${optionSchema[name].help}${shown}\n      env ${envName(name)}`
  })
  return [
    'Usage: mqtt-ws-gateway [options]          bridge MQTT over WebSocket to a broker',
    '       mqtt-ws-gateway trace --help       follow connections of a running gateway',
    '',
    'Options (flags override MQTT_WS_GATEWAY_* variables, which override --config):',
    '  --config <file>\n      JSON file of options, camelCase names as in the README\n      env MQTT_WS_GATEWAY_CONFIG',
    '  --print-config\n      print the effective configuration and exit',
    ...rows,
    '  --version, --help'
  ].join('\n')
}

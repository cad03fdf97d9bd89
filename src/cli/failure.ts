/**
 * How the command reports a start that failed: exactly one line on stderr,
 * naming what failed (the flag and the address or file), and an exit code a
 * service manager can act on: 2 when an option is invalid (starting again
 * will not help), 1 when the machine refused (a port taken, a file
 * unreadable, anything else): worth a restart once that is fixed.
 */
import { InvalidOptionError, ListenError, UnreadableFileError } from '../errors.js'
import type { GatewayOptions } from '../options.js'
import { flagName } from './config.js'

export const EXIT_START_FAILED = 1
export const EXIT_INVALID_OPTION = 2

export interface Failure {
  /** One line, without the "mqtt-ws-gateway: " prefix. */
  line: string
  exitCode: number
}

/** `--tcp-port` for `tcpPort`; a name that is not an option (an env variable, a flag) as it is. */
function flag (option: string): string {
  return /^[a-z][A-Za-z]*$/.test(option) ? `--${flagName(option as keyof GatewayOptions)}` : option
}

export function describeFailure (err: unknown): Failure {
  if (err instanceof ListenError) {
    return { line: `cannot listen on ${err.address} (${flag(err.option)}): ${err.problem}`, exitCode: EXIT_START_FAILED }
  }
  if (err instanceof UnreadableFileError) {
    return { line: `cannot read ${err.path} (${flag(err.option)}): ${err.problem}`, exitCode: EXIT_START_FAILED }
  }
  if (err instanceof InvalidOptionError) return { line: err.message, exitCode: EXIT_INVALID_OPTION }
  // Anything else: its message only; a stack trace is for bugs, not for a failed start.
  const message = err instanceof Error ? err.message : String(err)
  return { line: `start failed: ${message.split('\n')[0] ?? ''}`, exitCode: EXIT_START_FAILED }
}

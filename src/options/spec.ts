/**
 * What one option's description holds, and the builders the schema
 * (schema.ts) is written with.
 *
 * Each builder returns an `OptionSpec<T>` that carries the option's value
 * type `T`, so `GatewayOptions` is inferred from the schema (options.ts)
 * instead of being written again; and each pairs its kind (how a flag's or
 * a variable's text is read) with its check, so the two cannot disagree.
 */
import { boolean as isBoolean, integer as integerIn, nonEmptyString, oneOf as oneOfWords, optionalString as optionalText } from './checks.js'
import type { Check } from './checks.js'

/**
 * How the text of a flag or an environment variable becomes the value: a
 * number, a boolean (which also gets a --no-X flag), a string as is, or a
 * comma-separated list (a repeatable flag).
 */
export type Kind = 'number' | 'boolean' | 'string' | 'list'

export interface OptionSpec<T> {
  readonly kind: Kind
  readonly default: T
  /** Throws an InvalidOptionError naming the option when the value is not acceptable. */
  readonly check: Check
  /** What the option does, in one line: --help and the README's option table show it. */
  readonly help: string
  /** A password, token or key given as the value itself: shown as `***` by --print-config and the start-up log line. */
  readonly secret: boolean
  /** The flag, without its dashes, when it is not the name in kebab case (`paths` is --path). */
  readonly flag: string | undefined
  /** A string that may be given several times (a repeated flag, an array in a config file): joined with commas. */
  readonly repeatable: boolean
  /** Words a number option also takes as they are (`--workers auto`). */
  readonly words: readonly string[]
  /** A list whose repeated entries are dropped, the first kept. */
  readonly unique: boolean
}

/** What every builder is told besides the option's type and default: its help, and the exceptions. */
export interface Extras {
  help: string
  secret?: boolean
  flag?: string
  repeatable?: boolean
  unique?: boolean
}

function spec<T> (kind: Kind, fallback: T, check: Check, extras: Extras, words: readonly string[] = []): OptionSpec<T> {
  return Object.freeze({
    kind,
    default: fallback,
    check,
    help: extras.help,
    secret: extras.secret ?? false,
    flag: extras.flag,
    repeatable: extras.repeatable ?? false,
    words,
    unique: extras.unique ?? false
  })
}

/** An integer from `min` to `max`. */
export function integer (min: number, max: number, o: { default: number } & Extras): OptionSpec<number> {
  return spec('number', o.default, integerIn(min, max), o)
}

/** true or false; on the command line --x and --no-x. */
export function boolean (o: { default: boolean } & Extras): OptionSpec<boolean> {
  return spec('boolean', o.default, isBoolean, o)
}

/** A non-empty string with a default. */
export function string (o: { default: string } & Extras): OptionSpec<string> {
  return spec('string', o.default, nonEmptyString, o)
}

/** A string, or undefined (the default): a file, a name, a URL. `check` replaces the non-empty check. */
export function optionalString (o: { check?: Check } & Extras): OptionSpec<string | undefined> {
  return spec<string | undefined>('string', undefined, o.check ?? optionalText, o)
}

/** One of a few words. */
export function oneOf<const V extends string> (values: readonly V[], o: { default: NoInfer<V> } & Extras): OptionSpec<V> {
  return spec('string', o.default, oneOfWords(values), o)
}

/** A list of strings, each checked by `check`; a comma-separated list on the command line. */
export function list (check: Check, o: { default: readonly string[] } & Extras): OptionSpec<string[]> {
  return spec('list', Object.freeze([...o.default]) as string[], check, o)
}

/** A number that may also be one of `words` (`workers`: a count or 'auto'). */
export function numberOrWord<const W extends string> (words: readonly W[], check: Check, o: { default: number | W } & Extras): OptionSpec<number | W> {
  return spec<number | W>('number', o.default, check, o, words)
}

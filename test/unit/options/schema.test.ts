/**
 * The option schema and what is derived from it: the README's option table
 * (which must be what `npm run docs:options` writes), --help, and the rules
 * an entry must follow for the derivations to hold.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { envName, flagName } from '../../../src/cli/config.js'
import { helpText } from '../../../src/cli/help.js'
import { defaultOptions, optionNames, resolveOptions } from '../../../src/options.js'
import { optionSchema } from '../../../src/options/schema.js'
import { END, README, START, optionsTable, withOptionsTable } from '../../../scripts/docs-options.js'

describe('README.md option table', () => {
  const readme = readFileSync(README, 'utf8')

  test('has its two markers, once each', () => {
    assert.equal(readme.split(START).length, 2, START)
    assert.equal(readme.split(END).length, 2, END)
  })

  test('is what the schema produces', () => {
    const expected = withOptionsTable(readme, optionsTable())
    assert.ok(expected === readme, 'README.md\'s option table is out of date: run `npm run docs:options` and commit README.md')
  })

  test('has a row per option, in the schema\'s order', () => {
    const flags = [...optionsTable().matchAll(/^\| `--([a-z-]+)`/gm)].map((match) => match[1])
    assert.deepEqual(flags, optionNames.map(flagName))
  })

  test('the check sees a changed row', () => {
    const stale = readme.replace('| address to listen on |', '| the address to listen on |')
    assert.notEqual(stale, readme)
    assert.notEqual(withOptionsTable(stale, optionsTable()), stale)
  })
})

describe('--help', () => {
  test('shows every option\'s flag, variable and help', () => {
    const help = helpText()
    for (const name of optionNames) {
      assert.ok(help.includes(`--${flagName(name)}`), name)
      assert.ok(help.includes(`env ${envName(name)}`), name)
      assert.ok(help.includes(optionSchema[name].help), name)
    }
  })

  test('offers --no-X for booleans only', () => {
    const help = helpText()
    for (const name of optionNames) {
      const hasNo = help.includes(`--no-${flagName(name)}`)
      assert.equal(hasNo, optionSchema[name].kind === 'boolean', name)
    }
  })
})

describe('schema entries', () => {
  test('every help text is one line without a full stop (--help appends the default to it)', () => {
    for (const name of optionNames) assert.match(optionSchema[name].help, /^\S[^\n]*[^.\s]$/, name)
  })

  test('every default passes its own check, and resolves to itself', () => {
    for (const name of optionNames) optionSchema[name].check(name, defaultOptions[name])
    assert.deepEqual({ ...resolveOptions() }, { ...defaultOptions })
  })

  test('the kind agrees with the default', () => {
    for (const name of optionNames) {
      const { kind, default: fallback } = optionSchema[name]
      if (fallback === undefined) continue
      const actual = Array.isArray(fallback) ? 'list' : typeof fallback
      assert.equal(actual, kind, name)
    }
  })

  test('an option named like a secret is marked secret (masked in --print-config and logs)', () => {
    for (const name of optionNames) {
      if (/secret|token|password/i.test(name)) assert.equal(optionSchema[name].secret, true, name)
    }
  })

  test('the schema and its entries are frozen', () => {
    assert.ok(Object.isFrozen(optionSchema))
    for (const name of optionNames) assert.ok(Object.isFrozen(optionSchema[name]), name)
  })
})

/**
 * `npm run docs:options`: rewrites the option table in README.md from the
 * option schema (src/options/schema.ts), between two marker comments.
 *
 * The table is never edited by hand: test/unit/options/schema.test.ts fails
 * when README.md's table differs from what this script would write.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { envName, flagName } from '../src/cli/config.js'
import { defaultText } from '../src/cli/help.js'
import { optionNames } from '../src/options.js'
import { optionSchema } from '../src/options/schema.js'

export const README = fileURLToPath(new URL('../README.md', import.meta.url))
export const START = '<!-- options table: generated from src/options/schema.ts by `npm run docs:options`; edit the schema, not this table -->'
export const END = '<!-- end of options table -->'

/** A table cell's text: a `|` would end the cell. */
function cell (text: string): string {
  return text.replace(/\|/g, '\\|')
}

/** The README's option table: flag, variable, default and help of every option, in the schema's order. */
export function optionsTable (): string {
  const rows = optionNames.map((name) => {
    const fallback = defaultText(name)
    // No default, or an empty list: a dash (an empty code span would show as two backticks).
    const shown = fallback === undefined || fallback === '' ? '—' : `\`${fallback}\``
    return `| \`--${flagName(name)}\` | \`${envName(name)}\` | ${cell(shown)} | ${cell(optionSchema[name].help)} |`
  })
  return ['| flag | environment | default | meaning |', '|---|---|---|---|', ...rows].join('\n')
}

/** `readme` with the text between the markers replaced by `table` (blank lines around it, so Markdown sees a table). */
export function withOptionsTable (readme: string, table: string): string {
  const start = readme.indexOf(START)
  const end = readme.indexOf(END)
  if (start < 0 || end < start) throw new Error(`README.md has no option table markers:\n${START}\n${END}`)
  return readme.slice(0, start + START.length) + '\n\n' + table + '\n\n' + readme.slice(end)
}

function main (): void {
  const readme = readFileSync(README, 'utf8')
  const updated = withOptionsTable(readme, optionsTable())
  if (updated === readme) {
    process.stdout.write('README.md: option table already up to date\n')
    return
  }
  writeFileSync(README, updated)
  process.stdout.write(`README.md: option table rewritten (${optionNames.length} options)\n`)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main()

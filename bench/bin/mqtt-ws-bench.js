#!/usr/bin/env node
// The `mqtt-ws-bench` command: runs the load tool's command line from the
// bench's build. A file kept in git, not the build's own output, so that npm
// links the command at install time, before anything is built.
import { existsSync } from 'node:fs'
import process from 'node:process'
import { URL } from 'node:url'

const cli = new URL('../dist/bench/src/cli.js', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write('mqtt-ws-bench: the bench is not built yet: run `npm run build -w bench` at the repository root\n')
  process.exit(2)
}
const { runBench } = await import(cli.href)
process.exitCode = await runBench(process.argv.slice(2))

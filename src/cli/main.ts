#!/usr/bin/env node
/**
 * The `mqtt-ws-gateway` command: parses nothing itself, only dispatches
 * (`mqtt-ws-gateway trace …` to cli/trace.ts, everything else to serve).
 */
import cluster from 'node:cluster'
import { describeFailure } from './failure.js'

async function main (argv: string[]): Promise<number> {
  // A --workers child: its options come from the primary, not from argv.
  if (cluster.isWorker) {
    const { runWorker } = await import('./cluster-worker.js')
    return runWorker()
  }
  if (argv[0] === 'trace') {
    const { trace } = await import('./trace.js')
    return trace(argv.slice(1))
  }
  const { serve } = await import('./serve.js')
  return serve(argv)
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  (err: unknown) => {
    const failure = describeFailure(err)
    console.error(`mqtt-ws-gateway: ${failure.line}`)
    process.exitCode = failure.exitCode
    // What failed has released what it held, so the process ends by itself;
    // should anything still hold the event loop, a failed start must not hang.
    setTimeout(() => process.exit(), 2000).unref()
  }
)

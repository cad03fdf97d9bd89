#!/usr/bin/env node
/**
 * The `mqtt-ws-gateway` command: parses nothing itself, only dispatches.
 */
import cluster from 'node:cluster'
import { GatewayError } from '../errors.js'

async function main (argv: string[]): Promise<number> {
  // A --workers child: its options come from the primary, not from argv.
  if (cluster.isWorker) {
    const { runWorker } = await import('./cluster-worker.js')
    return runWorker()
  }
  const { serve } = await import('./serve.js')
  return serve(argv)
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  (err: unknown) => {
    if (err instanceof GatewayError) {
      console.error(`mqtt-ws-gateway: ${err.message}`)
      process.exitCode = 2
    } else {
      console.error(err)
      process.exitCode = 1
    }
  }
)

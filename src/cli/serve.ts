/**
 * `mqtt-ws-gateway [options]`: run the gateway until SIGINT/SIGTERM.
 */
import { availableParallelism } from 'node:os'
import { createGateway } from '../gateway.js'
import { maskedOptions, resolveOptions } from '../options.js'
import type { ResolvedOptions } from '../options.js'
import { gatherOptions } from './config.js'
import { helpText } from './help.js'
import { packageVersion } from './version.js'

export async function serve (argv: string[]): Promise<number> {
  const cli = gatherOptions(argv, process.env)
  if (cli.help) {
    console.log(helpText())
    return 0
  }
  if (cli.version) {
    console.log(packageVersion())
    return 0
  }
  const options = resolveOptions(cli.options)
  if (cli.printConfig) {
    console.log(JSON.stringify(maskedOptions(options), null, 2))
    return 0
  }
  const workers = options.workers === 'auto' ? availableParallelism() : options.workers
  if (workers > 1) {
    const { runPrimary } = await import('./cluster-primary.js')
    return runPrimary(options, workers)
  }
  const gateway = createGateway(options)
  const address = await gateway.listen()
  const target = address.upstream === 'embedded' ? 'embedded broker' : `upstream ${address.upstream}`
  console.log(`mqtt-ws-gateway listening on ${address.url} (${target})`)
  if (address.adminUrl !== undefined) console.log(`admin on ${address.adminUrl} (metrics, health, status)`)
  if (address.tcpUrl !== undefined) console.log(`embedded broker also on ${address.tcpUrl} for plain MQTT clients`)
  // SIGHUP: new certificates (e.g. renewed by certbot) for new handshakes.
  process.on('SIGHUP', () => {
    try {
      gateway.reloadTls()
    } catch (err) {
      console.error(`mqtt-ws-gateway: TLS reload failed, keeping the old certificates: ${(err as Error).message}`)
    }
  })
  await stopOnSignal(() => gateway.close({ delayMs: options.shutdownDelay, drainMs: options.shutdownPeriod }), options)
  return 0
}

/** Resolves after the first SIGINT/SIGTERM has run `stop`; a second signal exits at once. */
function stopOnSignal (stop: () => Promise<void>, options: ResolvedOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        console.error(`${signal} again: exiting now`)
        process.exit(1)
      }
      stopping = true
      console.error(`${signal}: ${shutdownPlan(options)} (send ${signal} again to exit at once)`)
      stop().then(resolve, reject)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}


/** What a stop signal starts, in one line (the same for --workers). */
export function shutdownPlan (options: ResolvedOptions): string {
  const drain = `closing connections over ${options.shutdownPeriod} ms`
  return options.shutdownDelay === 0 ? drain : `${drain} in ${options.shutdownDelay} ms; until then /readyz answers 503 and upgrades are still accepted`
}

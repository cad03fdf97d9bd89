/**
 * A gateway in its own process for trace tests that measure its memory: the
 * embedded broker, an admin port, idle pings off, and the per-viewer queue
 * bounds of MWG_TEST_TRACE_LIMITS (JSON: maxEvents, maxBytes, stallMs), a
 * test knob that is not an option. Prints `READY <ws url> <admin url>`,
 * then its log lines; stops on SIGTERM. Run under --expose-gc, it collects
 * its garbage on SIGUSR2 and prints `HEAP <heap used> <rss> <external>
 * <array buffers>` (kB): what it still holds, without the collector's slack.
 */
import { GatewayServer } from '../../src/gateway.js'

const limits = JSON.parse(process.env.MWG_TEST_TRACE_LIMITS ?? '{}') as Record<string, number>
const gateway = new GatewayServer({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: Number(process.env.MWG_TEST_ADMIN_PORT), wsPingIdle: 0, logLevel: 'info' }, { trace: limits })
const address = await gateway.listen()
console.log(`READY ${address.url} ${address.adminUrl ?? ''}`)
process.once('SIGTERM', () => { gateway.close().then(() => process.exit(0), () => process.exit(1)) })
const collect = (globalThis as { gc?: () => void }).gc
if (collect !== undefined) {
  process.on('SIGUSR2', () => {
    collect()
    const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage()
    console.log(`HEAP ${Math.round(heapUsed / 1024)} ${Math.round(rss / 1024)} ${Math.round(external / 1024)} ${Math.round(arrayBuffers / 1024)}`)
  })
}

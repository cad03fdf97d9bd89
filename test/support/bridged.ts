/**
 * A gateway in this process in front of an Aedes broker on a real TCP port,
 * with its log lines captured: the fixture most e2e suites share.
 */
import { createGateway } from '../../src/index.js'
import type { Gateway, GatewayOptions } from '../../src/index.js'
import { startTcpBroker } from './brokers.js'
import type { TcpBroker } from './brokers.js'
import { captureLogs } from './logs.js'

export interface Bridged {
  broker: TcpBroker
  gateway: Gateway
  url: string
  logs: ReturnType<typeof captureLogs>
  close: () => Promise<void>
}

export async function startBridged (options: Partial<GatewayOptions> = {}): Promise<Bridged> {
  const broker = await startTcpBroker()
  const logs = captureLogs()
  const gateway = createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, upstream: broker.url, logger: logs.logger, ...options })
  const { url } = await gateway.listen()
  const close = async (): Promise<void> => {
    await gateway.close()
    await broker.kill()
  }
  return { broker, gateway, url, logs, close }
}

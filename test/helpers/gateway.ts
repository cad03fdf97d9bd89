/**
 * The gateway under test, and the "targets" the interop matrix connects to:
 * a gateway with its embedded Aedes broker, or a gateway in front of a real
 * Mosquitto.
 *
 * MWG_INTEROP_VIA=mosquitto-ws runs the same client matrix against
 * Mosquitto's own WebSocket listener instead of the gateway: a reference run
 * that tells a fault of the client harness from a fault of the gateway.
 */
import type { GatewayOptions } from '../../src/index.js'
import type { MqttVersion } from './client.js'
import { startMosquitto } from './mosquitto.js'
import type { Mosquitto, MosquittoOptions } from './mosquitto.js'

export type BrokerKind = 'aedes' | 'mosquitto'
export const BROKER_KINDS: readonly BrokerKind[] = ['aedes', 'mosquitto']

export interface RunningGateway {
  /** ws://127.0.0.1:PORT/mqtt */
  readonly url: string
  close: () => Promise<void>
}

export interface Target {
  readonly kind: BrokerKind
  /** Where clients connect: a ws:// URL. */
  readonly url: string
  /** The Mosquitto behind it, for kind 'mosquitto'. */
  readonly mosquitto: Mosquitto | undefined
  close: () => Promise<void>
}

/** True when this run goes to Mosquitto's own WebSocket listener instead of the gateway. */
export const viaReference = process.env.MWG_INTEROP_VIA === 'mosquitto-ws'

/** MQTT versions the broker behind a target speaks: Aedes 1.x speaks 3.1.1 only. */
export function brokerVersions (kind: BrokerKind): readonly MqttVersion[] {
  return kind === 'aedes' && !viaReference ? [4] : [4, 5]
}

/** A gateway on a loopback ephemeral port, quiet, with the embedded broker's TCP listener off. */
export async function startGateway (options: Partial<GatewayOptions> = {}): Promise<RunningGateway> {
  // Imported here so that reference runs do not load the gateway at all.
  const { createGateway } = await import('../../src/index.js')
  const gateway = createGateway({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: 0, logLevel: 'silent', ...options })
  const address = await gateway.listen()
  return { url: address.url, close: async () => { await gateway.close() } }
}

async function referenceTarget (kind: BrokerKind, mosquittoOptions: MosquittoOptions): Promise<Target> {
  const mosquitto = await startMosquitto({ ...mosquittoOptions, websockets: true })
  const url = mosquitto.wsUrl
  if (url === undefined) throw new Error('mosquitto has no WebSocket listener')
  return { kind, url, mosquitto: kind === 'mosquitto' ? mosquitto : undefined, close: async () => { await mosquitto.stop() } }
}

/**
 * Starts a broker of `kind` with a gateway in front of it. `gatewayOptions`
 * go to the gateway (e.g. wsPingIdle), `mosquittoOptions` to Mosquitto.
 */
export async function startTarget (kind: BrokerKind, gatewayOptions: Partial<GatewayOptions> = {}, mosquittoOptions: MosquittoOptions = {}): Promise<Target> {
  if (viaReference) return await referenceTarget(kind, mosquittoOptions)
  if (kind === 'aedes') {
    const gateway = await startGateway(gatewayOptions)
    return { kind, url: gateway.url, mosquitto: undefined, close: gateway.close }
  }
  const mosquitto = await startMosquitto(mosquittoOptions)
  try {
    const gateway = await startGateway({ ...gatewayOptions, upstream: mosquitto.url })
    return { kind, url: gateway.url, mosquitto, close: async () => { await gateway.close(); await mosquitto.stop() } }
  } catch (err) {
    await mosquitto.stop()
    throw err
  }
}

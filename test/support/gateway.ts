/**
 * The gateway under test, and the "targets" the interop matrix connects to:
 * a gateway with its embedded Aedes broker, or a gateway in front of a real
 * Mosquitto or a real RabbitMQ node (its MQTT plugin).
 *
 * MWG_INTEROP_VIA=mosquitto-ws runs the same client matrix against the
 * broker's own WebSocket listener instead of the gateway (Mosquitto's, or
 * RabbitMQ's Web MQTT plugin for the RabbitMQ kind): a reference run that
 * tells a fault of the client harness from a fault of the gateway.
 */
import type { GatewayOptions } from '../../src/index.js'
import type { MqttVersion } from './client.js'
import { startMosquitto } from './mosquitto.js'
import type { Mosquitto, MosquittoOptions } from './mosquitto.js'
import { startRabbitCluster } from './rabbitmq.js'

export type BrokerKind = 'aedes' | 'mosquitto' | 'rabbitmq'
/** The kinds every client suite runs; RabbitMQ has its own suite (test/interop/mqttjs-rabbitmq.test.ts). */
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

/** MQTT versions the broker behind a target speaks: Aedes 1.x and RabbitMQ 3.10 speak 3.1.1 only (RabbitMQ's MQTT 5 came in 3.13). */
export function brokerVersions (kind: BrokerKind): readonly MqttVersion[] {
  if (kind === 'rabbitmq') return [4]
  return kind === 'aedes' && !viaReference ? [4] : [4, 5]
}

/** Where a broker departs from what the matrix expects of Mosquitto and Aedes. */
export interface BrokerTraits {
  /** The highest QoS it grants and delivers. */
  maxQos: 1 | 2
  /** Whether a subscription with wildcards receives the retained messages it matches. */
  retainedToWildcards: boolean
  /** How it turns away an MQTT version it does not speak: a CONNACK refusal, or a bare close. */
  unsupportedVersion: 'connack' | 'close'
}

/**
 * RabbitMQ 3.10, per its MQTT guide and as measured: QoS 2 publishes and
 * subscriptions are downgraded to QoS 1; retained messages reach only a
 * subscription to their exact topic (rabbitmq-server issue 8824); an MQTT 5
 * CONNECT gets the connection closed, no CONNACK.
 */
export function brokerTraits (kind: BrokerKind): BrokerTraits {
  if (kind === 'rabbitmq') return { maxQos: 1, retainedToWildcards: false, unsupportedVersion: 'close' }
  return { maxQos: 2, retainedToWildcards: true, unsupportedVersion: 'connack' }
}

/** A gateway on a loopback ephemeral port, quiet, with the embedded broker's TCP listener off. */
export async function startGateway (options: Partial<GatewayOptions> = {}): Promise<RunningGateway> {
  // Imported here so that reference runs do not load the gateway at all.
  const { createGateway } = await import('../../src/index.js')
  const gateway = createGateway({ host: '127.0.0.1', port: 0, tcpPort: 0, adminPort: 0, logLevel: 'silent', ...options })
  const address = await gateway.listen()
  return { url: address.url, close: async () => { await gateway.close() } }
}

async function rabbitmqTarget (gatewayOptions: Partial<GatewayOptions>): Promise<Target> {
  const rabbitmq = await startRabbitCluster({ websockets: viaReference })
  const node = rabbitmq.nodes[0]
  try {
    if (node === undefined) throw new Error('rabbitmq started no node')
    if (viaReference) {
      if (node.wsUrl === undefined) throw new Error('rabbitmq has no Web MQTT listener')
      return { kind: 'rabbitmq', url: node.wsUrl, mosquitto: undefined, close: rabbitmq.close }
    }
    const gateway = await startGateway({ ...gatewayOptions, upstream: node.url })
    return { kind: 'rabbitmq', url: gateway.url, mosquitto: undefined, close: async () => { await gateway.close(); await rabbitmq.close() } }
  } catch (err) {
    await rabbitmq.close()
    throw err
  }
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
  if (kind === 'rabbitmq') return await rabbitmqTarget(gatewayOptions)
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

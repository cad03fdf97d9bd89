/**
 * What the suite runs against: Mosquitto (when installed) with the gateway in
 * front of it, or else the gateway's embedded broker, whose plain TCP
 * listener then stands in for "direct".
 */
import { findMosquitto, freePort, gatewayHelp, startGateway, startMosquitto } from './suite-processes.js'
import type { Gateway, Mosquitto, Service } from './suite-processes.js'
import type { TargetId } from './suite-scenarios.js'

export interface TargetInfo {
  url: string
  /** The process serving this target's connections (its RSS is per connection). */
  serverPid: number
}

export interface Environment {
  broker: string
  gatewayArgs: string[]
  gateway: Gateway
  mosquitto: Mosquitto | undefined
  brokerPid: number
  targets: Map<TargetId, TargetInfo>
  services: Service[]
}

const BASE_FLAGS = ['--host', '127.0.0.1', '--port', '0', '--log-level', 'warn']

/**
 * The gateway's flags. `--admin-port 0` keeps a metrics/admin listener (when
 * the gateway has one) off fixed ports; a gateway without that flag would
 * refuse to start with it, so it is passed only when `--help` lists it.
 */
function gatewayFlags (): string[] {
  return gatewayHelp().includes('--admin-port') ? [...BASE_FLAGS, '--admin-port', '0'] : BASE_FLAGS
}

export async function startEnvironment (): Promise<Environment> {
  const binary = findMosquitto()
  return binary === undefined ? await embedded() : await withMosquitto(binary)
}

async function withMosquitto (binary: string): Promise<Environment> {
  const mosquitto = await startMosquitto(binary)
  const gatewayArgs = [...gatewayFlags(), '--upstream', mosquitto.tcpUrl]
  let gateway: Gateway
  try {
    gateway = await startGateway(gatewayArgs)
  } catch (err) {
    await mosquitto.service.stop()
    throw err
  }
  const brokerPid = mosquitto.service.pid
  return {
    broker: `mosquitto (${binary})`,
    gatewayArgs,
    gateway,
    mosquitto,
    brokerPid,
    targets: new Map<TargetId, TargetInfo>([
      ['direct', { url: mosquitto.tcpUrl, serverPid: brokerPid }],
      ['gateway', { url: gateway.url, serverPid: gateway.service.pid }],
      ['mosquitto-ws', { url: mosquitto.wsUrl, serverPid: brokerPid }]
    ]),
    services: [gateway.service, mosquitto.service]
  }
}

async function embedded (): Promise<Environment> {
  const tcpPort = await freePort()
  const gatewayArgs = [...gatewayFlags(), '--tcp-port', String(tcpPort)]
  const gateway = await startGateway(gatewayArgs)
  const pid = gateway.service.pid
  return {
    broker: 'embedded (no mosquitto found; gateway CPU includes the broker)',
    gatewayArgs,
    gateway,
    mosquitto: undefined,
    brokerPid: pid,
    targets: new Map<TargetId, TargetInfo>([
      ['direct', { url: `mqtt://127.0.0.1:${tcpPort}`, serverPid: pid }],
      ['gateway', { url: gateway.url, serverPid: pid }]
    ]),
    services: [gateway.service]
  }
}

export async function stopEnvironment (env: Environment): Promise<void> {
  await Promise.all(env.services.map(s => s.stop()))
}

/** Throws with the child's last output when a service died mid-suite. */
export function checkAlive (env: Environment): void {
  const dead = env.services.find(s => !s.running)
  if (dead !== undefined) throw new Error(`${dead.name} (pid ${dead.pid}) exited during the suite; its last output:\n${dead.output}`)
}

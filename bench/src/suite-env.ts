/**
 * What the suite runs against: Mosquitto (when installed) with the gateway
 * and, when socat is installed, a plain TCP relay in front of it; or else the
 * gateway's embedded broker, whose plain TCP listener then stands in for
 * "direct"; and in both cases the reflector with a second gateway process in
 * front of it.
 */
import { findMosquitto, findSocat, freePort, gatewayHelp, startGateway, startMosquitto, startReflector, startRelay } from './suite-processes.js'
import type { Gateway, Mosquitto, ReflectorProcess, Service } from './suite-processes.js'
import type { TargetId } from './suite-scenarios.js'

export interface TargetInfo {
  url: string
  /** The process serving this target's connections (its RSS is per connection). */
  serverPid: number
  /** The gateway on the path, whose CPU per message is reported; undefined when clients reach the endpoint directly. */
  gatewayPid: number | undefined
  /** The broker (or reflector) behind the target; undefined when it is the gateway itself (embedded). */
  brokerPid: number | undefined
  /**
   * False when the broker serves this target's clients with calls that
   * /proc/PID/io does not count (recv/send: Mosquitto's WebSocket listener),
   * so its system calls per message would read as 0.
   */
  brokerSyscallsCounted?: false
}

export interface Environment {
  broker: string
  gatewayArgs: string[]
  gateway: Gateway
  mosquitto: Mosquitto | undefined
  reflector: { url: string, gatewayArgs: string[] }
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

interface Side {
  broker: string
  gatewayArgs: string[]
  gateway: Gateway
  mosquitto: Mosquitto | undefined
  targets: [TargetId, TargetInfo][]
}

/** Starts every service; if one fails, those already started are stopped. */
export async function startEnvironment (): Promise<Environment> {
  const started: Service[] = []
  try {
    const binary = findMosquitto()
    const side = binary === undefined ? await embedded(started) : await withMosquitto(binary, started)
    const reflector = await startReflector()
    started.push(reflector.service)
    const reflectorArgs = [...gatewayFlags(), '--upstream', reflector.url]
    const reflectorGateway = await startGateway(reflectorArgs, 'gateway (reflector)')
    started.push(reflectorGateway.service)
    return {
      broker: side.broker,
      gatewayArgs: side.gatewayArgs,
      gateway: side.gateway,
      mosquitto: side.mosquitto,
      reflector: { url: reflector.url, gatewayArgs: reflectorArgs },
      targets: new Map([...side.targets, ...reflectorTargets(reflector, reflectorGateway)]),
      services: started
    }
  } catch (err) {
    await Promise.all(started.map(s => s.stop()))
    throw err
  }
}

function reflectorTargets (reflector: ReflectorProcess, gateway: Gateway): [TargetId, TargetInfo][] {
  const reflectorPid = reflector.service.pid
  return [
    ['reflector', { url: reflector.url, serverPid: reflectorPid, gatewayPid: undefined, brokerPid: reflectorPid }],
    ['gateway-reflector', { url: gateway.url, serverPid: gateway.service.pid, gatewayPid: gateway.service.pid, brokerPid: reflectorPid }]
  ]
}

async function withMosquitto (binary: string, started: Service[]): Promise<Side> {
  const mosquitto = await startMosquitto(binary)
  started.push(mosquitto.service)
  const gatewayArgs = [...gatewayFlags(), '--upstream', mosquitto.tcpUrl]
  const gateway = await startGateway(gatewayArgs)
  started.push(gateway.service)
  const brokerPid = mosquitto.service.pid
  const gatewayPid = gateway.service.pid
  const relay = await relayTarget(mosquitto, brokerPid, started)
  return {
    broker: `mosquitto (${binary})`,
    gatewayArgs,
    gateway,
    mosquitto,
    targets: [
      ['direct', { url: mosquitto.tcpUrl, serverPid: brokerPid, gatewayPid: undefined, brokerPid }],
      ['gateway', { url: gateway.url, serverPid: gatewayPid, gatewayPid, brokerPid }],
      ['mosquitto-ws', { url: mosquitto.wsUrl, serverPid: brokerPid, gatewayPid: undefined, brokerPid, brokerSyscallsCounted: false }],
      ...relay
    ]
  }
}

/**
 * socat in front of Mosquitto, when installed. It stands where the gateway
 * stands, so its CPU (a forked child per connection, counted with the
 * parent) is reported as the gateway's.
 */
async function relayTarget (mosquitto: Mosquitto, brokerPid: number, started: Service[]): Promise<[TargetId, TargetInfo][]> {
  const socat = findSocat()
  if (socat === undefined) return []
  const relay = await startRelay(socat, Number(new URL(mosquitto.tcpUrl).port))
  started.push(relay.service)
  const relayPid = relay.service.pid
  return [['relay', { url: relay.url, serverPid: relayPid, gatewayPid: relayPid, brokerPid }]]
}

async function embedded (started: Service[]): Promise<Side> {
  const tcpPort = await freePort()
  const gatewayArgs = [...gatewayFlags(), '--tcp-port', String(tcpPort)]
  const gateway = await startGateway(gatewayArgs)
  started.push(gateway.service)
  const pid = gateway.service.pid
  return {
    broker: 'embedded (no mosquitto found; gateway CPU includes the broker)',
    gatewayArgs,
    gateway,
    mosquitto: undefined,
    targets: [
      ['direct', { url: `mqtt://127.0.0.1:${tcpPort}`, serverPid: pid, gatewayPid: undefined, brokerPid: undefined }],
      ['gateway', { url: gateway.url, serverPid: pid, gatewayPid: pid, brokerPid: undefined }]
    ]
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

/**
 * HAProxy running deploy/haproxy/haproxy.cfg itself, unchanged: mode tcp,
 * send-proxy-v2 to two gateways, /readyz health checks on their admin
 * ports. Its addresses and ports come from the environment variables the
 * file expands, here all on loopback. Stopped by PID.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { isRunning, stopChild, tail } from './child.js'
import { freePort } from './free-port.js'
import { programs } from './programs.js'
import { waitUntil } from './wait.js'

export const HAPROXY_CFG = fileURLToPath(new URL('../../deploy/haproxy/haproxy.cfg', import.meta.url))

export interface GatewayPorts {
  /** The WebSocket listener. */
  port: number
  /** The admin listener (/readyz). */
  adminPort: number
}

export interface DeployHaproxy {
  /** ws://127.0.0.1:PORT/mqtt (or wss:// with `secure`), the frontend. */
  url: string
  port: number
  log: () => string
  /** Resolves once HAProxy's log says `server` (gateway_a or gateway_b) is UP or DOWN, after `since` characters of log. */
  waitFor: (server: 'gateway_a' | 'gateway_b', state: 'UP' | 'DOWN', timeoutMs: number, since?: number) => Promise<void>
  /** Characters logged so far: a mark for waitFor. */
  mark: () => number
  stop: () => Promise<void>
}

/**
 * Whether a socket listens on 127.0.0.1:`port`, read from /proc/net/tcp: a
 * test connection would make HAProxy connect a gateway, send it a PROXY
 * header and reset it, which the gateway then rightly logs.
 */
function listens (port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').some((line) => {
    const fields = line.trim().split(/\s+/)
    return fields[1] === local && fields[3] === '0A'
  })
}

/** Starts HAProxy with deploy/haproxy/haproxy.cfg in front of gateways A and B on 127.0.0.1. */
export async function startDeployHaproxy (a: GatewayPorts, b: GatewayPorts, secure = false): Promise<DeployHaproxy> {
  const port = await freePort()
  const env = {
    FRONTEND_ADDR: '127.0.0.1',
    FRONTEND_PORT: String(port),
    GATEWAY_A_ADDR: '127.0.0.1',
    GATEWAY_A_PORT: String(a.port),
    GATEWAY_A_ADMIN_PORT: String(a.adminPort),
    GATEWAY_B_ADDR: '127.0.0.1',
    GATEWAY_B_PORT: String(b.port),
    GATEWAY_B_ADMIN_PORT: String(b.adminPort)
  }
  const child = spawn(programs.haproxy, ['-db', '-f', HAPROXY_CFG], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  // The whole log, not a tail: waitFor reads from a mark.
  let text = ''
  const push = (chunk: Buffer): void => { text += chunk.toString() }
  const errors = tail()
  child.stdout.on('data', push)
  child.stderr.on('data', push)
  child.on('error', (err) => errors.push(err.message))
  const log = (): string => text
  try {
    await waitUntil(async () => {
      if (!isRunning(child)) throw new Error(`haproxy exited with ${String(child.exitCode)}: ${errors.text()}`)
      return listens(port)
    }, 5000, 'haproxy listening')
  } catch (err) {
    await stopChild(child, 'SIGKILL', 1000)
    throw new Error(`${(err as Error).message}\n${log()}`, { cause: err })
  }
  const waitFor = async (server: string, state: 'UP' | 'DOWN', timeoutMs: number, since = 0): Promise<void> => {
    const line = new RegExp(`Server gateways/${server} is ${state}`)
    await waitUntil(() => line.test(text.slice(since)), timeoutMs, `HAProxy: ${server} ${state}\n${text.slice(-3000)}`)
  }
  return {
    url: `${secure ? 'wss' : 'ws'}://127.0.0.1:${port}/mqtt`,
    port,
    log,
    waitFor,
    mark: () => text.length,
    stop: async () => { await stopChild(child, 'SIGTERM', 2000) }
  }
}

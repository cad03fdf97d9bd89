/**
 * Connections to an MQTT broker over TCP, or TLS for mqtts:// (the broker's
 * certificate and name are always verified).
 */
import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { readInto } from '../io/read-ring.js'
import { proxyHeader } from '../proxy-protocol/write.js'
import type { ClientEndpoint, ProxyProtocolVersion } from '../proxy-protocol/write.js'
import { UpstreamConnectError } from '../errors.js'
import type { Upstream, UpstreamLink } from './upstream.js'

/** Probes sent on an idle upstream after this long, so dead brokers are noticed. */
const TCP_KEEPALIVE_DELAY_MS = 30_000

export interface UpstreamTls {
  ca: string | undefined
  cert: string | undefined
  key: string | undefined
  servername: string | undefined
}

export class TcpUpstream implements Upstream {
  readonly description: string
  private readonly host: string
  private readonly port: number
  private readonly timeoutMs: number
  private readonly tlsOptions: tls.ConnectionOptions | undefined
  private readonly proxyProtocol: ProxyProtocolVersion

  constructor (url: URL, timeoutMs: number, secure?: UpstreamTls, proxyProtocol: ProxyProtocolVersion = 'off') {
    this.proxyProtocol = proxyProtocol
    const isTls = /^(mqtts|ssl|tls):$/.test(url.protocol)
    const defaultPort = isTls ? 8883 : 1883
    this.host = url.hostname.replace(/^\[(.*)\]$/, '$1')
    this.port = url.port === '' ? defaultPort : Number(url.port)
    this.timeoutMs = timeoutMs
    this.description = `${isTls ? 'mqtts' : 'mqtt'}://${url.host}${url.port === '' ? `:${defaultPort}` : ''}`
    this.tlsOptions = isTls ? tlsConnectionOptions(this.host, secure) : undefined
  }

  connect (signal: AbortSignal, client?: ClientEndpoint): Promise<UpstreamLink> {
    const started = performance.now()
    return new Promise((resolve, reject) => {
      // TCP first, then (for PROXY protocol) the header, then TLS on top:
      // the header travels in clear, before the TLS handshake, as brokers expect.
      // Plain TCP reads into reused memory (TLS takes over the socket's reads).
      const reading = this.tlsOptions === undefined ? readInto() : undefined
      const raw = net.connect({ host: this.host, port: this.port, noDelay: true, ...reading })
      let socket: net.Socket = raw
      const timer = setTimeout(() => fail(new UpstreamConnectError('upstream_timeout',
        `no connection to ${this.description} within ${this.timeoutMs} ms`)), this.timeoutMs)
      const onAbort = (): void => fail(new UpstreamConnectError('upstream_unreachable', 'client went away during the upgrade'))
      signal.addEventListener('abort', onAbort, { once: true })
      const cleanup = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        raw.removeListener('error', onError)
        socket.removeListener('error', onError)
      }
      function fail (err: UpstreamConnectError): void {
        cleanup()
        socket.destroy()
        raw.destroy()
        reject(err)
      }
      const onError = (err: NodeJS.ErrnoException): void => {
        fail(new UpstreamConnectError('upstream_unreachable', `${this.description}: ${err.code ?? err.message}`))
      }
      const ready = (): void => {
        cleanup()
        raw.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS)
        resolve({ stream: socket, connectMs: performance.now() - started, broker: this.description })
      }
      raw.once('error', onError)
      raw.once('connect', () => {
        if (this.proxyProtocol !== 'off') raw.write(proxyHeader(this.proxyProtocol, client))
        if (this.tlsOptions === undefined) {
          ready()
          return
        }
        socket = tls.connect({ ...this.tlsOptions, socket: raw })
        socket.once('error', onError)
        socket.once('secureConnect', ready)
      })
    })
  }

  async close (): Promise<void> {}
}

function tlsConnectionOptions (host: string, secure: UpstreamTls | undefined): tls.ConnectionOptions {
  const read = (path: string | undefined): Buffer | undefined => path === undefined ? undefined : readFileSync(path)
  return {
    // Verification stays on: a gateway that skipped it would hand every
    // client's credentials to whoever answers on the broker's address.
    rejectUnauthorized: true,
    servername: secure?.servername ?? (net.isIP(host) === 0 ? host : undefined),
    ca: read(secure?.ca),
    cert: read(secure?.cert),
    key: read(secure?.key)
  }
}

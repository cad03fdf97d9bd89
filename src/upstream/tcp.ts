/**
 * Connections to an MQTT broker over TCP, or TLS for mqtts:// (the broker's
 * certificate and name are always verified).
 */
import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { UpstreamConnectError } from './upstream.js'
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

  constructor (url: URL, timeoutMs: number, secure?: UpstreamTls) {
    const isTls = /^(mqtts|ssl|tls):$/.test(url.protocol)
    const defaultPort = isTls ? 8883 : 1883
    this.host = url.hostname.replace(/^\[(.*)\]$/, '$1')
    this.port = url.port === '' ? defaultPort : Number(url.port)
    this.timeoutMs = timeoutMs
    this.description = `${isTls ? 'mqtts' : 'mqtt'}://${url.host}${url.port === '' ? `:${defaultPort}` : ''}`
    this.tlsOptions = isTls ? tlsConnectionOptions(this.host, secure) : undefined
  }

  connect (signal: AbortSignal): Promise<UpstreamLink> {
    const started = performance.now()
    return new Promise((resolve, reject) => {
      const socket = this.tlsOptions === undefined
        ? net.connect({ host: this.host, port: this.port, noDelay: true })
        : tls.connect({ ...this.tlsOptions, host: this.host, port: this.port })
      const ready = this.tlsOptions === undefined ? 'connect' : 'secureConnect'
      const timer = setTimeout(() => fail(new UpstreamConnectError('upstream_timeout',
        `no TCP connection to ${this.description} within ${this.timeoutMs} ms`)), this.timeoutMs)
      const onAbort = (): void => fail(new UpstreamConnectError('upstream_unreachable', 'client went away during the upgrade'))
      signal.addEventListener('abort', onAbort, { once: true })
      const cleanup = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        socket.removeListener('error', onError)
        socket.removeListener(ready, onConnect)
      }
      function fail (err: UpstreamConnectError): void {
        cleanup()
        socket.destroy()
        reject(err)
      }
      const onError = (err: NodeJS.ErrnoException): void => {
        fail(new UpstreamConnectError('upstream_unreachable', `${this.description}: ${err.code ?? err.message}`))
      }
      const onConnect = (): void => {
        cleanup()
        socket.setNoDelay(true)
        socket.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS)
        resolve({ stream: socket, connectMs: performance.now() - started })
      }
      socket.once('error', onError)
      socket.once(ready, onConnect)
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

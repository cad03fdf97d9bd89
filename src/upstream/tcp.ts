/**
 * Connections to an MQTT broker over TCP.
 */
import net from 'node:net'
import { UpstreamConnectError } from './upstream.js'
import type { Upstream, UpstreamLink } from './upstream.js'

/** Probes sent on an idle upstream after this long, so dead brokers are noticed. */
const TCP_KEEPALIVE_DELAY_MS = 30_000

export class TcpUpstream implements Upstream {
  readonly description: string
  private readonly host: string
  private readonly port: number
  private readonly timeoutMs: number

  constructor (url: URL, timeoutMs: number) {
    this.host = url.hostname.replace(/^\[(.*)\]$/, '$1')
    this.port = url.port === '' ? 1883 : Number(url.port)
    this.timeoutMs = timeoutMs
    this.description = `mqtt://${url.host}${url.port === '' ? ':1883' : ''}`
  }

  connect (signal: AbortSignal): Promise<UpstreamLink> {
    const started = performance.now()
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port, noDelay: true })
      const timer = setTimeout(() => fail(new UpstreamConnectError('upstream_timeout',
        `no TCP connection to ${this.description} within ${this.timeoutMs} ms`)), this.timeoutMs)
      const onAbort = (): void => fail(new UpstreamConnectError('upstream_unreachable', 'client went away during the upgrade'))
      signal.addEventListener('abort', onAbort, { once: true })
      const cleanup = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        socket.removeListener('error', onError)
        socket.removeListener('connect', onConnect)
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
      socket.once('connect', onConnect)
    })
  }

  async close (): Promise<void> {}
}

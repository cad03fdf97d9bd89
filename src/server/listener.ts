/**
 * The public listener: plain HTTP for ws://, or HTTPS for wss:// when a
 * certificate and key are given. Certificates can be reloaded (SIGHUP)
 * without dropping live connections: only new handshakes see the new ones.
 */
import { readFileSync } from 'node:fs'
import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo, Server } from 'node:net'
import type { SecureContextOptions } from 'node:tls'
import { InvalidOptionError, ListenError, UnreadableFileError } from '../errors.js'
import type { ResolvedOptions } from '../options.js'

type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void

function readPem (option: string, path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new UnreadableFileError(option, path, err as NodeJS.ErrnoException)
  }
}

/** `host:port` as people write it: IPv6 hosts in brackets. */
export function hostPort (host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}

/**
 * Binds `server`; rejects with a ListenError naming `option` and the
 * address (a taken port, a host not on this machine, a privileged port).
 */
export async function listenOn (server: Server, option: string, port: number, host: string): Promise<AddressInfo> {
  server.listen(port, host)
  try {
    await once(server, 'listening')
  } catch (err) {
    throw new ListenError(option, hostPort(host, port), err as NodeJS.ErrnoException)
  }
  return server.address() as AddressInfo
}

/** The server's certificate, key and client CA, read from their files now. */
export function secureContextOptions (options: ResolvedOptions): SecureContextOptions {
  return {
    cert: readPem('tlsCert', options.tlsCert as string),
    key: readPem('tlsKey', options.tlsKey as string),
    ...(options.tlsCa === undefined ? {} : { ca: readPem('tlsCa', options.tlsCa) })
  }
}

/** Limits on the HTTP request that carries the upgrade. */
function requestLimits (options: ResolvedOptions): http.ServerOptions {
  return {
    maxHeaderSize: options.maxHeaderSize,
    headersTimeout: options.handshakeTimeout,
    requestTimeout: options.handshakeTimeout,
    // Node checks those timeouts on this interval (30 s by default).
    connectionsCheckingInterval: Math.min(1000, options.handshakeTimeout)
  }
}

export function createListener (options: ResolvedOptions, onRequest: RequestListener): http.Server {
  if (options.tlsCert === undefined) return http.createServer(requestLimits(options), onRequest)
  const secure = secureContextOptions(options)
  try {
    return createHttpsListener(options, secure, onRequest)
  } catch (err) {
    // OpenSSL's word on files that were read but do not hold a usable pair.
    throw new InvalidOptionError('tlsCert', `(with tlsKey${options.tlsCa === undefined ? '' : ', tlsCa'}) is not a usable certificate and key: ${(err as Error).message}`)
  }
}

function createHttpsListener (options: ResolvedOptions, secure: SecureContextOptions, onRequest: RequestListener): https.Server {
  return https.createServer({
    ...requestLimits(options),
    ...secure,
    // The TLS handshake gets the same bound as the request (Node's default
    // is 120 s: slow-loris over TLS would hold sockets 12 times longer).
    // The request timeouts above start once it is done.
    handshakeTimeout: options.handshakeTimeout,
    // Client certificates: asked for when a CA is given, required on demand.
    requestCert: options.tlsCa !== undefined,
    rejectUnauthorized: options.tlsRequireClientCert
  }, onRequest)
}

/** Re-reads the certificate files into a running HTTPS listener. */
export function reloadCertificates (server: http.Server, options: ResolvedOptions): void {
  if (!(server instanceof https.Server)) return
  server.setSecureContext(secureContextOptions(options))
}

/**
 * `mqtt-ws-gateway --help`: every option with its flag, environment
 * variable and default. The README's option table is this text's twin.
 */
import { defaultOptions, optionNames } from '../options.js'
import type { GatewayOptions } from '../options.js'
import { envName, flagName } from './config.js'

export const optionHelp: { [K in keyof GatewayOptions]: string } = {
  host: 'address to listen on',
  port: 'WebSocket port (0 = any free port)',
  paths: 'path that accepts WebSocket upgrades (repeatable, or comma-separated)',
  upstream: 'broker to bridge to, mqtt://host:port or mqtts://host:port; repeat (or comma-separate) for several (omit for the embedded broker)',
  upstreamStrategy: 'with several upstreams: failover (first that accepts), round-robin, or hash (by MQTT client id: a client always lands on the same broker)',
  upstreamBackoff: 'ms a broker that refused a connection is skipped',
  tcpPort: 'embedded broker only: plain MQTT TCP port (0 = off)',
  tcpHost: 'embedded broker only: address of the TCP listener (default: --host)',
  tlsCert: 'PEM certificate (chain) file: serve wss:// (with --tls-key); reloaded on SIGHUP',
  tlsKey: 'PEM private key file for --tls-cert',
  tlsCa: 'PEM CA file: ask clients for certificates signed by it',
  tlsRequireClientCert: 'with --tls-ca: refuse clients without a valid certificate',
  upstreamCa: 'mqtts:// upstream: PEM CA file to verify the broker (default: system CAs)',
  upstreamCert: 'mqtts:// upstream: PEM client certificate file (with --upstream-key)',
  upstreamKey: 'mqtts:// upstream: PEM client key file',
  upstreamProxyProtocol: 'off, v1 or v2: send a PROXY protocol header with the client address first on each upstream connection',
  upstreamServername: "mqtts:// upstream: name the broker's certificate must carry (default: the URL's host)",
  requireSubprotocol: 'refuse (400) upgrades that offer no WebSocket subprotocol',
  perMessageDeflate: 'negotiate permessage-deflate compression with clients that offer it (CPU-heavy)',
  allowedOrigins: 'origins allowed to connect: https://app.example.com, https://*.example.com, *.example.com (repeatable or comma-separated; none = all; others get 403)',
  allowMissingOrigin: 'with --allowed-origins: also accept requests without an Origin header (devices, native apps)',
  trustedProxies: 'proxies (addresses or CIDRs) whose --client-address-header names the client (repeatable)',
  clientAddressHeader: 'with --trusted-proxies: the one header they write the client address into: x-forwarded-for, forwarded (RFC 7239) or x-real-ip; others are ignored',
  maxConnectionsPerIp: 'most concurrent connections from one address, 429 over it (0 = no limit)',
  connectRatePerIp: 'sustained connects per second from one address, 429 over it (0 = no limit)',
  connectBurstPerIp: 'connects one address may make at once before --connect-rate-per-ip applies',
  maxMessageSize: 'largest WebSocket message / MQTT packet in bytes (larger: close 1009)',
  maxMessageSizeBeforeConnack: 'largest message before the broker accepts the client (CONNACK); then --max-message-size',
  maxConnections: 'most concurrent connections (more: HTTP 503)',
  maxPendingUpgrades: 'most upgrades in progress at once, each waiting on a broker connect (more: HTTP 503)',
  handshakeTimeout: 'ms a client has to send its whole upgrade request, and before that (wss://) to finish the TLS handshake; slower sockets (slow-loris) are closed',
  maxHeaderSize: 'largest upgrade request header block in bytes (larger: HTTP 431)',
  upstreamConnectTimeout: 'ms to reach the broker during the upgrade (then HTTP 502)',
  connackTimeout: 'ms the broker has to answer a CONNECT; then the client gets CONNACK "server unavailable" and close 1013',
  firstPacketTimeout: 'ms a new connection has to send CONNECT',
  closeTimeout: 'ms to wait for the peer to answer a close before dropping it',
  shutdownPeriod: 'ms over which SIGTERM/SIGINT closes connections, evenly (1001 going away); a second signal exits at once',
  workers: 'gateway processes sharing the port (node:cluster), each with its own broker connections; auto = one per CPU; needs --upstream',
  drainTimeout: 'ms a peer may leave a full write buffer undrained before it is disconnected',
  wsPingIdle: 'seconds of silence both ways before a WebSocket ping (0 = never)',
  highWaterMark: 'bytes buffered for a slow side before the other side is paused',
  brokerQueueLimit: 'embedded broker: messages queued per client before its session is ready',
  brokerMaxQueued: 'embedded broker: most QoS 1/2 messages kept for a persistent session while it is offline; newer ones are not queued (0 = no bound)',
  brokerKeepaliveLimit: 'embedded broker: largest MQTT keep-alive accepted, seconds (0 = any)',
  logLevel: 'fatal, error, warn, info, debug, trace or silent',
  adminHost: 'address of the admin HTTP listener: /metrics, /healthz, /readyz, status page at /',
  adminPort: 'admin HTTP port (0 = off); must differ from --port; not 9100, node_exporter\'s',
  jwtSecret: 'check a JWT at the upgrade (401 without a valid one): HS256 shared secret, 32+ bytes (prefer the env variable)',
  jwtPublicKey: 'check a JWT at the upgrade: PEM public key file (RSA: RS256, P-256: ES256)',
  jwtJwks: 'check a JWT at the upgrade: local JWKS file of RS256 / ES256 keys',
  jwtAudience: 'with a JWT check: required aud claim',
  jwtIssuer: 'with a JWT check: required iss claim',
  jwtCookie: 'with a JWT check: cookie that carries the token (after Authorization: Bearer and ?access_token=)',
  jwtClientIdClaim: 'with a JWT check: claim (e.g. sub) the MQTT client id must equal (else close 1008)',
  jwtUsernameClaim: 'with a JWT check: claim the MQTT username must equal (else close 1008)',
  jwtClockTolerance: 'with a JWT check: seconds of clock skew allowed on exp/nbf; connections close at exp + this (1008)',
  jwtAllowNoExp: 'with a JWT check: accept tokens without an exp claim, which never expire (default: refused, 401)',
  // issue 14: fleet
  acceptProxyProtocol: 'read a PROXY protocol header (v1 or v2, before TLS) from every peer in --trusted-proxies: its address is the client\'s; others must send none (closed if they do)',
  shutdownDelay: 'ms /readyz answers 503 after SIGTERM/SIGINT while the gateway still accepts and serves, before --shutdown-period (load balancers take it out first)',
  instanceId: 'name of this gateway on every log line and as the instance label of its metrics (default: hostname-pid)'
}

export function helpText (): string {
  const rows = optionNames.map((name) => {
    const isBoolean = typeof defaultOptions[name] === 'boolean'
    const kind = isBoolean ? `, --no-${flagName(name)}` : ' <value>'
    const fallback = defaultOptions[name]
    const shown = fallback === undefined ? '' : ` (default: ${Array.isArray(fallback) ? fallback.join(',') : String(fallback)})`
    return `  --${flagName(name)}${kind}\n      ${optionHelp[name]}${shown}\n      env ${envName(name)}`
  })
  return [
    'Usage: mqtt-ws-gateway [options]          bridge MQTT over WebSocket to a broker',
    '',
    'Options (flags override MQTT_WS_GATEWAY_* variables, which override --config):',
    '  --config <file>\n      JSON file of options, camelCase names as in the README\n      env MQTT_WS_GATEWAY_CONFIG',
    '  --print-config\n      print the effective configuration and exit',
    ...rows,
    '  --version, --help'
  ].join('\n')
}

/**
 * Every gateway option, described once: its type, default and check.
 * `GatewayOptions`, the defaults and validation (options.ts) and the command
 * line (cli/config.ts) are derived from this table.
 *
 * Adding an option is one entry here, in the group it belongs to:
 *
 *   shutdownDelay: integer(0, 600_000, { default: 0 }),
 *
 * - The builder (spec.ts) gives the type and the check: integer(min, max),
 *   boolean, string, optionalString (undefined by default; `check` for a
 *   stricter one), oneOf([...words]), list(checkEach), numberOrWord. A check
 *   of its own goes in checks.ts, and throws an InvalidOptionError naming
 *   the option.
 * - Its flag is the name in kebab case (--shutdown-delay), its variable
 *   MQTT_WS_GATEWAY_ and the flag in upper snake case; `flag` changes both.
 * - Say why a default is what it is in a comment above the entry.
 * - An option that needs, or excludes, another: a line in checkCombinations
 *   (options.ts), the one place for checks between options.
 */
import { CLIENT_ADDRESS_HEADERS } from '../server/client-address.js'
import { cidrList, cookieName, hmacSecret, LOG_LEVELS, originList, pathList, upstreamUrls, workerCount } from './checks.js'
import { boolean, integer, list, numberOrWord, oneOf, optionalString, string } from './spec.js'

export const optionSchema = Object.freeze({
  // The WebSocket listener.
  host: string({ default: '0.0.0.0' }),
  port: integer(0, 65535, { default: 8000 }),
  paths: list(pathList, { default: ['/mqtt'], flag: 'path', unique: true }),

  // The broker: undefined starts the embedded one.
  upstream: optionalString({ check: upstreamUrls, repeatable: true }),
  upstreamStrategy: oneOf(['failover', 'round-robin', 'hash'], { default: 'failover' }),
  upstreamBackoff: integer(0, 3_600_000, { default: 5000 }),
  tcpPort: integer(0, 65535, { default: 1883 }),
  tcpHost: optionalString(),

  // TLS, towards clients (wss://) and towards the broker (mqtts://).
  tlsCert: optionalString(),
  tlsKey: optionalString(),
  tlsCa: optionalString(),
  tlsRequireClientCert: boolean({ default: false }),
  upstreamCa: optionalString(),
  upstreamCert: optionalString(),
  upstreamKey: optionalString(),
  upstreamServername: optionalString(),
  upstreamProxyProtocol: oneOf(['off', 'v1', 'v2'], { default: 'off' }),

  // Who may connect.
  requireSubprotocol: boolean({ default: false }),
  perMessageDeflate: boolean({ default: false }),
  allowedOrigins: list(originList, { default: [] }),
  allowMissingOrigin: boolean({ default: true }),
  trustedProxies: list(cidrList, { default: [] }),
  // What nginx's $proxy_add_x_forwarded_for, HAProxy's `option forwardfor`
  // and most cloud load balancers append.
  clientAddressHeader: oneOf(CLIENT_ADDRESS_HEADERS, { default: 'x-forwarded-for' }),
  // Off by default: whole fleets often share one NAT address.
  maxConnectionsPerIp: integer(0, 1_000_000, { default: 0 }),
  connectRatePerIp: integer(0, 1_000_000, { default: 0 }),
  connectBurstPerIp: integer(1, 1_000_000, { default: 20 }),

  // Limits. The message sizes stop near MQTT's own ceiling, 268,435,455
  // bytes (a 4-byte remaining length).
  // 1 MiB, as EMQX's default max_packet_size: generous for telemetry and
  // commands, and it bounds what one connection can make the gateway hold
  // while it assembles a broker packet into one WebSocket message.
  maxMessageSize: integer(16, 268_435_460, { default: 1024 * 1024 }),
  // CONNECT with a will and a password rarely passes 1 KiB; 64 KiB leaves
  // room for large wills while an unauthenticated client cannot make the
  // gateway hold megabytes.
  maxMessageSizeBeforeConnack: integer(16, 268_435_460, { default: 64 * 1024 }),
  // Each bridged connection uses two file descriptors; 9,900 fits under the
  // 20,000-descriptor cap common on hosted machines with room for listeners.
  maxConnections: integer(1, 1_000_000, { default: 9900 }),
  maxPendingUpgrades: integer(1, 1_000_000, { default: 1000 }),

  // Timeouts, in milliseconds unless the name says otherwise.
  handshakeTimeout: integer(100, 600_000, { default: 10_000 }),
  // Browsers send 1-2 KB of headers; cookies and tokens rarely push past 8 KB.
  maxHeaderSize: integer(1024, 1024 * 1024, { default: 16 * 1024 }),
  upstreamConnectTimeout: integer(1, 600_000, { default: 5000 }),
  firstPacketTimeout: integer(1, 600_000, { default: 10_000 }),
  // Brokers that authenticate through an HTTP or database backend answer
  // within a second or two; a broker silent for 10 s is not coming back.
  connackTimeout: integer(1, 600_000, { default: 10_000 }),
  closeTimeout: integer(1, 600_000, { default: 5000 }),
  // Spread over 10 s, a fleet's reconnects do not land on the next
  // instance all at once; well inside Kubernetes' 30 s grace period.
  /**
   * CLI only (SIGTERM/SIGINT): `createGateway()` leaves its processes and
   * signals to the library user, who passes `drainMs` to `close()`.
   */
  shutdownPeriod: integer(0, 3_600_000, { default: 10_000 }),
  // One process: exactly what runs without the option.
  /**
   * CLI only: gateway processes sharing the port through node:cluster.
   * `createGateway()` always runs one gateway in the calling process, as it
   * ignores shutdownPeriod: a library user owns its processes.
   */
  workers: numberOrWord(['auto'], workerCount, { default: 1 }),
  drainTimeout: integer(1, 3_600_000, { default: 60_000 }),
  wsPingIdle: integer(0, 86_400, { default: 30 }),
  // Not below Node's own 16 KiB mark, so a write over ours always ends in 'drain'.
  highWaterMark: integer(16 * 1024, 1024 * 1024 * 1024, { default: 512 * 1024 }),

  // The embedded broker.
  brokerQueueLimit: integer(1, 1_000_000, { default: 42 }),
  // Off: Aedes's limit also refuses keep-alive 0 ("never check me", common on
  // devices) with a return code 3.1.1 does not define; silent WebSocket
  // clients are found by idle pings instead.
  brokerKeepaliveLimit: integer(0, 65535, { default: 0 }),

  // Logs and the admin listener.
  logLevel: oneOf(LOG_LEVELS, { default: 'info' }),
  // Loopback: the status page shows client ids and addresses, and metrics
  // are for a scraper on the same host or behind an explicit --admin-host.
  adminHost: string({ default: '127.0.0.1' }),
  // Not 9100 (node_exporter, on most monitored hosts: a taken port stopped
  // the start) nor anywhere in 9090-9999 (Prometheus's allocations for its
  // exporters, all taken); no broker's default either (1883, 8883, 8080,
  // 8083/8084, 8161, 9001, 15672, 18083): 8090, next to the WebSocket port.
  adminPort: integer(0, 65535, { default: 8090 }),

  // The token check at the upgrade: at most one of jwtSecret, jwtPublicKey, jwtJwks.
  jwtSecret: optionalString({ check: hmacSecret }),
  jwtPublicKey: optionalString(),
  jwtJwks: optionalString(),
  jwtAudience: optionalString(),
  jwtIssuer: optionalString(),
  jwtCookie: optionalString({ check: cookieName }),
  jwtClientIdClaim: optionalString(),
  jwtUsernameClaim: optionalString(),
  // Small: a connection is closed this long after its token's exp.
  jwtClockTolerance: integer(0, 300, { default: 5 }),
  // Off: a token without exp, once leaked, opens connections forever
  // (RFC 8725 §3.10 asks for expiry, OWASP's JWT guide likewise).
  jwtAllowNoExp: boolean({ default: false })
})

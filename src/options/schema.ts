/**
 * Every gateway option, described once: type, default, check, help, secret
 * or not, flag and environment variable. From this table come
 * `GatewayOptions` and the defaults and validation (options.ts), the flags
 * and variables (cli/config.ts), `--help` (cli/help.ts) and README.md's
 * option table (scripts/docs-options.ts).
 *
 * Adding an option is one entry here, in the group it belongs to, e.g.
 *
 *   shutdownDelay: integer(0, 600_000, { default: 0, help: 'ms between failing /readyz and closing connections' }),
 *   adminToken: list(adminTokens, { default: [], secret: true, help: 'bearer tokens for the admin endpoints' }),
 *
 * then `npm run docs:options` to rewrite README.md's table (a unit test
 * fails until it matches). Nothing else lists option names.
 *
 * - The builder (spec.ts) sets the type, the check and how a flag's text is
 *   read: integer(min, max), boolean (also --no-X), string, optionalString
 *   (undefined by default), oneOf([...words]), list(checkEach) (comma-
 *   separated, repeatable, frozen once resolved), numberOrWord. A check of
 *   its own goes in checks.ts and throws an InvalidOptionError naming the
 *   option; optionalString takes it as `check`.
 * - `help`: one line without a full stop, as --help and the README show
 *   it; both append the default themselves.
 * - `secret: true` for a password, token or key given as a value (not a file
 *   name): --print-config and the start-up log line show it as ***.
 * - Its flag is the name in kebab case (--shutdown-delay), its variable
 *   MQTT_WS_GATEWAY_ and the flag in upper snake case; `flag` changes both.
 *   `repeatable` (a string given several times is joined with commas),
 *   `unique` (a list loses repeats) are the other exceptions.
 * - Say why a default is what it is in a comment above the entry.
 * - An option that needs, or excludes, another: a line in checkCombinations
 *   (options.ts), the one place for checks between options.
 */
import { CLIENT_ADDRESS_HEADERS } from '../server/client-address.js'
import { adminTokens, cidrList, cookieName, hmacSecret, instanceName, LOG_LEVELS, originList, pathList, upstreamUrls, workerCount } from './checks.js'
import { boolean, integer, list, numberOrWord, oneOf, optionalString, string } from './spec.js'

export const optionSchema = Object.freeze({
  // The WebSocket listener.
  host: string({ default: '0.0.0.0', help: 'address to listen on' }),
  port: integer(0, 65535, { default: 8000, help: 'WebSocket port (0 = any free port)' }),
  paths: list(pathList, { default: ['/mqtt'], flag: 'path', unique: true, help: 'path that accepts WebSocket upgrades (repeatable, or comma-separated)' }),

  // The broker: undefined starts the embedded one.
  upstream: optionalString({ check: upstreamUrls, repeatable: true, help: 'broker to bridge to, mqtt://host:port or mqtts://host:port; repeat (or comma-separate) for several (omit for the embedded broker)' }),
  upstreamStrategy: oneOf(['failover', 'round-robin', 'hash'], { default: 'failover', help: 'with several upstreams: failover (first that accepts), round-robin, or hash (by MQTT client id: a client always lands on the same broker)' }),
  upstreamBackoff: integer(0, 3_600_000, { default: 5000, help: 'ms a broker that refused a connection is skipped' }),
  tcpPort: integer(0, 65535, { default: 1883, help: 'embedded broker only: plain MQTT TCP port (0 = off)' }),
  tcpHost: optionalString({ help: 'embedded broker only: address of the TCP listener (default: --host)' }),

  // TLS, towards clients (wss://) and towards the broker (mqtts://).
  tlsCert: optionalString({ help: 'PEM certificate (chain) file: serve wss:// (with --tls-key); reloaded on SIGHUP' }),
  tlsKey: optionalString({ help: 'PEM private key file for --tls-cert' }),
  tlsCa: optionalString({ help: 'PEM CA file: ask clients for certificates signed by it' }),
  tlsRequireClientCert: boolean({ default: false, help: 'with --tls-ca: refuse clients without a valid certificate' }),
  upstreamCa: optionalString({ help: 'mqtts:// upstream: PEM CA file to verify the broker (default: system CAs)' }),
  upstreamCert: optionalString({ help: 'mqtts:// upstream: PEM client certificate file (with --upstream-key)' }),
  upstreamKey: optionalString({ help: 'mqtts:// upstream: PEM client key file' }),
  upstreamServername: optionalString({ help: "mqtts:// upstream: name the broker's certificate must carry (default: the URL's host)" }),
  upstreamProxyProtocol: oneOf(['off', 'v1', 'v2'], { default: 'off', help: 'off, v1 or v2: send a PROXY protocol header with the client address first on each upstream connection' }),

  // Who may connect.
  requireSubprotocol: boolean({ default: false, help: 'refuse (400) upgrades that offer no WebSocket subprotocol' }),
  perMessageDeflate: boolean({ default: false, help: 'negotiate permessage-deflate compression with clients that offer it (CPU-heavy)' }),
  allowedOrigins: list(originList, { default: [], help: 'origins allowed to connect: https://app.example.com, https://*.example.com, *.example.com (repeatable or comma-separated; none = all; others get 403)' }),
  allowMissingOrigin: boolean({ default: true, help: 'with --allowed-origins: also accept requests without an Origin header (devices, native apps)' }),
  trustedProxies: list(cidrList, { default: [], help: 'proxies (addresses or CIDRs) whose --client-address-header names the client (repeatable)' }),
  // What nginx's $proxy_add_x_forwarded_for, HAProxy's `option forwardfor`
  // and most cloud load balancers append.
  clientAddressHeader: oneOf(CLIENT_ADDRESS_HEADERS, { default: 'x-forwarded-for', help: 'with --trusted-proxies: the one header they write the client address into: x-forwarded-for, forwarded (RFC 7239) or x-real-ip; others are ignored' }),
  // Off by default: whole fleets often share one NAT address.
  maxConnectionsPerIp: integer(0, 1_000_000, { default: 0, help: 'most concurrent connections from one address, 429 over it (0 = no limit)' }),
  connectRatePerIp: integer(0, 1_000_000, { default: 0, help: 'sustained connects per second from one address, 429 over it (0 = no limit)' }),
  connectBurstPerIp: integer(1, 1_000_000, { default: 20, help: 'connects one address may make at once before --connect-rate-per-ip applies' }),

  // Limits. The message sizes stop near MQTT's own ceiling, 268,435,455
  // bytes (a 4-byte remaining length).
  // 1 MiB, as EMQX's default max_packet_size: generous for telemetry and
  // commands, and it bounds what one connection can make the gateway hold
  // while it assembles a broker packet into one WebSocket message.
  maxMessageSize: integer(16, 268_435_460, { default: 1024 * 1024, help: 'largest WebSocket message / MQTT packet in bytes (larger: close 1009)' }),
  // CONNECT with a will and a password rarely passes 1 KiB; 64 KiB leaves
  // room for large wills while an unauthenticated client cannot make the
  // gateway hold megabytes.
  maxMessageSizeBeforeConnack: integer(16, 268_435_460, { default: 64 * 1024, help: 'largest message before the broker accepts the client (CONNACK); then --max-message-size' }),
  // Each bridged connection uses two file descriptors; 9,900 fits under the
  // 20,000-descriptor cap common on hosted machines with room for listeners.
  maxConnections: integer(1, 1_000_000, { default: 9900, help: 'most concurrent connections (more: HTTP 503)' }),
  maxPendingUpgrades: integer(1, 1_000_000, { default: 1000, help: 'most upgrades in progress at once, each waiting on a broker connect (more: HTTP 503)' }),

  // Timeouts, in milliseconds unless the name says otherwise.
  handshakeTimeout: integer(100, 600_000, { default: 10_000, help: 'ms a client has to send its whole upgrade request, and before that (wss://) to finish the TLS handshake; slower sockets (slow-loris) are closed' }),
  // Browsers send 1-2 KB of headers; cookies and tokens rarely push past 8 KB.
  maxHeaderSize: integer(1024, 1024 * 1024, { default: 16 * 1024, help: 'largest upgrade request header block in bytes (larger: HTTP 431)' }),
  upstreamConnectTimeout: integer(1, 600_000, { default: 5000, help: 'ms to reach the broker during the upgrade (then HTTP 502)' }),
  firstPacketTimeout: integer(1, 600_000, { default: 10_000, help: 'ms a new connection has to send CONNECT' }),
  // Brokers that authenticate through an HTTP or database backend answer
  // within a second or two; a broker silent for 10 s is not coming back.
  connackTimeout: integer(1, 600_000, { default: 10_000, help: 'ms the broker has to answer a CONNECT; then the client gets CONNACK "server unavailable" and close 1013' }),
  closeTimeout: integer(1, 600_000, { default: 5000, help: 'ms to wait for the peer to answer a close before dropping it' }),
  // Spread over 10 s, a fleet's reconnects do not land on the next
  // instance all at once; well inside Kubernetes' 30 s grace period.
  /**
   * CLI only (SIGTERM/SIGINT): `createGateway()` leaves its processes and
   * signals to the library user, who passes `drainMs` to `close()`.
   */
  shutdownPeriod: integer(0, 3_600_000, { default: 10_000, help: 'ms over which SIGTERM/SIGINT closes connections, evenly (1001 going away); a second signal exits at once' }),
  // One process: exactly what runs without the option.
  /**
   * CLI only: gateway processes sharing the port through node:cluster.
   * `createGateway()` always runs one gateway in the calling process, as it
   * ignores shutdownPeriod: a library user owns its processes.
   */
  workers: numberOrWord(['auto'], workerCount, { default: 1, help: 'gateway processes sharing the port (node:cluster), each with its own broker connections; auto = one per CPU; needs --upstream' }),
  drainTimeout: integer(1, 3_600_000, { default: 60_000, help: 'ms a peer may leave a full write buffer undrained before it is disconnected' }),
  wsPingIdle: integer(0, 86_400, { default: 30, help: 'seconds of silence both ways before a WebSocket ping (0 = never)' }),
  // Not below Node's own 16 KiB mark, so a write over ours always ends in 'drain'.
  highWaterMark: integer(16 * 1024, 1024 * 1024 * 1024, { default: 512 * 1024, help: 'bytes buffered for a slow side before the other side is paused' }),

  // The embedded broker.
  brokerQueueLimit: integer(1, 1_000_000, { default: 42, help: 'embedded broker: messages queued per client before its session is ready' }),
  // Off: Aedes's limit also refuses keep-alive 0 ("never check me", common on
  // devices) with a return code 3.1.1 does not define; silent WebSocket
  // clients are found by idle pings instead.
  brokerKeepaliveLimit: integer(0, 65535, { default: 0, help: 'embedded broker: largest MQTT keep-alive accepted, seconds (0 = any)' }),
  // Mosquitto's max_queued_messages: a client that never comes back holds
  // a bounded share of memory, not every message of its topics.
  brokerMaxQueued: integer(0, 100_000_000, { default: 1000, help: 'embedded broker: most QoS 1/2 messages kept for a persistent session while it is offline; newer ones are not queued (0 = no bound)' }),

  // Logs and the admin listener.
  logLevel: oneOf(LOG_LEVELS, { default: 'info', help: 'fatal, error, warn, info, debug, trace or silent' }),
  // Loopback: the status page shows client ids and addresses, and metrics
  // are for a scraper on the same host or behind an explicit --admin-host.
  adminHost: string({ default: '127.0.0.1', help: 'address of the admin HTTP listener: /metrics, /healthz, /readyz, status page at /' }),
  // Not 9100 (node_exporter, on most monitored hosts: a taken port stopped
  // the start) nor anywhere in 9090-9999 (Prometheus's allocations for its
  // exporters, all taken); no broker's default either (1883, 8883, 8080,
  // 8083/8084, 8161, 9001, 15672, 18083): 8090, next to the WebSocket port.
  adminPort: integer(0, 65535, { default: 8090, help: 'admin HTTP port (0 = off); must differ from --port; not 9100, node_exporter\'s' }),
  adminToken: list(adminTokens, { default: [], secret: true, help: 'bearer token for the trace and connection endpoints of the admin listener, secret or name:secret (16+ bytes; repeatable; prefer the env variable); without one they answer only on a loopback --admin-host' }),

  // Live tracing (issue 15).
  traceFile: optionalString({ help: 'NDJSON file every trace also writes its events to (and where trace --detach writes), rotated by --trace-file-size' }),
  // 64 MiB × (1 + 4 kept) bounds the disk a forgotten trace can fill.
  traceFileSize: integer(64 * 1024, 1024 * 1024 * 1024 * 1024, { default: 64 * 1024 * 1024, help: 'bytes a trace file reaches before it is renamed to <file>.1 and a new one started' }),
  traceFileCount: integer(0, 1000, { default: 4, help: 'rotated trace files kept (<file>.1 … <file>.N), the oldest deleted' }),
  maxTraces: integer(1, 1000, { default: 8, help: 'traces running at once (more: HTTP 429)' }),
  // Decoding costs CPU on the traced connections only; 100 bounds it.
  maxTracedConnections: integer(1, 1_000_000, { default: 100, help: 'connections traced at once over all traces; matching connections beyond it are reported, not traced' }),
  // A night: time to wait for the client that drops at 03:12.
  traceMaxDuration: integer(1, 30 * 86_400, { default: 86_400, help: 'seconds a trace may run; every trace stops by itself after its --duration (default 600) or this' }),

  // The token check at the upgrade: at most one of jwtSecret, jwtPublicKey, jwtJwks.
  jwtSecret: optionalString({ check: hmacSecret, secret: true, help: 'check a JWT at the upgrade (401 without a valid one): HS256 shared secret, 32+ bytes (prefer the env variable)' }),
  jwtPublicKey: optionalString({ help: 'check a JWT at the upgrade: PEM public key file (RSA: RS256, P-256: ES256)' }),
  jwtJwks: optionalString({ help: 'check a JWT at the upgrade: local JWKS file of RS256 / ES256 keys' }),
  jwtAudience: optionalString({ help: 'with a JWT check: required aud claim' }),
  jwtIssuer: optionalString({ help: 'with a JWT check: required iss claim' }),
  jwtCookie: optionalString({ check: cookieName, help: 'with a JWT check: cookie that carries the token (after Authorization: Bearer and ?access_token=)' }),
  jwtClientIdClaim: optionalString({ help: 'with a JWT check: claim (e.g. sub) the MQTT client id must equal (else close 1008)' }),
  jwtUsernameClaim: optionalString({ help: 'with a JWT check: claim the MQTT username must equal (else close 1008)' }),
  // Small: a connection is closed this long after its token's exp.
  jwtClockTolerance: integer(0, 300, { default: 5, help: 'with a JWT check: seconds of clock skew allowed on exp/nbf; connections close at exp + this (1008)' }),
  // Off: a token without exp, once leaked, opens connections forever
  // (RFC 8725 §3.10 asks for expiry, OWASP's JWT guide likewise).
  jwtAllowNoExp: boolean({ default: false, help: 'with a JWT check: accept tokens without an exp claim, which never expire (default: refused, 401)' }),

  // Behind a load balancer, in a fleet of gateways.
  // Off: only a load balancer that sends the header may be trusted to; needs --trusted-proxies.
  acceptProxyProtocol: boolean({ default: false, help: 'read a PROXY protocol header (v1 or v2, before TLS) from every peer in --trusted-proxies: its address is the client\'s; others must send none (closed if they do)' }),
  // Kubernetes removes a Terminating pod from its Service's endpoints at
  // once, but kube-proxy and ingress controllers learn it 1-3 s later (more
  // in large clusters); 5 s covers that without a preStop hook, and
  // 5 + 10 (shutdownPeriod) + 5 (closeTimeout) = 20 s fits the default
  // terminationGracePeriodSeconds of 30 s.
  shutdownDelay: integer(0, 3_600_000, { default: 5000, help: 'ms /readyz answers 503 after SIGTERM/SIGINT while the gateway still accepts and serves, before --shutdown-period (load balancers take it out first)' }),
  // hostname-pid when unset, chosen at start (a pod's hostname is its name).
  instanceId: optionalString({ check: instanceName, help: 'name of this gateway on every log line and as the instance label of its metrics (default: hostname-pid)' })
})


/**
 * Every error and every rejection the gateway can produce, in one registry.
 *
 * Callers and tests branch on `code`, never on message text. A code, once
 * published, is never reused for something else.
 */

/**
 * Every error code, with what it means (as undici's `UND_ERR_*` and
 * fastify's `FST_ERR_*`). Each error class below carries one of these.
 * A new error: a code here, then its class below.
 */
export const errorCodes = {
  MWG_ERR_INVALID_OPTION: 'an option failed validation; `option` names it',
  MWG_ERR_READ_FILE: 'a file an option names (certificate, key, CA, JWT key) cannot be read',
  MWG_ERR_LISTEN: 'a listener (port, tcpPort, adminPort) could not bind',
  MWG_ERR_UPSTREAM_CONNECT: 'no broker connection for a client; `reason` is the upgrade rejection (HTTP status) it leads to',
  MWG_ERR_MALFORMED_PACKET: 'a client\'s first packet is not one whole, well-formed CONNECT',
  MWG_ERR_NOT_LISTENING: 'asked a gateway for what only a listening one has (its address, its upstream)',
  MWG_ERR_OUT_OF_RANGE: 'a function was given a number outside what it accepts (a programming error, not a client\'s)',
  MWG_ERR_PACKET_IDS_EXHAUSTED: 'an embedded-broker session has all 65,535 packet identifiers in flight: none left for another QoS 1/2 message',
  MWG_ERR_MQTT5_UNSUPPORTED: 'the embedded broker refused an MQTT 5 CONNECT (Aedes 1.x speaks 3.1 and 3.1.1)',
  MWG_ERR_EMPTY_CLIENT_ID: 'the embedded broker refused a CONNECT with an empty client id and clean session 0 (CONNACK 2, [MQTT-3.1.3-8])',
  MWG_ERR_UNREAD_OVERFLOW: 'the embedded broker had more waiting for a slow WebSocket client than its bound: the client is dropped',
  // A trace request the admin API refuses; traceErrors gives each its HTTP status.
  MWG_ERR_TRACE_FILTER: 'a trace filter that cannot be read (client id, address, CIDR, topic filter)',
  MWG_ERR_TRACE_PARAM: 'a trace request parameter out of range or unknown',
  MWG_ERR_TRACE_UNAUTHORIZED: 'a trace request without a valid admin token',
  MWG_ERR_TRACE_FORBIDDEN: 'a trace request the admin listener does not serve (off loopback without tokens, cross-site, a forged Host)',
  MWG_ERR_TRACE_NOT_FOUND: 'no such trace or connection',
  MWG_ERR_TRACE_NO_FILE: 'a detached trace asked for without --trace-file',
  MWG_ERR_TRACE_LIMIT: 'more traces than --max-traces',
  MWG_ERR_TRACE_FILE: 'the trace file cannot be opened or written',
  MWG_ERR_TRACE_INTERNAL: 'a trace request failed inside the gateway',
  MWG_ERR_TRACE_CLOSING: 'a trace asked of a gateway that is shutting down',
  MWG_ERR_USAGE: 'a subcommand\'s command line cannot be read (mqtt-ws-gateway trace: exit 2 with its usage)'
} as const

export type ErrorCode = keyof typeof errorCodes

export class GatewayError extends Error {
  readonly code: ErrorCode
  constructor (code: ErrorCode, message: string) {
    super(message)
    this.name = 'GatewayError'
    this.code = code
  }
}

/** An option failed validation; the message names it. */
export class InvalidOptionError extends GatewayError {
  readonly option: string
  constructor (option: string, problem: string, code: ErrorCode = 'MWG_ERR_INVALID_OPTION') {
    super(code, `option "${option}" ${problem}`)
    this.name = 'InvalidOptionError'
    this.option = option
  }
}

// Start-up failures (issue 11): the options are valid, but the machine
// refused. The CLI prints one line naming the option and exits 1 (2 is for
// invalid options).

/** What a system error code means, in words, for a one-line message. */
function describeErrno (err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE': return 'address already in use'
    case 'EACCES': return 'permission denied'
    case 'EADDRNOTAVAIL': return 'address not available on this machine'
    case 'ENOTFOUND':
    case 'EAI_AGAIN': return 'host name not found'
    case 'ENOENT': return 'no such file'
    case 'EISDIR': return 'is a directory'
    default: return err.code ?? err.message
  }
}

/** A listener (the WebSocket port, the embedded broker's TCP port, the admin port) could not bind. */
export class ListenError extends GatewayError {
  /** The option that names the port: `port`, `tcpPort` or `adminPort`. */
  readonly option: string
  /** `host:port`, IPv6 hosts in brackets. */
  readonly address: string
  /** What went wrong, in words: "address already in use". */
  readonly problem: string
  /** The system error code, e.g. `EADDRINUSE`. */
  readonly errno: string | undefined
  constructor (option: string, address: string, cause: NodeJS.ErrnoException) {
    const problem = describeErrno(cause)
    super('MWG_ERR_LISTEN', `cannot listen on ${address} (${option}): ${problem}`)
    this.name = 'ListenError'
    this.option = option
    this.address = address
    this.problem = problem
    this.errno = cause.code
  }
}

/** The gateway is not listening (listen() not called, failed, or close() done): it has no address, no upstream. */
export class NotListeningError extends GatewayError {
  constructor () {
    super('MWG_ERR_NOT_LISTENING', 'gateway is not listening')
    this.name = 'NotListeningError'
  }
}

/**
 * A number outside what a function accepts. A RangeError, as Node's own
 * ERR_OUT_OF_RANGE is, so it cannot extend GatewayError; its code is ours.
 */
export class OutOfRangeError extends RangeError {
  readonly code = 'MWG_ERR_OUT_OF_RANGE' satisfies ErrorCode
  constructor (message: string) {
    super(message)
    this.name = 'OutOfRangeError'
  }
}

/**
 * The error a stream that imitates a socket (the embedded broker's
 * in-process pair, the deflate channel) gives where a real socket would
 * give a system error. Its code is that system error's (EPIPE, ECONNRESET),
 * not one of ours, on purpose: the code that handles socket errors (the
 * bridge's `err.code ?? err.message` detail, Aedes) needs no second case.
 */
export class SocketError extends Error {
  readonly code: 'EPIPE' | 'ECONNRESET'
  constructor (code: 'EPIPE' | 'ECONNRESET', message: string) {
    super(message)
    this.name = 'SocketError'
    this.code = code
  }
}

/**
 * The embedded broker's queue for a session has every packet identifier
 * (1 to 65,535) held by an unacknowledged QoS 1/2 message, so it cannot
 * number another [MQTT-2.2.1-2]: identifiers in flight are never reused.
 */
export class PacketIdsExhaustedError extends GatewayError {
  constructor () {
    super('MWG_ERR_PACKET_IDS_EXHAUSTED', 'every packet identifier of this session is in flight')
    this.name = 'PacketIdsExhaustedError'
  }
}

/**
 * The embedded broker's refusal of an MQTT 5 client, handed to Aedes's
 * preConnect hook after the CONNACK 0x84 "Unsupported Protocol Version".
 */
export class Mqtt5UnsupportedError extends GatewayError {
  constructor () {
    super('MWG_ERR_MQTT5_UNSUPPORTED', 'MQTT 5 is not supported by the embedded broker (Aedes 1.x speaks 3.1.1)')
    this.name = 'Mqtt5UnsupportedError'
  }
}

/**
 * The embedded broker's refusal of a persistent session without a client id
 * (nobody could resume it), after the CONNACK 2 "Identifier rejected".
 */
export class EmptyClientIdError extends GatewayError {
  constructor () {
    super('MWG_ERR_EMPTY_CLIENT_ID', 'a persistent session (clean session 0) needs a client id [MQTT-3.1.3-8]')
    this.name = 'EmptyClientIdError'
  }
}

/**
 * A file an option names (certificate, key, CA, JWT key) cannot be read.
 * Still an InvalidOptionError, for callers that catch those; its own code.
 */
export class UnreadableFileError extends InvalidOptionError {
  readonly path: string
  readonly problem: string
  constructor (option: string, path: string, cause: NodeJS.ErrnoException) {
    super(option, `cannot read ${path}: ${cause.code ?? String(cause)}`, 'MWG_ERR_READ_FILE')
    this.name = 'UnreadableFileError'
    this.path = path
    this.problem = describeErrno(cause)
  }
}

/**
 * The embedded broker wrote more to a connection than it has read, past its
 * bound: the client behind it reads too slowly (see upstream/duplex-pair.ts).
 */
export class UnreadOverflowError extends GatewayError {
  constructor (unread: number, limit: number) {
    super('MWG_ERR_UNREAD_OVERFLOW', `${unread} bytes waiting for a slow client, over the ${limit}-byte bound`)
    this.name = 'UnreadOverflowError'
  }
}

/**
 * Why an upgrade was refused, with the HTTP status the client gets.
 * The key doubles as the `reason` in logs and metrics.
 */
export const upgradeRejections = {
  path: { status: 404, message: 'No MQTT endpoint at this path' },
  bad_request: { status: 400, message: 'Not a valid WebSocket upgrade request' },
  header_too_large: { status: 431, message: 'Request headers too large' },
  handshake_timeout: { status: 408, message: 'Upgrade request not completed in time' },
  subprotocol_missing: { status: 400, message: 'Offer the "mqtt" WebSocket subprotocol' },
  subprotocol_unsupported: { status: 400, message: 'None of the offered subprotocols is supported (use "mqtt" or "mqttv3.1")' },
  origin: { status: 403, message: 'Origin not allowed' },
  // One generic body for both: why a token failed goes to the log only.
  token_missing: { status: 401, message: 'Unauthorized' },
  token_invalid: { status: 401, message: 'Unauthorized' },
  limit_ip: { status: 429, message: 'Too many connections from your address' },
  limit_rate: { status: 429, message: 'Connecting too fast from your address' },
  limit_connections: { status: 503, message: 'Too many connections' },
  limit_handshakes: { status: 503, message: 'Too many connections being opened' },
  closing: { status: 503, message: 'Gateway is shutting down' },
  upstream_unreachable: { status: 502, message: 'MQTT broker unreachable' },
  upstream_timeout: { status: 502, message: 'MQTT broker did not accept the connection in time' },
  // Edge hardening (issue 11): a WebSocket opens with GET only (RFC 6455 §4.1);
  // CONNECT (a forward-proxy request) is answered the same way, with Allow: GET.
  method: { status: 405, message: 'A WebSocket upgrade uses GET' },
  // --accept-proxy-protocol refusals, before the HTTP or TLS
  // server sees the connection: it is closed without an answer (the status
  // is the one an HTTP answer would have had, for logs and dashboards).
  // A PROXY header from a peer outside --trusted-proxies: a client choosing
  // its own address, or a load balancer missing from the list.
  proxy_header_untrusted: { status: 400, message: 'PROXY protocol header from an untrusted peer' },
  // Not the spec's syntax, a TLV over its limit, a checksum that does not
  // match, or a connection that ended inside the header.
  proxy_header_invalid: { status: 400, message: 'Malformed PROXY protocol header' },
  // A trusted load balancer's connection without a header: its send-proxy is off.
  proxy_header_missing: { status: 400, message: 'PROXY protocol header expected' },
  proxy_header_timeout: { status: 408, message: 'PROXY protocol header not received in time' }
} as const satisfies Record<string, { status: number, message: string }>

export type UpgradeRejection = keyof typeof upgradeRejections

/**
 * An upstream could not open a broker connection for a client. `reason`
 * picks the answer from upgradeRejections (502 unreachable or timed out).
 */
export class UpstreamConnectError extends GatewayError {
  readonly reason: UpgradeRejection
  constructor (reason: UpgradeRejection, message: string) {
    super('MWG_ERR_UPSTREAM_CONNECT', message)
    this.name = 'UpstreamConnectError'
    this.reason = reason
  }
}

/**
 * A client's first packet is not what MQTT requires: a CONNECT
 * [MQTT-3.1.0-1], whole and alone, that mqtt-packet parses; the bridge then
 * closes with `malformed_packet` (1002).
 */
export class MalformedPacketError extends GatewayError {
  constructor (message: string) {
    super('MWG_ERR_MALFORMED_PACKET', message)
    this.name = 'MalformedPacketError'
  }
}

/** The refusals of a connection by --accept-proxy-protocol, before the server sees it. */
export type ProxyRefusal = Extract<UpgradeRejection, `proxy_header_${string}`>

/** WebSocket close codes the gateway sends (RFC 6455 §7.4.1). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  invalidPayload: 1007,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013
} as const

/**
 * Why a bridge ended. `initiator` says who closed first; `reason` is stable
 * and is what logs and metrics carry.
 */
export type CloseInitiator = 'client' | 'broker' | 'gateway'

export const closeReasons = {
  client_close: { initiator: 'client', code: CloseCode.normal },
  client_disconnect: { initiator: 'client', code: CloseCode.normal },
  client_end: { initiator: 'client', code: CloseCode.normal },
  client_error: { initiator: 'client', code: CloseCode.normal },
  broker_close: { initiator: 'broker', code: CloseCode.normal },
  // The broker answered the CONNECT with a refusal (CONNACK code not 0), then closed.
  connack_refused: { initiator: 'broker', code: CloseCode.normal },
  broker_error: { initiator: 'broker', code: CloseCode.internalError },
  // The broker's first bytes were not a CONNACK (not MQTT, or a wrong port).
  broker_protocol_error: { initiator: 'broker', code: CloseCode.internalError },
  // The broker accepted TCP but never answered the CONNECT.
  connack_timeout: { initiator: 'broker', code: CloseCode.tryAgainLater },
  text_frame: { initiator: 'gateway', code: CloseCode.unsupportedData },
  message_too_big: { initiator: 'gateway', code: CloseCode.messageTooBig },
  protocol_error: { initiator: 'gateway', code: CloseCode.protocolError },
  // A close frame whose reason is not UTF-8 [RFC 6455 §8.1].
  invalid_utf8: { initiator: 'gateway', code: CloseCode.invalidPayload },
  malformed_packet: { initiator: 'gateway', code: CloseCode.protocolError },
  connect_timeout: { initiator: 'gateway', code: CloseCode.policyViolation },
  idle_timeout: { initiator: 'gateway', code: CloseCode.goingAway },
  client_drain_timeout: { initiator: 'gateway', code: CloseCode.policyViolation },
  // Embedded broker: more waits for this client than its bound (it reads too slowly).
  client_queue_full: { initiator: 'gateway', code: CloseCode.policyViolation },
  // Embedded broker: more packets before the CONNACK than --broker-queue-limit.
  queue_limit: { initiator: 'gateway', code: CloseCode.policyViolation },
  broker_drain_timeout: { initiator: 'gateway', code: CloseCode.tryAgainLater },
  takeover: { initiator: 'gateway', code: CloseCode.normal },
  token_expired: { initiator: 'gateway', code: CloseCode.policyViolation },
  client_id_mismatch: { initiator: 'gateway', code: CloseCode.policyViolation },
  username_mismatch: { initiator: 'gateway', code: CloseCode.policyViolation },
  // With --upstream-strategy hash: no broker took the client after its CONNECT.
  upstream_unreachable: { initiator: 'gateway', code: CloseCode.tryAgainLater },
  shutdown: { initiator: 'gateway', code: CloseCode.goingAway },
  // The broker ended the session because the same client id
  // connected elsewhere, through another gateway, and said so (MQTT 5
  // DISCONNECT 0x8E "Session taken over"): a takeover, not a broker close.
  broker_takeover: { initiator: 'broker', code: CloseCode.normal }
} as const satisfies Record<string, { initiator: CloseInitiator, code: number }>

export type CloseReason = keyof typeof closeReasons

/** A subcommand's arguments make no sense; the message says which and how. */
export class UsageError extends GatewayError {
  constructor (message: string) {
    super('MWG_ERR_USAGE', message)
    this.name = 'UsageError'
  }
}

/** Why a trace request was refused, with the HTTP status the admin API answers. */
export const traceErrors = {
  MWG_ERR_TRACE_FILTER: 400,
  MWG_ERR_TRACE_PARAM: 400,
  MWG_ERR_TRACE_UNAUTHORIZED: 401,
  MWG_ERR_TRACE_FORBIDDEN: 403,
  MWG_ERR_TRACE_NOT_FOUND: 404,
  MWG_ERR_TRACE_NO_FILE: 409,
  MWG_ERR_TRACE_LIMIT: 429,
  MWG_ERR_TRACE_FILE: 500,
  MWG_ERR_TRACE_INTERNAL: 500,
  MWG_ERR_TRACE_CLOSING: 503
} as const

export type TraceErrorCode = keyof typeof traceErrors

/** A trace request the gateway refuses; `status` is the HTTP answer. */
export class TraceRequestError extends GatewayError {
  readonly status: number
  constructor (code: TraceErrorCode, message: string) {
    super(code, message)
    this.name = 'TraceRequestError'
    this.status = traceErrors[code]
  }
}

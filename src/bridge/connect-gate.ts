/**
 * The first packet gate: a connection's bytes are held here until its first
 * packet, which must be a CONNECT [MQTT-3.1.0-1], is complete; it is then
 * parsed once (client id, version, keep-alive, username) and checked against
 * what the client's token grants. Nothing reaches the broker before the gate
 * opens, and a refused CONNECT never reaches it at all.
 */
import type { CloseReason } from '../errors.js'
import { MalformedPacketError } from '../errors.js'
import { parseConnect } from '../mqtt/first-packets.js'
import type { ConnectInfo } from '../mqtt/first-packets.js'
import { firstPacketSize, MALFORMED_LENGTH } from '../mqtt/packet-scanner.js'
import type { TokenGrant } from '../server/jwt.js'

/** Which token claims the CONNECT must match (the --jwt-*-claim options). */
export interface ClaimRules {
  jwtClientIdClaim: string | undefined
  jwtUsernameClaim: string | undefined
}

export type GateVerdict =
  /** The CONNECT is not complete yet: keep offering bytes. */
  | { kind: 'wait' }
  /** Close the connection; `connect` is set when the CONNECT parsed but broke a rule. */
  | { kind: 'refuse', reason: CloseReason, detail: string, connect?: ConnectInfo }
  /** The CONNECT passed: `bytes` is everything offered so far, CONNECT first. */
  | { kind: 'pass', connect: ConnectInfo, bytes: Buffer }

const WAIT: GateVerdict = { kind: 'wait' }

export class ConnectGate {
  private parts: Buffer[] = []
  private length = 0
  /** The CONNECT passed: the gate holds nothing more. */
  passed = false

  /**
   * `maxSize`: the largest CONNECT (the before-CONNACK message limit).
   * `auth`: what the token grants, when the upgrade checked one.
   */
  constructor (private readonly maxSize: number, private readonly rules: ClaimRules, private readonly auth: TokenGrant | undefined) {}

  /** Offers the client's next bytes (copied: the frame reader reuses its chunk). */
  offer (bytes: Buffer): GateVerdict {
    this.parts.push(Buffer.from(bytes))
    this.length += bytes.length
    const all = this.parts.length === 1 ? this.parts[0] as Buffer : Buffer.concat(this.parts, this.length)
    this.parts = [all]
    const size = firstPacketSize(all)
    if (size === MALFORMED_LENGTH) return { kind: 'refuse', reason: 'malformed_packet', detail: 'first packet has a malformed length' }
    if (size > this.maxSize) return { kind: 'refuse', reason: 'message_too_big', detail: `CONNECT of ${size} bytes` }
    if (size < 0 || all.length < size) return WAIT
    let connect: ConnectInfo
    try {
      connect = parseConnect(all.subarray(0, size))
    } catch (err) {
      return { kind: 'refuse', reason: 'malformed_packet', detail: err instanceof MalformedPacketError ? err.message : String(err) }
    }
    // The token names the client: a CONNECT under another name never reaches the broker.
    const mismatch = claimMismatch(this.rules, this.auth, connect)
    if (mismatch !== undefined) return { ...mismatch, kind: 'refuse', connect }
    this.passed = true
    this.parts = []
    return { kind: 'pass', connect, bytes: all }
  }
}

/** With a claim check: whether the CONNECT claims another client id or username than the token. */
export function claimMismatch (rules: ClaimRules, auth: TokenGrant | undefined, connect: ConnectInfo): { reason: 'client_id_mismatch' | 'username_mismatch', detail: string } | undefined {
  if (rules.jwtClientIdClaim !== undefined && auth?.clientId !== connect.clientId) {
    return { reason: 'client_id_mismatch', detail: `client id does not match the token's ${rules.jwtClientIdClaim} claim` }
  }
  // A token without the claim matches no CONNECT, not even one without a username.
  const username = auth?.username
  if (rules.jwtUsernameClaim !== undefined && (username === undefined || username !== connect.username)) {
    return { reason: 'username_mismatch', detail: `username does not match the token's ${rules.jwtUsernameClaim} claim` }
  }
  return undefined
}

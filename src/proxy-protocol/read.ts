/**
 * Reading the PROXY protocol header (HAProxy's spec, v1 text and v2 binary)
 * that a load balancer sends first on each connection: HAProxy's
 * `send-proxy`/`send-proxy-v2`, AWS NLB, and most TCP load balancers.
 *
 * The bytes come from the network before anything else is known about the
 * peer, so the reader is bounded and total: it never throws, never holds
 * more than one header (a v1 line is at most 107 bytes [§2.1]; a v2 header
 * at most 16 + 216 address bytes + MAX_TLV_BYTES of TLVs), and never reads
 * past the header: what follows it is the client's, handed back untouched.
 *
 * `readProxyHeader()` reads from the start of a buffer and says whether it
 * holds a whole header, could still become one, is not one at all, or is a
 * broken one; `ProxyHeaderReader` feeds it chunk by chunk as they arrive.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { crc32c } from './crc32c.js'

/**
 * Most TLV bytes a v2 header may carry. HAProxy sends a few dozen (AUTHORITY,
 * UNIQUE_ID, SSL with a CN); AWS NLB under a hundred. 4 KiB leaves room for
 * long certificate names while a peer cannot make the gateway buffer 64 KiB
 * (the length field's maximum) per connection before anything is checked.
 */
export const MAX_TLV_BYTES = 4096
/** [§2.1] "the maximum line length is 107 bytes including the CRLF". */
export const MAX_V1_BYTES = 107
/** The address block of AF_UNIX, the largest family [§2.2]. */
const MAX_ADDRESS_BYTES = 216
/** The largest header this reader accepts. */
export const MAX_HEADER_BYTES = 16 + MAX_ADDRESS_BYTES + MAX_TLV_BYTES

const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1')
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

// [§2.2.7] TLV types this reader looks at.
export const PP2_TYPE_ALPN = 0x01
export const PP2_TYPE_AUTHORITY = 0x02
export const PP2_TYPE_CRC32C = 0x03
export const PP2_TYPE_UNIQUE_ID = 0x05
export const PP2_TYPE_SSL = 0x20
/** [§2.2.1] an AUTHORITY is a host name (HAProxy refuses longer ones). */
const MAX_AUTHORITY_BYTES = 255
/** [§2.2.5] "an opaque byte sequence of up to 128 bytes". */
const MAX_UNIQUE_ID_BYTES = 128

export interface ProxyEndpoint {
  /** IPv4 dotted, or IPv6 in RFC 5952 form; IPv4-mapped IPv6 is given as IPv4. */
  address: string
  port: number
}

export interface ProxyTlv {
  type: number
  /** A view of the header's bytes. */
  value: Buffer
}

export interface ProxyHeader {
  version: 1 | 2
  /**
   * The original connection's endpoints. Undefined when the header says to
   * use the connection's own (v2 LOCAL, health checks of the load balancer;
   * v1 UNKNOWN; v2 families other than TCP over IPv4 or IPv6).
   */
  source: ProxyEndpoint | undefined
  destination: ProxyEndpoint | undefined
  /** v2 TLVs, in order (empty for v1, LOCAL and families without addresses). */
  tlvs: ProxyTlv[]
  /** Bytes of the header: what follows belongs to the client. */
  length: number
}

export type ProxyReadResult =
  /** The bytes so far are a header's beginning: wait for more. */
  | { state: 'incomplete' }
  /** The bytes do not start with either signature: the peer sent no header. */
  | { state: 'absent' }
  /** A header, broken: its signature, then something the spec does not allow, or too long. */
  | { state: 'invalid', problem: string }
  | { state: 'complete', header: ProxyHeader }

const INCOMPLETE = { state: 'incomplete' } as const
const ABSENT = { state: 'absent' } as const

/** True when `buf` starts like `signature` for as many bytes as both have. */
function startsLike (buf: Uint8Array, signature: Buffer): boolean {
  const n = Math.min(buf.length, signature.length)
  for (let i = 0; i < n; i++) if (buf[i] !== signature[i]) return false
  return true
}

/** Reads the header at the start of `buf`. Total: any bytes give one of the four results. */
export function readProxyHeader (buf: Uint8Array): ProxyReadResult {
  if (buf.length === 0) return INCOMPLETE
  if (startsLike(buf, V1_SIGNATURE)) return buf.length < V1_SIGNATURE.length ? INCOMPLETE : readV1(buf)
  if (startsLike(buf, V2_SIGNATURE)) return buf.length < 16 ? INCOMPLETE : readV2(buf)
  return ABSENT
}

function invalid (problem: string): ProxyReadResult {
  return { state: 'invalid', problem }
}

// ---------------------------------------------------------------- v1

/** `PROXY TCP4|TCP6 src dst sport dport\r\n`, or `PROXY UNKNOWN[ anything]\r\n` [§2.1]. */
function readV1 (buf: Uint8Array): ProxyReadResult {
  const searched = Math.min(buf.length, MAX_V1_BYTES)
  let lf = -1
  for (let i = V1_SIGNATURE.length; i < searched; i++) {
    if (buf[i] === 0x0a) { lf = i; break }
  }
  if (lf === -1) return buf.length >= MAX_V1_BYTES ? invalid(`v1: no CRLF within ${MAX_V1_BYTES} bytes`) : INCOMPLETE
  if (buf[lf - 1] !== 0x0d) return invalid('v1: line ends in LF without CR')
  const line = Buffer.from(buf.buffer, buf.byteOffset, lf - 1).toString('latin1')
  if (!/^[\x20-\x7e]*$/.test(line)) return invalid('v1: a byte that is not printable US-ASCII')
  const words = line.split(' ')
  const length = lf + 1
  if (words[1] === 'UNKNOWN') return complete(1, undefined, undefined, [], length)
  if (words[1] !== 'TCP4' && words[1] !== 'TCP6') return invalid(`v1: protocol ${JSON.stringify((words[1] ?? '').slice(0, 16))} is not TCP4, TCP6 or UNKNOWN`)
  if (words.length !== 6) return invalid('v1: not "PROXY TCPx source destination sport dport" with single spaces')
  const [, family, src, dst, sport, dport] = words as [string, string, string, string, string, string]
  const v6 = family === 'TCP6'
  const source = v1Endpoint(src, sport, v6)
  const destination = v1Endpoint(dst, dport, v6)
  if (source === undefined || destination === undefined) return invalid(`v1: an address or port that is not ${family}`)
  return complete(1, source, destination, [], length)
}

function v1Endpoint (address: string, port: string, v6: boolean): ProxyEndpoint | undefined {
  // A zone id ("%eth0") names an interface of the sender's host: meaningless here.
  const valid = v6 ? isIPv6(address) && !address.includes('%') : isIPv4(address)
  if (!valid || !/^\d{1,5}$/.test(port) || Number(port) > 65535) return undefined
  return { address: v6 ? canonicalIPv6(address) : address, port: Number(port) }
}

// ---------------------------------------------------------------- v2

const COMMAND_LOCAL = 0x0
const COMMAND_PROXY = 0x1
const FAMILY_INET = 0x1
const FAMILY_INET6 = 0x2
/** [§2.2] address block sizes of UNSPEC, INET, INET6, UNIX. */
const ADDRESS_BYTES = [0, 12, 36, 216] as const

/** 16 bytes of signature, version and command, family and transport, length; then the block [§2.2]. */
function readV2 (buf: Uint8Array): ProxyReadResult {
  const versionCommand = buf[12] as number
  const familyTransport = buf[13] as number
  if (versionCommand >> 4 !== 2) return invalid(`v2: version ${versionCommand >> 4}, not 2`)
  const command = versionCommand & 0x0f
  if (command !== COMMAND_LOCAL && command !== COMMAND_PROXY) return invalid(`v2: command 0x${command.toString(16)} is neither LOCAL nor PROXY`)
  const family = familyTransport >> 4
  const transport = familyTransport & 0x0f
  // [§2.2] other values "must be rejected as invalid by receivers".
  if (family > 3 || transport > 2) return invalid(`v2: address family and transport byte 0x${familyTransport.toString(16).padStart(2, '0')} is not defined`)
  const blockLength = ((buf[14] as number) << 8) | (buf[15] as number)
  const addressBytes = ADDRESS_BYTES[family as 0 | 1 | 2 | 3]
  if (command === COMMAND_PROXY && blockLength < addressBytes) return invalid(`v2: ${blockLength} bytes cannot hold the family's ${addressBytes}-byte addresses`)
  if (blockLength - Math.min(blockLength, addressBytes) > MAX_TLV_BYTES) return invalid(`v2: ${blockLength}-byte block, over the ${MAX_TLV_BYTES}-byte TLV limit`)
  const length = 16 + blockLength
  if (buf.length < length) return INCOMPLETE
  // [§2.2] LOCAL (a health check of the proxy's own): the connection's own
  // endpoints are used and the block is discarded. So is a PROXY of a family
  // without IP addresses (AF_UNIX, UNSPEC) or over UDP, as HAProxy does.
  const tcp = transport === 0x1 && (family === FAMILY_INET || family === FAMILY_INET6)
  if (command === COMMAND_LOCAL || !tcp) return complete(2, undefined, undefined, [], length)
  const header = Buffer.from(buf.buffer, buf.byteOffset, length)
  const tlvs = readTlvs(header, 16 + addressBytes)
  if (typeof tlvs === 'string') return invalid(`v2: ${tlvs}`)
  const v6 = family === FAMILY_INET6
  const size = v6 ? 16 : 4
  const source = { address: addressText(header, 16, v6), port: header.readUInt16BE(16 + 2 * size) }
  const destination = { address: addressText(header, 16 + size, v6), port: header.readUInt16BE(18 + 2 * size) }
  return complete(2, source, destination, tlvs, length)
}

/** The TLVs from `start` to the header's end, checked; or what is wrong with them. */
function readTlvs (header: Buffer, start: number): ProxyTlv[] | string {
  const tlvs: ProxyTlv[] = []
  let pos = start
  while (pos < header.length) {
    if (pos + 3 > header.length) return 'a TLV header runs past the end of the header'
    const type = header[pos] as number
    const length = header.readUInt16BE(pos + 1)
    if (pos + 3 + length > header.length) return `TLV 0x${type.toString(16)} runs past the end of the header`
    const problem = checkTlv(header, type, pos + 3, length)
    if (problem !== undefined) return problem
    tlvs.push({ type, value: header.subarray(pos + 3, pos + 3 + length) })
    pos += 3 + length
  }
  return tlvs
}

/** The limits of the TLVs the gateway uses or passes on; the checksum, when one is sent [§2.2.5]. */
function checkTlv (header: Buffer, type: number, at: number, length: number): string | undefined {
  if (type === PP2_TYPE_AUTHORITY && length > MAX_AUTHORITY_BYTES) return `AUTHORITY of ${length} bytes (at most ${MAX_AUTHORITY_BYTES})`
  if (type === PP2_TYPE_UNIQUE_ID && length > MAX_UNIQUE_ID_BYTES) return `UNIQUE_ID of ${length} bytes (at most ${MAX_UNIQUE_ID_BYTES})`
  if (type !== PP2_TYPE_CRC32C) return undefined
  if (length !== 4) return `CRC32C of ${length} bytes, not 4`
  return crc32c(header, at) === header.readUInt32BE(at) ? undefined : 'CRC32C does not match the header'
}

function addressText (header: Buffer, at: number, v6: boolean): string {
  if (!v6) return `${header[at] as number}.${header[at + 1] as number}.${header[at + 2] as number}.${header[at + 3] as number}`
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(header.readUInt16BE(at + i).toString(16))
  return canonicalIPv6(groups.join(':'))
}

/** RFC 5952 text (WHATWG URL writes IPv6 hosts so); IPv4-mapped addresses as IPv4, as sockets report them. */
function canonicalIPv6 (address: string): string {
  const text = new URL(`http://[${address}]/`).hostname.slice(1, -1)
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text)
  if (mapped === null) return text
  const high = parseInt(mapped[1] as string, 16)
  const low = parseInt(mapped[2] as string, 16)
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
}

function complete (version: 1 | 2, source: ProxyEndpoint | undefined, destination: ProxyEndpoint | undefined, tlvs: ProxyTlv[], length: number): ProxyReadResult {
  return { state: 'complete', header: { version, source, destination, tlvs, length } }
}

// ---------------------------------------------------------------- incremental

export type ProxyReaderResult =
  | Exclude<ProxyReadResult, { state: 'complete' } | { state: 'absent' }>
  /** A whole header; `rest`: the bytes after it (a view), the client's first bytes. */
  | { state: 'complete', header: ProxyHeader, rest: Buffer }
  /** No header: `rest` is every byte received so far, to be handed on. */
  | { state: 'absent', rest: Buffer }

/**
 * Reads a header from chunks as they arrive. Holds only the bytes of the
 * header so far (bounded: a chunk that makes it complete, absent or invalid
 * is not kept); a result other than 'incomplete' is final.
 */
export class ProxyHeaderReader {
  private held: Buffer = Buffer.alloc(0)

  /** Bytes received so far that belong to an incomplete header. */
  get bytesHeld (): number {
    return this.held.length
  }

  push (chunk: Buffer): ProxyReaderResult {
    const buf = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk])
    const result = readProxyHeader(buf)
    switch (result.state) {
      case 'incomplete':
        this.held = buf
        return result
      case 'complete':
        this.held = Buffer.alloc(0)
        return { state: 'complete', header: result.header, rest: buf.subarray(result.header.length) }
      case 'absent':
        this.held = Buffer.alloc(0)
        return { state: 'absent', rest: buf }
      default:
        this.held = Buffer.alloc(0)
        return result
    }
  }
}

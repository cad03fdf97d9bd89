/**
 * The PROXY protocol header (HAProxy, versions 1 and 2) sent first on each
 * upstream connection, so the broker sees the real client address instead
 * of the gateway's. Mosquitto 2.1, EMQX, HiveMQ Enterprise, RabbitMQ and
 * VerneMQ read it.
 */
import { isIPv4, isIPv6 } from 'node:net'

export type ProxyProtocolVersion = 'off' | 'v1' | 'v2'

export interface ClientEndpoint {
  /** The client's address and port (as the gateway resolved them). */
  address: string
  port: number
  /** The gateway's address and port the client connected to. */
  localAddress: string
  localPort: number
  /** For wss:// clients: the TLS version and the client certificate's CN, when known. */
  tls?: { version: string | undefined, clientCn: string | undefined }
  /**
   * v2 TLVs from the load balancer's own header (--accept-proxy-protocol),
   * whole (type, length, value), appended after the gateway's: see
   * ProxiedPeer.passOn for which.
   */
  passOn?: Buffer
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const PP2_TYPE_SSL = 0x20
const PP2_SUBTYPE_SSL_VERSION = 0x21
const PP2_SUBTYPE_SSL_CN = 0x22
const PP2_CLIENT_SSL = 0x01
const PP2_CLIENT_CERT_CONN = 0x02

/** A CN longer than this is left out rather than cut: a broker must never read a wrong name. */
const MAX_CN_BYTES = 1024

/**
 * `address` in the one text form a header may carry: IPv4 dotted quad, or
 * IPv6 compressed as RFC 5952 says (no zone id, no dotted IPv4 tail: a
 * header is read by brokers that do not all accept those). IPv4 clients of
 * a dual-stack socket (`::ffff:a.b.c.d`) become IPv4. Undefined when the
 * text is not an IP address.
 */
function canonical (address: string): string | undefined {
  const bare = address.split('%', 1)[0] as string
  if (isIPv4(bare)) return bare
  if (!isIPv6(bare)) return undefined
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare)?.[1]
  if (mapped !== undefined && isIPv4(mapped)) return mapped
  return rfc5952(bare)
}

/** WHATWG URL parsing writes IPv6 hosts in the RFC 5952 form. */
function rfc5952 (ipv6: string): string {
  return new URL(`http://[${ipv6}]/`).hostname.slice(1, -1)
}

/**
 * Both addresses in one family, or undefined (then the header says
 * "unknown"). An IPv6 client of an IPv4-mapped listener address keeps its
 * address: the local one is written IPv4-mapped.
 */
function family (client: ClientEndpoint): { v6: boolean, src: string, dst: string } | undefined {
  const src = canonical(client.address)
  const dst = canonical(client.localAddress)
  if (src === undefined || dst === undefined) return undefined
  const v6 = isIPv6(src)
  if (v6 === isIPv6(dst)) return { v6, src, dst }
  return v6 ? { v6, src, dst: rfc5952(`::ffff:${dst}`) } : { v6: true, src: rfc5952(`::ffff:${src}`), dst }
}

/**
 * The header for `client`; without a client (a health check of the
 * gateway's own) v1 says UNKNOWN and v2 uses the LOCAL command.
 */
export function proxyHeader (version: 'v1' | 'v2', client: ClientEndpoint | undefined): Buffer {
  return version === 'v1' ? headerV1(client) : headerV2(client)
}

function headerV1 (client: ClientEndpoint | undefined): Buffer {
  const f = client === undefined ? undefined : family(client)
  if (client === undefined || f === undefined) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1')
  return Buffer.from(`PROXY ${f.v6 ? 'TCP6' : 'TCP4'} ${f.src} ${f.dst} ${client.port} ${client.localPort}\r\n`, 'latin1')
}

function ipBytes (address: string, v6: boolean): Buffer {
  if (!v6) return Buffer.from(address.split('.').map(Number))
  // Expand "::" and write eight 16-bit groups (the text is RFC 5952: hex groups only).
  const [head = '', tail] = address.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
}

function tlv (type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3)
  head[0] = type
  head.writeUInt16BE(value.length, 1)
  return Buffer.concat([head, value])
}

function sslTlv (tls: NonNullable<ClientEndpoint['tls']>): Buffer {
  const cn = tls.clientCn === undefined ? undefined : Buffer.from(tls.clientCn, 'utf8')
  const head = Buffer.alloc(5) // client flags, then verify = 0 (the TLS layer verified it)
  // The certificate flag says the client presented one, whether or not its CN fits.
  head[0] = PP2_CLIENT_SSL | (cn === undefined ? 0 : PP2_CLIENT_CERT_CONN)
  const subs = [
    ...(tls.version === undefined ? [] : [tlv(PP2_SUBTYPE_SSL_VERSION, Buffer.from(tls.version, 'utf8').subarray(0, 64))]),
    ...(cn === undefined || cn.length > MAX_CN_BYTES ? [] : [tlv(PP2_SUBTYPE_SSL_CN, cn)])
  ]
  return tlv(PP2_TYPE_SSL, Buffer.concat([head, ...subs]))
}

function headerV2 (client: ClientEndpoint | undefined): Buffer {
  const f = client === undefined ? undefined : family(client)
  if (client === undefined || f === undefined) {
    // LOCAL: the receiver uses the real connection's endpoints.
    return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])])
  }
  const addresses = Buffer.concat([ipBytes(f.src, f.v6), ipBytes(f.dst, f.v6), Buffer.alloc(4)])
  addresses.writeUInt16BE(client.port, addresses.length - 4)
  addresses.writeUInt16BE(client.localPort, addresses.length - 2)
  const own = client.tls === undefined ? Buffer.alloc(0) : sslTlv(client.tls)
  const tlvs = client.passOn === undefined ? own : Buffer.concat([own, client.passOn])
  const head = Buffer.alloc(4)
  head[0] = 0x21 // version 2, PROXY
  head[1] = f.v6 ? 0x21 : 0x11 // AF_INET6 or AF_INET, over STREAM
  head.writeUInt16BE(addresses.length + tlvs.length, 2)
  return Buffer.concat([V2_SIGNATURE, head, addresses, tlvs])
}

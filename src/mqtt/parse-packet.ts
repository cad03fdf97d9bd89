/**
 * mqtt-packet's parser, one for the process: building one per use (an
 * EventEmitter, a buffer list, a packet) was a measurable part of each
 * connection's cost. Used for the CONNECT of every connection and for the
 * packets of traced ones; parse() is synchronous, so they never overlap.
 */
import mqttPacket from 'mqtt-packet'
import type { Packet } from 'mqtt-packet'
import { MalformedPacketError } from '../errors.js'

let parser = mqttPacket.parser()
let parsed: Packet | undefined
let parseError: Error | undefined
listen(parser)

function listen (p: typeof parser): void {
  p.on('packet', (packet: Packet) => { parsed ??= packet })
  p.on('error', (err: Error) => { parseError ??= err })
}

/**
 * Parses `bytes`, which must hold exactly one whole packet (bytes after it
 * would start another inside the shared parser and spoil the next call), as
 * MQTT `protocolVersion` (none: a CONNECT says which). Returns the packet, or
 * the parser's error.
 */
export function parsePacket (bytes: Buffer, protocolVersion?: number): Packet | Error {
  parsed = undefined
  parseError = undefined
  // A CONNECT sets the parser's protocol version: each packet starts from the one given.
  ;(parser as unknown as { settings: object }).settings = protocolVersion === undefined ? {} : { protocolVersion }
  const left = parser.parse(bytes)
  const packet = parsed as Packet | undefined // (set by the listeners during parse())
  const error = parseError as Error | undefined
  if (error !== undefined || packet === undefined || left !== 0) {
    // The parser may keep state of this packet (its own reset after an
    // error leaves the read position): the next packet gets a new one.
    parser = mqttPacket.parser()
    listen(parser)
  }
  if (error !== undefined) return error
  return packet ?? new MalformedPacketError('incomplete packet')
}

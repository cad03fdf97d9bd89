/**
 * Names of MQTT result codes, so a trace or a close log line says "not
 * authorized" rather than 135: CONNACK return codes of 3.1 / 3.1.1
 * [MQTT 3.1.1 §3.2.2.3], SUBACK return codes [§3.9.3], and the reason codes
 * of MQTT 5 [MQTT 5 §2.4].
 */

const CONNACK_V3 = ['accepted', 'unacceptable protocol version', 'identifier rejected', 'server unavailable',
  'bad user name or password', 'not authorized']

const V5: Readonly<Record<number, string>> = {
  0x00: 'success',
  0x01: 'granted QoS 1',
  0x02: 'granted QoS 2',
  0x04: 'disconnect with will message',
  0x10: 'no matching subscribers',
  0x11: 'no subscription existed',
  0x18: 'continue authentication',
  0x19: 're-authenticate',
  0x80: 'unspecified error',
  0x81: 'malformed packet',
  0x82: 'protocol error',
  0x83: 'implementation specific error',
  0x84: 'unsupported protocol version',
  0x85: 'client identifier not valid',
  0x86: 'bad user name or password',
  0x87: 'not authorized',
  0x88: 'server unavailable',
  0x89: 'server busy',
  0x8a: 'banned',
  0x8b: 'server shutting down',
  0x8c: 'bad authentication method',
  0x8d: 'keep alive timeout',
  0x8e: 'session taken over',
  0x8f: 'topic filter invalid',
  0x90: 'topic name invalid',
  0x91: 'packet identifier in use',
  0x92: 'packet identifier not found',
  0x93: 'receive maximum exceeded',
  0x94: 'topic alias invalid',
  0x95: 'packet too large',
  0x96: 'message rate too high',
  0x97: 'quota exceeded',
  0x98: 'administrative action',
  0x99: 'payload format invalid',
  0x9a: 'retain not supported',
  0x9b: 'QoS not supported',
  0x9c: 'use another server',
  0x9d: 'server moved',
  0x9e: 'shared subscriptions not supported',
  0x9f: 'connection rate exceeded',
  0xa0: 'maximum connect time',
  0xa1: 'subscription identifiers not supported',
  0xa2: 'wildcard subscriptions not supported'
}

/** The name of `code` in a packet of type `cmd` (mqtt-packet's lower-case name) of MQTT `version`. */
export function reasonName (code: number, version: number, cmd: string): string {
  if (version !== 5) {
    if (cmd === 'connack') return CONNACK_V3[code] ?? `unknown (${code})`
    if (cmd === 'suback') return code === 0x80 ? 'failure' : `granted QoS ${code}`
  }
  // 0 is "normal disconnection" in DISCONNECT, "granted QoS 0" in SUBACK.
  if (code === 0 && cmd === 'disconnect') return 'normal disconnection'
  if (code === 0 && cmd === 'suback') return 'granted QoS 0'
  return V5[code] ?? `unknown (0x${code.toString(16)})`
}

/** A code as a log line says it: "return code 5 not authorized" (3.1.1), "reason 0x84 unsupported protocol version" (5). */
export function reasonText (code: number, version: number, cmd: string): string {
  const name = reasonName(code, version, cmd)
  return version === 5 ? `reason 0x${code.toString(16).padStart(2, '0')} ${name}` : `return code ${code} ${name}`
}

export function connackText (code: number, version: number): string {
  return reasonText(code, version, 'connack')
}

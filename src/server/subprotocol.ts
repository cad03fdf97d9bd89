/**
 * Choosing the WebSocket subprotocol [MQTT-6.0.0-3, MQTT-6.0.0-4].
 */
import type { UpgradeRejection } from '../errors.js'

/** "mqtt" for MQTT 3.1.1 and 5; "mqttv3.1" for MQTT 3.1 (IBM's older name). */
const SUPPORTED = new Set(['mqtt', 'mqttv3.1'])

export type SubprotocolChoice =
  | { ok: true, protocol: string | undefined }
  | { ok: false, reason: UpgradeRejection }

/**
 * Picks the first supported subprotocol in the client's order of preference.
 * The header may be repeated and each value may be a comma-separated list.
 * The chosen token is echoed exactly as offered: browsers fail the handshake
 * when the answer differs from what they sent.
 */
export function chooseSubprotocol (header: string | string[] | undefined, required: boolean): SubprotocolChoice {
  const offered = (Array.isArray(header) ? header.join(',') : header ?? '')
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token.length > 0)
  if (offered.length === 0) {
    // Many devices send no subprotocol at all; accept them unless told not to.
    return required ? { ok: false, reason: 'subprotocol_missing' } : { ok: true, protocol: undefined }
  }
  const chosen = offered.find((token) => SUPPORTED.has(token.toLowerCase()))
  return chosen === undefined ? { ok: false, reason: 'subprotocol_unsupported' } : { ok: true, protocol: chosen }
}

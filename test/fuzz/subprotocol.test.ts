/**
 * Fuzzing chooseSubprotocol, which reads the client's
 * Sec-WebSocket-Protocol header at every upgrade [RFC 6455 §4.2.2,
 * MQTT-6.0.0-3]. The header is the client's to write, before any
 * authentication.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { chooseSubprotocol } from '../../src/server/subprotocol.js'
import { fuzz } from '../support/fuzz.js'

/** Header text made of what matters here (tokens, commas, spaces, case) and of anything at all. */
const token = fc.oneof(
  fc.constantFrom('mqtt', 'MQTT', 'mqttv3.1', 'MqttV3.1', 'mqttv3.11', 'mqtt5', 'wamp', 'chat', ''),
  fc.string({ maxLength: 12 })
)
const headerText = fc.oneof(
  { weight: 10, arbitrary: fc.array(fc.tuple(token, fc.constantFrom('', ' ', '\t', '  ')), { maxLength: 6 }).map((parts) => parts.map(([t, s]) => `${s}${t}${s}`).join(',')) },
  { weight: 5, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  // Huge: what a client can send when the server's header limit is raised.
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 30000 }).map((n) => ', '.repeat(n) + 'mqtt') }
)
const header = fc.option(fc.oneof(headerText, fc.array(headerText, { maxLength: 4 })), { nil: undefined })

describe('chooseSubprotocol fuzz', () => {
  // A throw fails the upgrade with a 500 (or worse) for a header any client
  // can send; an answer that is not one of the client's own offers makes
  // browsers fail the handshake.
  test('never throws; an accepted protocol is one the client offered, and one we speak', () => fuzz(
    fc.property(header, fc.boolean(), (h, required) => {
      const choice = chooseSubprotocol(h, required)
      if (!choice.ok) {
        assert.ok(['subprotocol_missing', 'subprotocol_unsupported'].includes(choice.reason))
        return
      }
      if (choice.protocol === undefined) {
        assert.equal(required, false, 'no protocol is accepted only when none is required')
        return
      }
      const offered = [h ?? []].flat().join(',').split(',').map((t) => t.trim())
      assert.ok(offered.includes(choice.protocol), `${choice.protocol} was not offered`)
      assert.ok(['mqtt', 'mqttv3.1'].includes(choice.protocol.toLowerCase()), `${choice.protocol} is not MQTT`)
    }), 500))
})

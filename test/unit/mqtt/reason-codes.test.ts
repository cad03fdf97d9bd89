/**
 * Result codes named as traces and close log lines say them: by packet type
 * and MQTT version, since the same number means different things.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connackText, reasonName } from '../../../src/mqtt/reason-codes.js'

describe('reason codes', () => {
  test('a CONNACK code is named in its own version', () => {
    assert.equal(connackText(2, 4), 'return code 2 identifier rejected')
    assert.equal(connackText(5, 3), 'return code 5 not authorized')
    assert.equal(connackText(0x84, 5), 'reason 0x84 unsupported protocol version')
    assert.equal(connackText(0x87, 5), 'reason 0x87 not authorized')
  })

  test('a code no version defines says so, with its number', () => {
    assert.equal(connackText(9, 4), 'return code 9 unknown (9)')
    assert.equal(connackText(0x7f, 5), 'reason 0x7f unknown (0x7f)')
  })

  test('0 depends on the packet: success, granted QoS 0, normal disconnection', () => {
    assert.equal(reasonName(0, 5, 'connack'), 'success')
    assert.equal(reasonName(0, 5, 'suback'), 'granted QoS 0')
    assert.equal(reasonName(0, 5, 'disconnect'), 'normal disconnection')
    assert.equal(reasonName(0x80, 4, 'suback'), 'failure')
  })
})

/**
 * Choosing the WebSocket subprotocol [MQTT-6.0.0-3, MQTT-6.0.0-4]: the
 * first supported token in the client's order, echoed exactly as offered.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { chooseSubprotocol } from '../../../src/server/subprotocol.js'
import type { SubprotocolChoice } from '../../../src/server/subprotocol.js'

const cases: { name: string, header: string | string[] | undefined, required: boolean, want: SubprotocolChoice }[] = [
  { name: 'mqtt', header: 'mqtt', required: false, want: { ok: true, protocol: 'mqtt' } },
  { name: 'mqttv3.1 (MQTT 3.1)', header: 'mqttv3.1', required: false, want: { ok: true, protocol: 'mqttv3.1' } },
  { name: 'MQTT is echoed as offered', header: 'MQTT', required: false, want: { ok: true, protocol: 'MQTT' } },
  { name: 'MQTTv3.1 is echoed as offered', header: 'MQTTv3.1', required: true, want: { ok: true, protocol: 'MQTTv3.1' } },
  { name: 'an unknown token before mqtt', header: 'foo, mqtt', required: false, want: { ok: true, protocol: 'mqtt' } },
  { name: 'the client\'s first supported choice wins', header: 'mqttv3.1, mqtt', required: false, want: { ok: true, protocol: 'mqttv3.1' } },
  { name: 'no spaces after commas', header: 'foo,bar,mqtt', required: true, want: { ok: true, protocol: 'mqtt' } },
  { name: 'surrounding whitespace and tabs', header: '  \tmqtt \t', required: true, want: { ok: true, protocol: 'mqtt' } },
  { name: 'empty list items', header: ', ,mqtt,,', required: true, want: { ok: true, protocol: 'mqtt' } },
  { name: 'a repeated header (array)', header: ['foo', 'mqtt'], required: false, want: { ok: true, protocol: 'mqtt' } },
  { name: 'an array of comma lists', header: ['foo, bar', 'baz, MQTT, mqtt'], required: true, want: { ok: true, protocol: 'MQTT' } },
  { name: 'a prefix of mqtt is not mqtt', header: 'mqt, mqttx, mqtt5', required: false, want: { ok: false, reason: 'subprotocol_unsupported' } },
  { name: 'unknown tokens only', header: 'foo, bar', required: false, want: { ok: false, reason: 'subprotocol_unsupported' } },
  { name: 'an unknown token', header: 'wamp', required: true, want: { ok: false, reason: 'subprotocol_unsupported' } },
  { name: 'unknown tokens only, as an array', header: ['foo', 'bar'], required: false, want: { ok: false, reason: 'subprotocol_unsupported' } },
  { name: 'no header', header: undefined, required: false, want: { ok: true, protocol: undefined } },
  { name: 'an empty header', header: '', required: false, want: { ok: true, protocol: undefined } },
  { name: 'a header of commas and spaces', header: ' , ,', required: false, want: { ok: true, protocol: undefined } },
  { name: 'an empty array', header: [], required: false, want: { ok: true, protocol: undefined } },
  { name: 'no header', header: undefined, required: true, want: { ok: false, reason: 'subprotocol_missing' } },
  { name: 'an empty header', header: '', required: true, want: { ok: false, reason: 'subprotocol_missing' } },
  { name: 'whitespace only', header: '   ', required: true, want: { ok: false, reason: 'subprotocol_missing' } },
  { name: 'an array of empty strings', header: ['', ' '], required: true, want: { ok: false, reason: 'subprotocol_missing' } }
]

describe('chooseSubprotocol', () => {
  for (const c of cases) {
    test(`${c.name}${c.required ? ' (required)' : ''}`, () => {
      assert.deepEqual(chooseSubprotocol(c.header, c.required), c.want)
    })
  }
})

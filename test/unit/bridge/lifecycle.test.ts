/**
 * The connection state machine, without sockets: every transition the
 * bridge relies on, and every event that must be ignored.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Lifecycle, nextPhase } from '../../../src/bridge/lifecycle.js'
import type { LifecycleEvent, Phase } from '../../../src/bridge/lifecycle.js'

const PHASES: readonly Phase[] = ['awaiting_connect', 'connecting_broker', 'awaiting_connack', 'open', 'draining', 'closing', 'closed']
const EVENTS: readonly LifecycleEvent[] = ['connect', 'connect_deferred', 'broker_connected', 'connack', 'shutdown', 'close', 'sockets_closed']

/** The whole table: phase → event → next phase ('-' = not allowed). */
const EXPECTED: Record<Phase, string> = {
  //                 connect            connect_deferred   broker_connected   connack   shutdown  close     sockets_closed
  awaiting_connect: 'awaiting_connack connecting_broker - - draining closing -',
  connecting_broker: '- - awaiting_connack - draining closing -',
  awaiting_connack: '- - - open draining closing -',
  open: '- - - - draining closing -',
  draining: 'draining draining draining draining - closing -',
  closing: '- - - - - - closed',
  closed: '- - - - - - -'
}

describe('lifecycle', () => {
  test('every phase × event gives the documented next phase, or is refused', () => {
    for (const phase of PHASES) {
      const got = EVENTS.map((event) => nextPhase(phase, event) ?? '-').join(' ')
      assert.equal(got, EXPECTED[phase], phase)
    }
  })

  test('a client id strategy connection: connect_deferred, broker_connected, connack, close, sockets_closed', () => {
    const life = new Lifecycle()
    const walk: [LifecycleEvent, Phase][] = [
      ['connect_deferred', 'connecting_broker'],
      ['broker_connected', 'awaiting_connack'],
      ['connack', 'open'],
      ['close', 'closing'],
      ['sockets_closed', 'closed']
    ]
    for (const [event, phase] of walk) {
      assert.equal(life.on(event), true, event)
      assert.equal(life.phase, phase)
    }
  })

  test('a refused event changes nothing', () => {
    const life = new Lifecycle()
    assert.equal(life.on('connack'), false, 'CONNACK before CONNECT')
    assert.equal(life.phase, 'awaiting_connect')
    life.on('close')
    assert.equal(life.on('shutdown'), false, 'shutdown while closing')
    assert.equal(life.on('close'), false, 'a second close')
    assert.equal(life.phase, 'closing')
  })

  test('the first close is recorded, with the initiator its reason implies; later ones are not', () => {
    const life = new Lifecycle()
    assert.equal(life.close('message_too_big', 'packet of 2000000 bytes', 1009), true)
    assert.equal(life.close('client_error', 'ECONNRESET', undefined), false)
    assert.deepEqual(life.record, { reason: 'message_too_big', initiator: 'gateway', code: 1009, detail: 'packet of 2000000 bytes' })
  })

  test('live and sendsToClient: what the data path may do in each phase', () => {
    const cases: [Phase, boolean, boolean][] = [
      ['awaiting_connect', true, true],
      ['connecting_broker', true, true],
      ['awaiting_connack', true, true],
      ['open', true, true],
      ['draining', true, false],
      ['closing', false, false],
      ['closed', false, false]
    ]
    for (const [phase, live, sends] of cases) {
      const life = new Lifecycle()
      life.phase = phase
      assert.equal(life.live, live, `${phase}: live`)
      assert.equal(life.sendsToClient, sends, `${phase}: sendsToClient`)
    }
  })
})

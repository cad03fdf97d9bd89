/**
 * The choice of broker among several: order, back-off and, for `hash`,
 * rendezvous hashing by client id. Members are in-process stand-ins whose
 * connect() records the call; the e2e suite runs the same against real
 * Mosquitto processes.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { UpstreamPool } from '../../../src/upstream/pool.js'
import type { UpstreamStrategy } from '../../../src/upstream/pool.js'
import { UpstreamConnectError } from '../../../src/errors.js'
import type { Upstream, UpstreamLink } from '../../../src/upstream/upstream.js'

class Member implements Upstream {
  readonly description: string
  up = true
  constructor (name: string) { this.description = `mqtt://${name}:1883` }
  async connect (): Promise<UpstreamLink> {
    if (!this.up) throw new UpstreamConnectError('upstream_unreachable', `${this.description} down`)
    return { stream: new PassThrough(), connectMs: 0, broker: this.description }
  }

  async close (): Promise<void> {}
}

function pool (names: string[], strategy: UpstreamStrategy, backoffMs = 60_000): { pool: UpstreamPool, members: Map<string, Member> } {
  const members = new Map(names.map((n) => [n, new Member(n)]))
  return { pool: new UpstreamPool([...members.values()], strategy, backoffMs), members }
}

async function brokerFor (p: UpstreamPool, clientId?: string): Promise<string> {
  const link = await p.connect(new AbortController().signal, undefined, clientId)
  link.stream.destroy()
  return link.broker
}

const ids = Array.from({ length: 600 }, (_, i) => `device-${i}`)

describe('upstream pool: hash by client id', () => {
  it('routes by client id only when the strategy is hash', () => {
    assert.equal(pool(['a', 'b'], 'hash').pool.routesByClientId, true)
    assert.equal(pool(['a', 'b'], 'failover').pool.routesByClientId, false)
    assert.equal(pool(['a', 'b'], 'round-robin').pool.routesByClientId, false)
  })

  it('sends a client id to the same broker every time, whatever the order of the list', async () => {
    const forward = pool(['a', 'b', 'c'], 'hash').pool
    const reversed = pool(['c', 'b', 'a'], 'hash').pool
    for (const id of ids.slice(0, 100)) {
      const first = await brokerFor(forward, id)
      assert.equal(await brokerFor(forward, id), first, `${id} again`)
      assert.equal(await brokerFor(reversed, id), first, `${id} through a gateway listing the brokers in another order`)
    }
  })

  it('spreads client ids evenly', async () => {
    const { pool: p } = pool(['a', 'b', 'c'], 'hash')
    const counts = new Map<string, number>()
    for (const id of ids) {
      const broker = await brokerFor(p, id)
      counts.set(broker, (counts.get(broker) ?? 0) + 1)
    }
    assert.equal(counts.size, 3)
    for (const [broker, n] of counts) assert.ok(n > ids.length / 3 * 0.75 && n < ids.length / 3 * 1.25, `${broker}: ${n} of ${ids.length}`)
  })

  it('moves only the clients of a broker that is down, and brings them back when it returns', async () => {
    const { pool: p, members } = pool(['a', 'b', 'c'], 'hash', 0)
    const before = new Map<string, string>()
    for (const id of ids) before.set(id, await brokerFor(p, id))
    const b = members.get('b') as Member
    b.up = false
    let moved = 0
    for (const id of ids) {
      const now = await brokerFor(p, id)
      if (before.get(id) === b.description) {
        assert.notEqual(now, b.description)
        moved++
      } else {
        assert.equal(now, before.get(id), `${id} stays where it was`)
      }
    }
    assert.ok(moved > 0)
    b.up = true
    for (const id of ids) assert.equal(await brokerFor(p, id), before.get(id), `${id} back on its broker`)
  })

  it('spreads clients without an id (the broker assigns one) instead of piling them on one broker', async () => {
    const { pool: p } = pool(['a', 'b'], 'hash')
    const seen = new Set([await brokerFor(p, ''), await brokerFor(p, ''), await brokerFor(p, '')])
    assert.equal(seen.size, 2)
  })

  it('fails with the last broker\'s error when none accepts', async () => {
    const { pool: p, members } = pool(['a', 'b'], 'hash')
    for (const m of members.values()) m.up = false
    await assert.rejects(brokerFor(p, 'x'), (err: unknown) => err instanceof UpstreamConnectError && /down/.test(err.message))
  })
})

describe('upstream pool: failover and round-robin', () => {
  it('failover takes the first broker that accepts and skips a refusing one during its back-off', async () => {
    const { pool: p, members } = pool(['a', 'b'], 'failover')
    assert.equal(await brokerFor(p), 'mqtt://a:1883')
    const a = members.get('a') as Member
    a.up = false
    assert.equal(await brokerFor(p), 'mqtt://b:1883')
    a.up = true
    assert.equal(await brokerFor(p), 'mqtt://b:1883', 'a is still backing off')
  })

  it('round-robin alternates', async () => {
    const { pool: p } = pool(['a', 'b'], 'round-robin')
    assert.deepEqual([await brokerFor(p, 'same'), await brokerFor(p, 'same')].sort(), ['mqtt://a:1883', 'mqtt://b:1883'])
  })
})

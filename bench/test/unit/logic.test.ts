/**
 * The load tool's bookkeeping: loss/duplicate/reorder tracking, who receives
 * what for each topic layout, option checks, and the suite's medians.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { BenchUsageError, resolveBenchOptions } from '../../src/options.js'
import { Arrival, SeqTrack } from '../../src/seq-track.js'
import { median } from '../../src/suite-results.js'
import { TargetError, isLoopback, parseTarget } from '../../src/target.js'
import { planTopology } from '../../src/topology.js'

describe('sequence tracking', () => {
  test('tells in-order, late and duplicate arrivals apart', () => {
    const track = new SeqTrack()
    const arrivals = [0, 1, 3, 2, 3, 4, 0, 5000, 4999].map(seq => track.record(seq))
    assert.deepEqual(arrivals, [
      Arrival.IN_ORDER, Arrival.IN_ORDER, Arrival.IN_ORDER, Arrival.OUT_OF_ORDER, Arrival.DUPLICATE,
      Arrival.IN_ORDER, Arrival.DUPLICATE, Arrival.IN_ORDER, Arrival.OUT_OF_ORDER
    ])
    assert.equal(track.unique, 7)
    assert.equal(track.duplicates, 2)
    assert.equal(track.outOfOrder, 2)
  })
})

describe('topology', () => {
  test('shared: every subscriber gets every message', () => {
    const t = planTopology('shared', 3, 2, 'b')
    assert.deepEqual(t.publisherTopics, ['b/shared', 'b/shared', 'b/shared'])
    assert.deepEqual(t.subscriberFilters, [['b/shared'], ['b/shared']])
    assert.deepEqual(t.fanout, [2, 2, 2])
  })

  test('wildcard: one # filter over per-publisher topics', () => {
    const t = planTopology('wildcard', 2, 1, 'b')
    assert.deepEqual(t.publisherTopics, ['b/p/0', 'b/p/1'])
    assert.deepEqual(t.subscriberFilters, [['b/p/#']])
    assert.deepEqual(t.fanout, [1, 1])
  })

  test('per-publisher with fewer subscribers: each topic to one subscriber', () => {
    const t = planTopology('per-publisher', 5, 2, 'b')
    assert.deepEqual(t.subscriberFilters, [['b/p/0', 'b/p/2', 'b/p/4'], ['b/p/1', 'b/p/3']])
    assert.deepEqual(t.fanout, [1, 1, 1, 1, 1])
  })

  test('per-publisher with more subscribers: topics shared round-robin', () => {
    const t = planTopology('per-publisher', 2, 5, 'b')
    assert.deepEqual(t.subscriberFilters, [['b/p/0'], ['b/p/1'], ['b/p/0'], ['b/p/1'], ['b/p/0']])
    assert.deepEqual(t.fanout, [3, 2])
  })
})

describe('targets', () => {
  test('loopback only unless allowed', () => {
    for (const host of ['127.0.0.1', '127.9.9.9', '::1', 'localhost']) assert.ok(isLoopback(host), host)
    for (const host of ['10.0.0.1', 'example.com', '::2']) assert.ok(!isLoopback(host), host)
    assert.throws(() => parseTarget('ws://10.0.0.1/mqtt', { allowRemote: false, insecure: false }), TargetError)
    assert.equal(parseTarget('ws://10.0.0.1/mqtt', { allowRemote: true, insecure: false }).host, '10.0.0.1')
  })

  test('schemes, default ports, IPv6 literals', () => {
    const opts = { allowRemote: false, insecure: false }
    assert.deepEqual(
      [parseTarget('mqtt://127.0.0.1', opts).port, parseTarget('wss://localhost/x', opts).port, parseTarget('ws://[::1]:9/m', opts).host],
      [1883, 443, '::1'])
    assert.equal(parseTarget('ws://127.0.0.1:8000/mqtt?x=1', opts).path, '/mqtt?x=1')
    assert.throws(() => parseTarget('http://127.0.0.1', opts), TargetError)
  })
})

describe('options', () => {
  test('defaults', () => {
    const o = resolveBenchOptions({ url: 'mqtt://127.0.0.1:1883' })
    assert.equal(o.mode, 'messages')
    assert.equal(o.version, 4)
    assert.equal(o.rate, 0)
    assert.equal(o.payload, 64)
  })

  test('echo makes every publisher its own subscriber', () => {
    const o = resolveBenchOptions({ url: 'mqtt://127.0.0.1', echo: true, publishers: 3, subscribers: 9 })
    assert.equal(o.subscribers, 3)
  })

  const bad: [string, Record<string, unknown>][] = [
    ['qos', { qos: 3 }],
    ['payload', { payload: 15 }],
    ['mqtt', { mqtt: '3.1' }],
    ['topics', { topics: 'all' }],
    ['rate', { rate: -5 }],
    ['url', { url: 'ws://192.0.2.1/mqtt' }]
  ]
  for (const [flag, input] of bad) {
    test(`--${flag} is checked`, () => {
      assert.throws(() => resolveBenchOptions({ url: 'mqtt://127.0.0.1', ...input }), (err: unknown) => {
        assert.ok(err instanceof BenchUsageError)
        assert.equal(err.flag, flag)
        return true
      })
    })
  }
})

describe('suite medians', () => {
  test('odd, even and empty', () => {
    assert.equal(median([3, 1, 2]), 2)
    assert.equal(median([4, 1, 3, 2]), 2.5)
    assert.equal(median([]), undefined)
  })
})

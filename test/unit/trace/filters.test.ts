/**
 * Trace filters: the query parameters they accept (and refuse), MQTT topic
 * matching and filter overlap [MQTT-4.7], addresses and CIDRs (IPv4, IPv6,
 * IPv4-mapped), client ids exact and by prefix.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { filterParams, filtersOverlap, parseFilter, topicMatches, TraceFilter } from '../../../src/trace/filters.js'

const levels = (s: string): string[] => s.split('/')

function filter (query: string): TraceFilter {
  return new TraceFilter(parseFilter(new URLSearchParams(query)))
}

describe('trace filter parameters', () => {
  test('each criterion, repeatable, round-trips through filterParams', () => {
    const spec = parseFilter(new URLSearchParams('conn=7&client=a&client=b&clientPrefix=s-&ip=10.0.0.0/8&ip=::1&topic=a/%2B/c&topic=%23'))
    assert.deepEqual(spec, { connections: [7], clients: ['a', 'b'], clientPrefixes: ['s-'], addresses: ['10.0.0.0/8', '::1'], topics: ['a/+/c', '#'] })
    assert.deepEqual(parseFilter(filterParams(spec)), spec)
  })

  for (const [query, why] of [
    ['', 'no criterion'],
    ['conn=x', 'connection not a number'],
    ['client=', 'empty client id'],
    ['ip=10.0.0.0/33', 'prefix too long'],
    ['ip=example.com', 'not an address'],
    ['ip=10.0.0.1/8/2', 'two slashes'],
    ['topic=a/%23/b', '# not last'],
    ['topic=a%2B/b', '+ inside a level'],
    ['topic=', 'empty topic'],
    [Array.from({ length: 33 }, (_, i) => `client=c${i}`).join('&'), 'too many criteria']
  ]) {
    test(`refused with MWG_ERR_TRACE_FILTER: ${why}`, () => {
      assert.throws(() => parseFilter(new URLSearchParams(query)), (err: Error & { code?: string, status?: number }) => err.code === 'MWG_ERR_TRACE_FILTER' && err.status === 400)
    })
  }
})

describe('topic matching [MQTT-4.7]', () => {
  const cases: [string, string, boolean][] = [
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/+', 'a', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['+/+', 'a/b', true],
    ['+', '', true],
    ['#', '$SYS/broker', false],
    ['+/broker', '$SYS/broker', false],
    ['$SYS/#', '$SYS/broker', true],
    ['a/b', 'a/b/', false]
  ]
  for (const [f, topic, expected] of cases) {
    test(`${f} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(topic)}`, () => {
      assert.equal(topicMatches(levels(f), levels(topic)), expected)
    })
  }
})

describe('filter overlap', () => {
  const cases: [string, string, boolean][] = [
    ['plant/+/temp', 'plant/#', true],
    ['plant/+/temp', 'plant/line-1/temp', true],
    ['plant/+/temp', 'plant/line-1/hum', false],
    ['plant/+/temp', '+/+/+', true],
    ['plant/+/temp', '+/+', false],
    ['a/#', 'a', true],
    ['a', 'a/#', true],
    ['a/b', 'a/b/#', true],
    ['a/b', 'a/b/c', false],
    ['#', 'anything/at/all', true],
    ['x/y', 'a/#', false]
  ]
  for (const [a, b, expected] of cases) {
    test(`${a} and ${b}: ${expected ? 'overlap' : 'disjoint'}`, () => {
      assert.equal(filtersOverlap(levels(a), levels(b)), expected)
      assert.equal(filtersOverlap(levels(b), levels(a)), expected, 'symmetric')
    })
  }

  test('a shared subscription is matched on its filter', () => {
    assert.equal(filter('topic=plant/%23').overlapsFilter('$share/group/plant/line-1'), true)
    assert.equal(filter('topic=plant/%23').overlapsFilter('$share/group/other/x'), false)
  })
})

describe('what selects a connection', () => {
  test('addresses and CIDRs, IPv4 (also as IPv4-mapped IPv6) and IPv6', () => {
    const f = filter('ip=10.1.0.0/16&ip=192.0.2.7&ip=2001:db8::/32')
    assert.equal(f.matchesOpen(1, '10.1.2.3'), 'ip 10.1.0.0/16')
    assert.equal(f.matchesOpen(1, '::ffff:10.1.200.9'), 'ip 10.1.0.0/16')
    assert.equal(f.matchesOpen(1, '192.0.2.7'), 'ip 192.0.2.7')
    assert.equal(f.matchesOpen(1, '2001:db8:1::5'), 'ip 2001:db8::/32')
    assert.equal(f.matchesOpen(1, '10.2.0.1'), undefined)
    assert.equal(f.matchesOpen(1, '192.0.2.8'), undefined)
    assert.equal(f.matchesOpen(1, '2001:db9::1'), undefined)
  })

  test('a connection number', () => {
    const f = filter('conn=12')
    assert.equal(f.matchesOpen(12, '127.0.0.1'), 'connection #12')
    assert.equal(f.matchesOpen(13, '127.0.0.1'), undefined)
  })

  test('client ids, exact or by prefix, case-sensitive as MQTT', () => {
    const f = filter('client=sensor-1&clientPrefix=pump-')
    assert.equal(f.matchesClientId('sensor-1'), 'client "sensor-1"')
    assert.equal(f.matchesClientId('sensor-10'), undefined)
    assert.equal(f.matchesClientId('Sensor-1'), undefined)
    assert.equal(f.matchesClientId('pump-7'), 'client prefix "pump-"')
    assert.equal(f.matchesClientId('pum'), undefined)
    assert.equal(f.matchesClientId(undefined), undefined)
  })

  test('only topic criteria make a trace look at topics', () => {
    assert.equal(filter('client=a').byTopic, false)
    assert.equal(filter('topic=a/b').byTopic, true)
    assert.equal(filter('topic=a/%2B').matchesTopic('a/x'), true)
  })
})

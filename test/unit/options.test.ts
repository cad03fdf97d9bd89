/**
 * resolveOptions: defaults, one check per option, failing fast with an
 * InvalidOptionError that names the option and carries a stable code.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GatewayError, InvalidOptionError } from '../../src/errors.js'
import { defaultOptions, optionNames, resolveOptions } from '../../src/options.js'
import type { GatewayOptions } from '../../src/options.js'

/** Options as an untyped bag: the checks exist for callers (JSON, JS) the types do not reach. */
type Loose = Record<string, unknown>

function resolveLoose (input: Loose): ReturnType<typeof resolveOptions> {
  return resolveOptions(input as Partial<GatewayOptions>)
}

/** Asserts that `input` is refused with an InvalidOptionError naming `option`. */
function assertInvalid (input: Loose, option: string): void {
  assert.throws(() => resolveLoose(input), (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, `InvalidOptionError for ${JSON.stringify(input)}, got ${String(err)}`)
    assert.ok(err instanceof GatewayError)
    assert.equal(err.code, 'MWG_ERR_INVALID_OPTION')
    assert.equal(err.option, option)
    assert.match(err.message, new RegExp(`"${option}"`))
    return true
  }, JSON.stringify(input))
}

const integerOptions: { name: keyof GatewayOptions, min: number, max: number }[] = [
  { name: 'port', min: 0, max: 65535 },
  { name: 'tcpPort', min: 0, max: 65535 },
  { name: 'maxMessageSize', min: 16, max: 268_435_460 },
  { name: 'maxConnections', min: 1, max: 1_000_000 },
  { name: 'upstreamConnectTimeout', min: 1, max: 600_000 },
  { name: 'firstPacketTimeout', min: 1, max: 600_000 },
  { name: 'closeTimeout', min: 1, max: 600_000 },
  { name: 'drainTimeout', min: 1, max: 3_600_000 },
  { name: 'wsPingIdle', min: 0, max: 86_400 },
  { name: 'highWaterMark', min: 16 * 1024, max: 1024 * 1024 * 1024 },
  { name: 'brokerQueueLimit', min: 1, max: 1_000_000 },
  { name: 'brokerKeepaliveLimit', min: 0, max: 65535 },
  { name: 'adminPort', min: 0, max: 65535 }
]

describe('resolveOptions: defaults', () => {
  test('no input gives the defaults', () => {
    const resolved = resolveOptions()
    assert.deepEqual({ ...resolved, paths: [...resolved.paths] }, { ...defaultOptions, paths: [...defaultOptions.paths] })
  })

  test('the documented default values', () => {
    const o = resolveOptions({})
    assert.equal(o.host, '0.0.0.0')
    assert.equal(o.port, 8000)
    assert.deepEqual(o.paths, ['/mqtt'])
    assert.equal(o.upstream, undefined)
    assert.equal(o.tcpPort, 1883)
    assert.equal(o.tcpHost, undefined)
    assert.equal(o.requireSubprotocol, false)
    assert.equal(o.maxMessageSize, 1024 * 1024)
    assert.equal(o.adminHost, '127.0.0.1')
    assert.equal(o.adminPort, 8090)
    assert.equal(o.logLevel, 'info')
  })

  test('every option has a default entry and a check', () => {
    assert.deepEqual([...optionNames].sort(), Object.keys(defaultOptions).sort())
  })

  test('an option given as undefined keeps its default', () => {
    const o = resolveOptions({ port: undefined, paths: undefined, logLevel: undefined })
    assert.equal(o.port, 8000)
    assert.deepEqual(o.paths, ['/mqtt'])
    assert.equal(o.logLevel, 'info')
  })

  test('given values replace the defaults', () => {
    const o = resolveOptions({ host: '127.0.0.1', port: 0, tcpPort: 0, requireSubprotocol: true, logLevel: 'silent' })
    assert.equal(o.host, '127.0.0.1')
    assert.equal(o.port, 0)
    assert.equal(o.tcpPort, 0)
    assert.equal(o.requireSubprotocol, true)
    assert.equal(o.logLevel, 'silent')
  })
})

describe('resolveOptions: the result', () => {
  test('is frozen', () => {
    const o = resolveOptions({ port: 1234 })
    assert.ok(Object.isFrozen(o))
    assert.throws(() => { (o as unknown as Loose).port = 1 }, TypeError)
  })

  test('its paths cannot be changed either', () => {
    const o = resolveOptions({ paths: ['/a'] })
    assert.ok(Object.isFrozen(o.paths), 'paths array is frozen')
  })

  test('does not share the caller\'s paths array or the defaults', () => {
    const paths = ['/a', '/b']
    const o = resolveOptions({ paths })
    paths.push('/c')
    assert.deepEqual(o.paths, ['/a', '/b'])
    assert.notEqual(resolveOptions().paths, defaultOptions.paths)
  })

  test('duplicate paths are removed, first occurrence order kept', () => {
    const o = resolveOptions({ paths: ['/b', '/a', '/b', '/c', '/a'] })
    assert.deepEqual(o.paths, ['/b', '/a', '/c'])
  })

  test('does not change the defaults', () => {
    resolveOptions({ port: 1, paths: ['/x'] })
    assert.equal(defaultOptions.port, 8000)
    assert.deepEqual(defaultOptions.paths, ['/mqtt'])
  })
})

describe('resolveOptions: unknown options', () => {
  test('an unknown option names itself', () => {
    assertInvalid({ prot: 8000 }, 'prot')
  })

  test('an unknown option is refused even when undefined', () => {
    assertInvalid({ bogus: undefined }, 'bogus')
  })

  test('the CLI spelling of an option is not an option name', () => {
    assertInvalid({ 'max-message-size': 100 }, 'max-message-size')
  })

  // Names every plain object inherits must not pass for options: a config
  // file may hold any key, and "a typo must not silently fall back".
  test('names inherited from Object.prototype are unknown options', () => {
    const accepted: string[] = []
    for (const name of ['toString', 'constructor', 'hasOwnProperty', 'valueOf', '__proto__']) {
      // JSON.parse makes "__proto__" an own key, as a config file would.
      const input = JSON.parse(`{ ${JSON.stringify(name)}: {} }`) as Loose
      try {
        resolveLoose(input)
        accepted.push(name)
      } catch (err) {
        assert.ok(err instanceof InvalidOptionError)
        assert.equal(err.option, name)
      }
    }
    assert.deepEqual(accepted, [], 'inherited names accepted as options')
  })
})

describe('resolveOptions: integer options', () => {
  for (const { name, min, max } of integerOptions) {
    test(`${name}: ${min} and ${max} are accepted`, () => {
      assert.equal(resolveLoose({ [name]: min })[name], min)
      assert.equal(resolveLoose({ [name]: max })[name], max)
    })

    test(`${name}: out of range, fractional and non-numbers are refused`, () => {
      for (const bad of [min - 1, max + 1, min + 0.5, Number.NaN, Number.POSITIVE_INFINITY, '80', null, true, [], {}]) {
        assertInvalid({ [name]: bad }, name)
      }
    })
  }
})

describe('resolveOptions: other options', () => {
  test('host: a non-empty string', () => {
    assert.equal(resolveOptions({ host: '::1' }).host, '::1')
    for (const bad of ['', 0, null, true, ['127.0.0.1']]) assertInvalid({ host: bad }, 'host')
  })

  test('tcpHost: undefined or a non-empty string', () => {
    assert.equal(resolveOptions({ tcpHost: '127.0.0.1' }).tcpHost, '127.0.0.1')
    assert.equal(resolveOptions({ tcpHost: undefined }).tcpHost, undefined)
    for (const bad of ['', 1, null, false]) assertInvalid({ tcpHost: bad }, 'tcpHost')
  })

  test('requireSubprotocol: a boolean only', () => {
    assert.equal(resolveOptions({ requireSubprotocol: true }).requireSubprotocol, true)
    for (const bad of ['true', 1, 0, null, 'yes']) assertInvalid({ requireSubprotocol: bad }, 'requireSubprotocol')
  })

  test('logLevel: one of the pino levels', () => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const) {
      assert.equal(resolveOptions({ logLevel: level }).logLevel, level)
    }
    for (const bad of ['INFO', 'verbose', '', 3, null]) assertInvalid({ logLevel: bad }, 'logLevel')
  })

  test('paths: a non-empty list of absolute paths without query or fragment', () => {
    assert.deepEqual(resolveOptions({ paths: ['/', '/mqtt', '/a/b'] }).paths, ['/', '/mqtt', '/a/b'])
    const bad: unknown[] = [[], '/mqtt', ['mqtt'], [''], ['/mqtt?x=1'], ['/mqtt#top'], ['/ok', 'bad'], [1], [null], null, {}]
    for (const value of bad) assertInvalid({ paths: value }, 'paths')
  })
})

describe('resolveOptions: admin listener', () => {
  test('adminHost: a non-empty string', () => {
    assert.equal(resolveOptions({ adminHost: '0.0.0.0' }).adminHost, '0.0.0.0')
    for (const bad of ['', 0, null, true, ['127.0.0.1']]) assertInvalid({ adminHost: bad }, 'adminHost')
  })

  test('adminPort may not be the WebSocket port: the admin endpoints are never public', () => {
    assertInvalid({ port: 8080, adminPort: 8080 }, 'adminPort')
    // The default admin port counts too.
    assertInvalid({ port: 8090 }, 'adminPort')
    assert.equal(resolveOptions({ port: 9100, adminPort: 9101 }).adminPort, 9101)
  })

  test('adminPort 0 (off) goes with any port, 0 included', () => {
    assert.equal(resolveOptions({ port: 0, adminPort: 0 }).adminPort, 0)
    assert.equal(resolveOptions({ port: 9100, adminPort: 0 }).port, 9100)
  })
})

describe('resolveOptions: upstream', () => {
  for (const url of ['mqtt://broker:1883', 'mqtt://127.0.0.1:1', 'tcp://broker.example.com:1883', 'mqtt://[::1]:1883', 'MQTT://broker', 'mqtts://broker:8883', 'ssl://broker']) {
    test(`${url} is accepted`, () => {
      assert.equal(resolveOptions({ upstream: url }).upstream, url)
    })
  }

  test('TLS options go with their partners and with an mqtts:// upstream', () => {
    // The message names the missing partner.
    assertInvalid({ tlsCert: '/c.pem' }, 'tlsKey')
    assertInvalid({ tlsKey: '/k.pem' }, 'tlsCert')
    assertInvalid({ tlsCert: '/c.pem', tlsKey: '/k.pem', tlsRequireClientCert: true }, 'tlsRequireClientCert')
    assertInvalid({ upstream: 'mqtt://broker', upstreamCa: '/ca.pem' }, 'upstreamCa')
    assertInvalid({ upstream: 'mqtts://broker', upstreamCert: '/c.pem' }, 'upstreamKey')
    assert.equal(resolveOptions({ upstream: 'mqtts://broker', upstreamCa: '/ca.pem' }).upstreamCa, '/ca.pem')
  })

  test('several brokers: a comma-separated list, or an array from a config file', () => {
    assert.equal(resolveOptions({ upstream: 'mqtt://a:1883, mqtt://b:1883' }).upstream, 'mqtt://a:1883, mqtt://b:1883')
    assert.equal(resolveOptions({ upstream: ['mqtt://a', 'mqtt://b'] as unknown as string }).upstream, 'mqtt://a,mqtt://b')
    assertInvalid({ upstream: 'mqtt://a,ftp://b' }, 'upstream')
    assertInvalid({ upstream: 'mqtt://a,mqtts://b' }, 'upstream')
    assertInvalid({ upstreamStrategy: 'random' }, 'upstreamStrategy')
  })

  test('undefined means the embedded broker', () => {
    assert.equal(resolveOptions({ upstream: undefined }).upstream, undefined)
  })

  for (const url of ['http://broker:1883', 'ws://broker:8080/mqtt', 'file:///tmp/x']) {
    test(`an unsupported protocol: ${url}`, () => {
      assertInvalid({ upstream: url }, 'upstream')
    })
  }

  for (const url of ['', 'broker:1883', 'not a url', '127.0.0.1:1883', '//broker:1883', 'mqtt://']) {
    test(`garbage or no host: ${JSON.stringify(url)}`, () => {
      assertInvalid({ upstream: url }, 'upstream')
    })
  }

  test('a non-string', () => {
    for (const bad of [1883, null, true, {}]) assertInvalid({ upstream: bad }, 'upstream')
  })
})

/**
 * Options from flags, MQTT_WS_GATEWAY_* variables and a JSON config file.
 * Precedence, lowest first: defaults < file < environment < flags.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { envName, flagName, fromEnv, fromFile, gatherOptions, parseFlags } from '../../../src/cli/config.js'
import { describeFailure } from '../../../src/cli/failure.js'
import { InvalidOptionError, ListenError, UnreadableFileError } from '../../../src/errors.js'
import { defaultOptions, optionNames, resolveOptions } from '../../../src/options.js'

const dir = mkdtempSync(join(tmpdir(), 'mwg-cli-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))

let nextFile = 0
function configFile (text: string): string {
  const path = join(dir, `config-${nextFile++}.json`)
  writeFileSync(path, text)
  return path
}

/** Asserts that `fn` throws an InvalidOptionError naming `option`. */
function assertInvalid (fn: () => unknown, option: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(err)}`)
    assert.equal(err.code, 'MWG_ERR_INVALID_OPTION')
    assert.equal(err.option, option)
    if (message !== undefined) assert.match(err.message, message)
    return true
  })
}

describe('flag and variable names', () => {
  test('flags are kebab-case, paths is --path', () => {
    assert.equal(flagName('port'), 'port')
    assert.equal(flagName('maxMessageSize'), 'max-message-size')
    assert.equal(flagName('tcpHost'), 'tcp-host')
    assert.equal(flagName('paths'), 'path')
    assert.equal(flagName('adminPort'), 'admin-port')
  })

  test('variables are MQTT_WS_GATEWAY_ + upper snake case, paths is _PATH', () => {
    assert.equal(envName('port'), 'MQTT_WS_GATEWAY_PORT')
    assert.equal(envName('maxMessageSize'), 'MQTT_WS_GATEWAY_MAX_MESSAGE_SIZE')
    assert.equal(envName('requireSubprotocol'), 'MQTT_WS_GATEWAY_REQUIRE_SUBPROTOCOL')
    assert.equal(envName('paths'), 'MQTT_WS_GATEWAY_PATH')
    assert.equal(envName('adminHost'), 'MQTT_WS_GATEWAY_ADMIN_HOST')
  })

  test('every option has a distinct flag and variable', () => {
    assert.equal(new Set(optionNames.map(flagName)).size, optionNames.length)
    assert.equal(new Set(optionNames.map(envName)).size, optionNames.length)
  })
})

describe('parseFlags', () => {
  test('no flags: nothing set', () => {
    assert.deepEqual(parseFlags([]), { options: {}, configFile: undefined, help: false, version: false, printConfig: false })
  })

  test('--help, -h, --version, --print-config, --config', () => {
    assert.equal(parseFlags(['--help']).help, true)
    assert.equal(parseFlags(['-h']).help, true)
    assert.equal(parseFlags(['--version']).version, true)
    assert.equal(parseFlags(['--print-config']).printConfig, true)
    assert.equal(parseFlags(['--config', '/etc/gw.json']).configFile, '/etc/gw.json')
  })

  test('numbers from strings, in both --flag value and --flag=value forms', () => {
    const { options } = parseFlags(['--port', '8080', '--max-message-size=2048', '--ws-ping-idle', '0'])
    assert.deepEqual(options, { port: 8080, maxMessageSize: 2048, wsPingIdle: 0 })
  })

  test('strings pass through as given', () => {
    const { options } = parseFlags(['--host', '127.0.0.1', '--upstream', 'mqtt://b:1883', '--log-level', 'debug', '--tcp-host', '::1'])
    assert.deepEqual(options, { host: '127.0.0.1', upstream: 'mqtt://b:1883', logLevel: 'debug', tcpHost: '::1' })
  })

  test('a boolean flag takes no value', () => {
    assert.deepEqual(parseFlags(['--require-subprotocol']).options, { requireSubprotocol: true })
    assertInvalid(() => parseFlags(['--require-subprotocol=yes']), '--require-subprotocol')
  })

  test('--path is repeatable and takes comma lists', () => {
    assert.deepEqual(parseFlags(['--path', '/a']).options.paths, ['/a'])
    assert.deepEqual(parseFlags(['--path', '/a', '--path', '/b,/c', '--path=/d']).options.paths, ['/a', '/b', '/c', '/d'])
    assert.deepEqual(parseFlags(['--path', ' /x , ,/y ']).options.paths, ['/x', '/y'])
  })

  test('every option can be set by its flag', () => {
    for (const name of optionNames) {
      const kind = typeof defaultOptions[name]
      const argv = kind === 'boolean' ? [`--${flagName(name)}`] : [`--${flagName(name)}`, kind === 'number' ? '7' : '/v']
      const { options } = parseFlags(argv)
      assert.deepEqual(Object.keys(options), [name], `--${flagName(name)}`)
    }
  })

  test('a value that is not a number names the option', () => {
    for (const raw of ['abc', '', ' ', '12abc', 'Infinity', '1e999', 'NaN']) {
      assertInvalid(() => parseFlags(['--port', raw]), 'port', /--port/)
    }
    assertInvalid(() => parseFlags(['--max-message-size', 'big']), 'maxMessageSize')
  })

  test('a number out of range is left for resolveOptions, which names the option', () => {
    const { options } = parseFlags(['--port', '1.5'])
    assert.equal(options.port, 1.5)
    assertInvalid(() => resolveOptions(options), 'port')
  })

  test('an unknown flag is named', () => {
    assertInvalid(() => parseFlags(['--bogus']), '--bogus')
    assertInvalid(() => parseFlags(['--port', '1', '--bogus', 'x']), '--bogus')
    assertInvalid(() => parseFlags(['--bogus=1']), '--bogus')
    assertInvalid(() => parseFlags(['-x']), '-x')
  })

  test('the camelCase spelling of a flag is unknown', () => {
    assertInvalid(() => parseFlags(['--maxMessageSize', '1']), '--maxMessageSize')
  })

  test('a flag missing its value names the flag', () => {
    assert.throws(() => parseFlags(['--port']), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError)
      assert.match(err.option, /^--port/)
      return true
    })
  })

  test('positional arguments are refused', () => {
    assert.throws(() => parseFlags(['serve']), InvalidOptionError)
  })
})

describe('fromEnv', () => {
  test('an environment without MQTT_WS_GATEWAY_* variables sets nothing', () => {
    assert.deepEqual(fromEnv({ PATH: '/usr/bin', HOME: '/root', MQTT_HOST: 'x', MQTT_WS_GATEWAYPORT: '1' }), {})
  })

  test('numbers, strings and lists', () => {
    const options = fromEnv({
      MQTT_WS_GATEWAY_PORT: '8080',
      MQTT_WS_GATEWAY_HOST: '127.0.0.1',
      MQTT_WS_GATEWAY_PATH: '/a, /b,,/c',
      MQTT_WS_GATEWAY_MAX_MESSAGE_SIZE: ' 4096 ',
      MQTT_WS_GATEWAY_UPSTREAM: 'mqtt://broker:1883'
    })
    assert.deepEqual(options, { port: 8080, host: '127.0.0.1', paths: ['/a', '/b', '/c'], maxMessageSize: 4096, upstream: 'mqtt://broker:1883' })
  })

  test('booleans accept 1/0, true/false, yes/no, on/off in any case', () => {
    for (const raw of ['1', 'true', 'TRUE', 'yes', 'Yes', 'on', 'ON']) {
      assert.equal(fromEnv({ MQTT_WS_GATEWAY_REQUIRE_SUBPROTOCOL: raw }).requireSubprotocol, true, raw)
    }
    for (const raw of ['0', 'false', 'False', 'no', 'NO', 'off']) {
      assert.equal(fromEnv({ MQTT_WS_GATEWAY_REQUIRE_SUBPROTOCOL: raw }).requireSubprotocol, false, raw)
    }
    for (const raw of ['', 'maybe', '2', 'truee']) {
      assertInvalid(() => fromEnv({ MQTT_WS_GATEWAY_REQUIRE_SUBPROTOCOL: raw }), 'requireSubprotocol', /MQTT_WS_GATEWAY_REQUIRE_SUBPROTOCOL/)
    }
  })

  test('every option can be set by its variable', () => {
    for (const name of optionNames) {
      const kind = typeof defaultOptions[name]
      const raw = kind === 'boolean' ? 'true' : kind === 'number' ? '7' : '/v'
      assert.deepEqual(Object.keys(fromEnv({ [envName(name)]: raw })), [name], envName(name))
    }
  })

  test('a value that is not a number names the option and the variable', () => {
    assertInvalid(() => fromEnv({ MQTT_WS_GATEWAY_PORT: 'eighty' }), 'port', /MQTT_WS_GATEWAY_PORT/)
    assertInvalid(() => fromEnv({ MQTT_WS_GATEWAY_PORT: '' }), 'port')
  })

  test('an unknown MQTT_WS_GATEWAY_* variable is named', () => {
    assertInvalid(() => fromEnv({ MQTT_WS_GATEWAY_BOGUS: '1' }), 'MQTT_WS_GATEWAY_BOGUS')
    assertInvalid(() => fromEnv({ MQTT_WS_GATEWAY_PATHS: '/a' }), 'MQTT_WS_GATEWAY_PATHS')
    assertInvalid(() => fromEnv({ MQTT_WS_GATEWAY_PORT: '1', MQTT_WS_GATEWAY_MAXMESSAGESIZE: '1' }), 'MQTT_WS_GATEWAY_MAXMESSAGESIZE')
  })

  test('MQTT_WS_GATEWAY_CONFIG is known but is not an option', () => {
    assert.deepEqual(fromEnv({ MQTT_WS_GATEWAY_CONFIG: '/etc/gw.json' }), {})
  })
})

describe('fromFile', () => {
  test('a JSON object is read as is', () => {
    const path = configFile(JSON.stringify({ port: 1234, paths: ['/a'], requireSubprotocol: true }))
    assert.deepEqual(fromFile(path), { port: 1234, paths: ['/a'], requireSubprotocol: true })
  })

  test('a missing file', () => {
    assertInvalid(() => fromFile(join(dir, 'does-not-exist.json')), 'config', /ENOENT/)
  })

  test('a directory', () => {
    assertInvalid(() => fromFile(dir), 'config')
  })

  test('invalid JSON', () => {
    for (const text of ['', '{', '{ port: 1 }', '{"port": 1,}', 'port=1']) {
      assertInvalid(() => fromFile(configFile(text)), 'config', /JSON/)
    }
  })

  test('JSON that is not an object', () => {
    for (const text of ['[]', '[{"port": 1}]', 'null', '42', '"port"', 'true']) {
      assertInvalid(() => fromFile(configFile(text)), 'config', /object/)
    }
  })

  test('values are not coerced: a string port is refused by resolveOptions', () => {
    assertInvalid(() => resolveOptions(fromFile(configFile('{"port": "8080"}'))), 'port')
  })

  test('an unknown key is refused by resolveOptions, named', () => {
    assertInvalid(() => resolveOptions(fromFile(configFile('{"prot": 8080}'))), 'prot')
  })
})

describe('gatherOptions', () => {
  const file = configFile(JSON.stringify({ port: 1, host: 'file-host', logLevel: 'warn', paths: ['/file'], wsPingIdle: 11 }))

  test('file < env < flags', () => {
    const env = { MQTT_WS_GATEWAY_PORT: '2', MQTT_WS_GATEWAY_HOST: 'env-host', MQTT_WS_GATEWAY_WS_PING_IDLE: '22' }
    const { options } = gatherOptions(['--config', file, '--port', '3'], env)
    assert.deepEqual(options, { port: 3, host: 'env-host', logLevel: 'warn', paths: ['/file'], wsPingIdle: 22 })
  })

  test('--upstream repeated names several brokers', () => {
    const { options } = gatherOptions(['--upstream', 'mqtt://a:1883', '--upstream', 'mqtt://b:1883'], {})
    assert.equal(options.upstream, 'mqtt://a:1883,mqtt://b:1883')
    assert.equal(resolveOptions(options).upstream, 'mqtt://a:1883,mqtt://b:1883')
  })

  test('--no-require-subprotocol turns off what the environment turned on', () => {
    const env = { MQTT_WS_GATEWAY_REQUIRE_SUBPROTOCOL: 'true' }
    assert.equal(gatherOptions([], env).options.requireSubprotocol, true)
    assert.equal(gatherOptions(['--no-require-subprotocol'], env).options.requireSubprotocol, false)
  })

  test('the file alone', () => {
    const { options, configFile: used } = gatherOptions(['--config', file], {})
    assert.equal(used, file)
    assert.deepEqual(options, { port: 1, host: 'file-host', logLevel: 'warn', paths: ['/file'], wsPingIdle: 11 })
  })

  test('flags replace a list, they do not add to it', () => {
    const { options } = gatherOptions(['--config', file, '--path', '/x'], { MQTT_WS_GATEWAY_PATH: '/env' })
    assert.deepEqual(options.paths, ['/x'])
  })

  test('MQTT_WS_GATEWAY_CONFIG names the file; --config wins over it', () => {
    const other = configFile(JSON.stringify({ port: 99 }))
    assert.equal(gatherOptions([], { MQTT_WS_GATEWAY_CONFIG: file }).options.port, 1)
    const both = gatherOptions(['--config', other], { MQTT_WS_GATEWAY_CONFIG: file })
    assert.equal(both.configFile, other)
    assert.deepEqual(both.options, { port: 99 })
  })

  test('no file, no env, no flags: nothing set, and the defaults resolve', () => {
    const { options, configFile: used } = gatherOptions([], { HOME: '/root' })
    assert.deepEqual(options, {})
    assert.equal(used, undefined)
    assert.equal(resolveOptions(options).port, defaultOptions.port)
  })

  test('the merged result resolves with the highest-precedence values', () => {
    const { options } = gatherOptions(['--config', file, '--require-subprotocol'], { MQTT_WS_GATEWAY_PORT: '0' })
    const resolved = resolveOptions(options)
    assert.equal(resolved.port, 0)
    assert.equal(resolved.requireSubprotocol, true)
    assert.equal(resolved.logLevel, 'warn')
  })

  test('errors from each source name what is wrong', () => {
    assertInvalid(() => gatherOptions(['--bogus'], {}), '--bogus')
    assertInvalid(() => gatherOptions([], { MQTT_WS_GATEWAY_NOPE: '1' }), 'MQTT_WS_GATEWAY_NOPE')
    assertInvalid(() => gatherOptions(['--config', join(dir, 'missing.json')], {}), 'config')
    assertInvalid(() => gatherOptions([], { MQTT_WS_GATEWAY_CONFIG: configFile('not json') }), 'config')
    assertInvalid(() => gatherOptions(['--port', 'x'], {}), 'port')
  })
})

describe('describeFailure: one line and an exit code for a start that failed', () => {
  test('an invalid option: its message, exit 2', () => {
    assert.deepEqual(describeFailure(new InvalidOptionError('port', 'must be an integer')), { line: 'option "port" must be an integer', exitCode: 2 })
  })

  test('a taken port: the flag and the address, exit 1', () => {
    const err = new ListenError('tcpPort', '[::1]:1883', Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' }))
    assert.deepEqual(describeFailure(err), { line: 'cannot listen on [::1]:1883 (--tcp-port): address already in use', exitCode: 1 })
  })

  test('an unreadable file: the flag and the path, exit 1', () => {
    const err = new UnreadableFileError('tlsKey', '/etc/key.pem', Object.assign(new Error('EACCES'), { code: 'EACCES' }))
    assert.deepEqual(describeFailure(err), { line: 'cannot read /etc/key.pem (--tls-key): permission denied', exitCode: 1 })
  })

  test('anything else: the first line of its message, never a stack, exit 1', () => {
    assert.deepEqual(describeFailure(new Error('boom\n    at somewhere')), { line: 'start failed: boom', exitCode: 1 })
    assert.deepEqual(describeFailure('plain'), { line: 'start failed: plain', exitCode: 1 })
  })
})

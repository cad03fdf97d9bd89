/**
 * deploy/nginx/mqtt-ws-gateway.conf: `nginx -t` on it inside a minimal
 * nginx.conf in a temp dir (its certificate paths pointed at a throwaway
 * certificate, the only change), what it must say for WebSockets, and a real
 * nginx on loopback running it (listen address and upstream servers moved to
 * loopback ports): an MQTT client bound to 127.0.0.7 connects over wss://
 * through nginx to a gateway that trusts nginx, and the gateway logs
 * 127.0.0.7, read from X-Forwarded-For.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import mqtt from 'mqtt'
import { stopChild, tail } from '../support/child.js'
import { freePort } from '../support/free-port.js'
import { acceptsTcp, waitUntil, withTimeout } from '../support/wait.js'
import { createPki } from '../support/certs.js'
import type { TestPki } from '../support/certs.js'
import { spawnGateway } from '../support/gateway-process.js'
import type { GatewayProcess } from '../support/gateway-process.js'
import { LONGEST_KEEPALIVE_S, readDeployFile } from '../support/deploy-files.js'
import { deployPrograms, skipUnlessInstalled } from '../support/deploy-programs.js'

const example = readDeployFile('nginx', 'mqtt-ws-gateway.conf')

/** `text` with each [from, to] replaced; every `from` must occur exactly once. */
function substitute (text: string, pairs: [string | RegExp, string][]): string {
  let result = text
  for (const [from, to] of pairs) {
    const count = typeof from === 'string' ? result.split(from).length - 1 : [...result.matchAll(new RegExp(from, 'g'))].length
    assert.equal(count, 1, `${String(from)} occurs once in the example`)
    result = result.replace(from, to)
  }
  return result
}

/** The `name value;` directives of the example, comments removed. */
function directive (name: string): string[] {
  return example.split('\n').map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line.startsWith(`${name} `)).map((line) => line.slice(name.length + 1).replace(/;$/, '').trim())
}

function seconds (value: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(value)
  assert.ok(match !== null, `an nginx time: ${value}`)
  return Number(match[1]) * ({ ms: 0.001, s: 1, m: 60, h: 3600 }[match[2] ?? 's'] as number)
}

describe('deploy/nginx/mqtt-ws-gateway.conf', { skip: skipUnlessInstalled('nginx example', 'nginx') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mwg-nginx-'))
  let pki: TestPki
  let cert: [string, string]

  before(() => {
    mkdirSync(join(dir, 'logs'))
    pki = createPki()
    cert = pki.issue('mqtt.example.com', 'nginx')
  })
  after(() => {
    pki.remove()
    rmSync(dir, { recursive: true, force: true })
  })

  /** Writes nginx.conf around `site` and returns its path. */
  function nginxConf (site: string): string {
    writeFileSync(join(dir, 'site.conf'), site)
    const conf = join(dir, 'nginx.conf')
    writeFileSync(conf, [
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'logs', 'error.log')};`,
      'events {}',
      `http { access_log off; include ${join(dir, 'site.conf')}; }`,
      ''
    ].join('\n'))
    return conf
  }

  function withCertificate (text: string): string {
    return substitute(text, [
      ['/etc/nginx/tls/mqtt.example.com.fullchain.pem', cert[0]],
      ['/etc/nginx/tls/mqtt.example.com.key', cert[1]]
    ])
  }

  function nginxTest (site: string): { status: number | null, output: string } {
    const args = ['-t', '-p', dir, '-c', nginxConf(site), '-e', join(dir, 'logs', 'error.log')]
    const result = spawnSync(deployPrograms.nginx, args, { encoding: 'utf8', timeout: 20_000 })
    return { status: result.status, output: result.stdout + result.stderr }
  }

  test('nginx -t accepts it', () => {
    const result = nginxTest(withCertificate(example))
    assert.equal(result.status, 0, result.output)
  })

  test('nginx -t is engaged: it refuses a misspelled directive', () => {
    const result = nginxTest(withCertificate(example).replace('proxy_send_timeout', 'proxy_sent_timeout'))
    assert.equal(result.status, 1)
    assert.match(result.output, /unknown directive "proxy_sent_timeout"/)
  })

  test('it upgrades with HTTP/1.1, passes X-Forwarded-For, and outlives 1.5 × the longest keep-alive', () => {
    assert.deepEqual(directive('proxy_http_version'), ['1.1'])
    assert.ok(directive('proxy_set_header').includes('Upgrade $http_upgrade'))
    assert.ok(directive('proxy_set_header').includes('Connection $mqtt_ws_connection'))
    assert.ok(directive('proxy_set_header').includes('X-Forwarded-For $proxy_add_x_forwarded_for'))
    for (const name of ['proxy_read_timeout', 'proxy_send_timeout']) {
      assert.ok(seconds(directive(name)[0] ?? '0') > 1.5 * LONGEST_KEEPALIVE_S, name)
    }
    assert.match(directive('proxy_next_upstream')[0] ?? '', /\bhttp_503\b/, 'a draining gateway\'s 503 goes to another')
  })

  describe('a real nginx running it', () => {
    let nginx: ChildProcess | undefined
    let gateway: GatewayProcess | undefined
    const log = tail()
    after(async () => {
      if (nginx !== undefined) await stopChild(nginx, 'SIGQUIT', 3000)
      await gateway?.stop()
    })

    test('a client at 127.0.0.7 connects through it over wss:// and the gateway logs 127.0.0.7', async () => {
      gateway = await spawnGateway(['--tcp-port', '0', '--trusted-proxies', '127.0.0.1'])
      const [port, gatewayPort] = [await freePort(), new URL(gateway.url).port]
      const site = substitute(withCertificate(example), [
        ['listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`],
        [/server 192\.0\.2\.11:8000 /, `server 127.0.0.1:${gatewayPort} `],
        [/server 192\.0\.2\.12:8000 /, `server 127.0.0.1:${gatewayPort} `]
      ])
      nginx = spawn(deployPrograms.nginx, ['-p', dir, '-c', nginxConf(site), '-e', join(dir, 'logs', 'error.log'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] })
      nginx.stdout?.on('data', log.push)
      nginx.stderr?.on('data', log.push)
      await waitUntil(() => acceptsTcp(port), 5000, `nginx listening\n${log.text()}`)
      const client = mqtt.connect(`wss://localhost:${port}/mqtt`, {
        ca: readFileSync(pki.ca), wsOptions: { localAddress: '127.0.0.7' }, reconnectPeriod: 0, clientId: 'nginx-example'
      })
      try {
        await withTimeout(new Promise((resolve, reject) => { client.once('connect', resolve); client.once('error', reject) }), 5000, 'MQTT connect through nginx')
      } finally {
        await client.endAsync()
      }
      const open = gateway.logs.find((line) => line.event === 'open')
      // An address from a proxy header is logged without a port (the port would be the proxy's).
      assert.equal(open?.remote, '127.0.0.7', JSON.stringify(gateway.logs))
    })
  })
})

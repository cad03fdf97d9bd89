/**
 * Real reverse proxies in front of the gateway: nginx and HAProxy as child
 * processes on loopback, each with a config the test writes into its own
 * temp dir, stopped by PID. For tests of what those proxies really send.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { isRunning, stopChild, tail } from './child.js'
import { freePort } from './free-port.js'
import { programs } from './programs.js'
import { acceptsTcp, waitUntil } from './wait.js'

export interface ReverseProxy {
  /** ws://127.0.0.1:PORT/mqtt through the proxy. */
  url: string
  log: () => string
}

/** nginx as its docs proxy WebSocket, with `location` lines added (proxy_set_header …). */
function nginxConfig (dir: string, port: number, upstreamPort: number, locationLines: string[]): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  # The Forwarded element this hop appends (nginx's blog recipe, simplified).
  map $remote_addr $proxy_forwarded_elem { ~^[0-9.]+$ "for=$remote_addr"; default "for=\\"[$remote_addr]\\""; }
  map $http_forwarded $proxy_add_forwarded { "" "$proxy_forwarded_elem"; default "$http_forwarded, $proxy_forwarded_elem"; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${upstreamPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      ${locationLines.join('\n      ')}
    }
  }
}
`
}

function haproxyConfig (port: number, upstreamPort: number, frontendLines: string[]): string {
  return `defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
  timeout tunnel 30s
frontend public
  bind 127.0.0.1:${port}
  ${frontendLines.join('\n  ')}
  default_backend gateway
backend gateway
  server gateway 127.0.0.1:${upstreamPort}
`
}

async function startProxy (t: TestContext, name: string, command: (dir: string, port: number) => { args: string[], config: string, file: string }): Promise<ReverseProxy> {
  const dir = await mkdtemp(join(tmpdir(), `mwg-${name}-`))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const port = await freePort()
  const { args, config, file } = command(dir, port)
  await writeFile(join(dir, file), config)
  const child = spawn(args[0] as string, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => stopChild(child, 'SIGTERM', 2000))
  const output = tail()
  child.stdout.on('data', output.push)
  child.stderr.on('data', output.push)
  try {
    await waitUntil(async () => {
      if (!isRunning(child)) throw new Error(`${name} exited with ${String(child.exitCode)}`)
      return await acceptsTcp(port)
    }, 5000, `${name} listening`)
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${output.text()}`, { cause: err })
  }
  return { url: `ws://127.0.0.1:${port}/mqtt`, log: output.text }
}

/** nginx on a free loopback port, proxying WebSocket upgrades to `upstreamPort`. */
export async function startNginx (t: TestContext, upstreamPort: number, locationLines: string[]): Promise<ReverseProxy> {
  return await startProxy(t, 'nginx', (dir, port) => ({
    args: [programs.nginx, '-p', dir, '-c', join(dir, 'nginx.conf')],
    config: nginxConfig(dir, port, upstreamPort, locationLines),
    file: 'nginx.conf'
  }))
}

/** HAProxy (mode http) on a free loopback port, in front of `upstreamPort`. */
export async function startHaproxy (t: TestContext, upstreamPort: number, frontendLines: string[]): Promise<ReverseProxy> {
  return await startProxy(t, 'haproxy', (dir, port) => ({
    args: [programs.haproxy, '-db', '-f', join(dir, 'haproxy.cfg')],
    config: haproxyConfig(port, upstreamPort, frontendLines),
    file: 'haproxy.cfg'
  }))
}

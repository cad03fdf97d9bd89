/**
 * The gateway CLI as a child process, for tests that measure its memory or
 * read its log lines.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface GatewayProcess {
  child: ChildProcess
  url: string
  logs: Record<string, unknown>[]
  rssKb: () => number
  stop: () => Promise<void>
}

export async function spawnGateway (args: string[]): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { PATH: process.env.PATH ?? '' }
  })
  const logs: Record<string, unknown>[] = []
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('gateway did not start within 15 s')), 15_000)
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)))
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const match = /listening on (wss?:\/\/\S+)/.exec(line)
      if (match?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(match[1])
      } else if (line.startsWith('{')) {
        logs.push(JSON.parse(line) as Record<string, unknown>)
      }
    })
  })
  const rssKb = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1])
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
  }
  return { child, url, logs, rssKb, stop }
}

/**
 * The gateway command (`node --import tsx src/cli/main.ts`) as a child
 * process whose every JSON log line and stderr the test can read, signalled
 * and awaited by PID; with --workers, its workers are found from the
 * primary's worker_start lines and killed with it.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { isRunning } from './child.js'
import { waitUntil, withTimeout } from './wait.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const LISTENING = /listening on (wss?:\/\/\S+)/

export type Log = Record<string, unknown>

export interface CliProcess {
  child: ChildProcess
  pid: number
  /** Parsed JSON log lines, in order. */
  logs: Log[]
  /** Other stdout lines. */
  lines: string[]
  stderr: () => string
  /** Resolves with the WebSocket URL once the listening line is printed. */
  listening: () => Promise<string>
  /** Resolves with [code, signal] when the process has exited. */
  exited: Promise<[number | null, NodeJS.Signals | null]>
  /** Waits until a log line matches; the failure message carries the last lines. */
  waitForLog: (match: (log: Log) => boolean, ms: number, what: string) => Promise<Log>
  /** SIGKILL to the process (and its workers), awaited. */
  kill: () => Promise<void>
}

export function startCliProcess (args: string[], env: Record<string, string> = {}, startTimeoutMs = 20_000): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ...env }
  })
  const logs: Log[] = []
  const lines: string[] = []
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (line.startsWith('{')) logs.push(JSON.parse(line) as Log)
    else lines.push(line)
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  const describe = (): string => `stdout: ${lines.join('\n')}\nlogs: ${logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${stderr.slice(-2000)}`
  const listening = async (): Promise<string> => {
    await withTimeout(Promise.race([
      waitUntil(() => lines.some((l) => LISTENING.test(l)), startTimeoutMs, 'listening line'),
      exited.then(([code]) => { throw new Error(`exited with ${String(code)} before listening`) })
    ]), startTimeoutMs + 1000, 'start').catch((err: unknown) => { throw new Error(`${(err as Error).message}\n${describe()}`) })
    return LISTENING.exec(lines.find((l) => LISTENING.test(l)) ?? '')?.[1] as string
  }
  const waitForLog = async (match: (log: Log) => boolean, ms: number, what: string): Promise<Log> => {
    try {
      await waitUntil(() => logs.some(match), ms, what)
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${describe()}`, { cause: err })
    }
    return logs.find(match) as Log
  }
  const kill = async (): Promise<void> => {
    for (const log of logs) {
      if (log.event !== 'worker_start') continue
      try { process.kill(log.workerPid as number, 'SIGKILL') } catch { /* gone */ }
    }
    if (!isRunning(child)) return
    child.kill('SIGKILL')
    await exited
  }
  return { child, pid: child.pid as number, logs, lines, stderr: () => stderr, listening, exited, waitForLog, kill }
}

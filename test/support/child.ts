/** Child processes the tests start (Mosquitto, Paho): stopped by PID, and awaited. */
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'

/** True while the child was spawned (it has a PID) and has neither exited nor been killed by a signal. */
export function isRunning (child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null
}

/**
 * Sends `signal` to the child's PID and waits for its exit; escalates to
 * SIGKILL when it is still running after `graceMs`.
 */
export async function stopChild (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> {
  if (!isRunning(child)) return
  const exited = once(child, 'exit')
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  try {
    await exited
  } finally {
    clearTimeout(timer)
  }
}

/** Keeps the last `limit` characters a stream wrote, for failure messages. */
export function tail (limit = 16_384): { push: (chunk: Buffer | string) => void, text: () => string } {
  let text = ''
  return {
    push: (chunk) => { text = (text + chunk.toString()).slice(-limit) },
    text: () => text
  }
}

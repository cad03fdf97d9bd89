/** Bounded waiting: every wait in the interop suite has a limit and a name for its failure message. */
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/** Settles like `promise`, or rejects with "`what` timed out" after `ms`. */
export async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls `check` every `interval` ms until it returns true; rejects after `ms`. */
export async function waitUntil (check: () => boolean | Promise<boolean>, ms: number, what: string, interval = 20): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not true after ${ms} ms`)
    await sleep(interval)
  }
}

/** True when a TCP connection to host:port is accepted (then closed at once). */
export async function acceptsTcp (port: number, host = '127.0.0.1'): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = net.connect({ port, host })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { socket.destroy(); resolve(false) })
  })
}

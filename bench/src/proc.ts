/**
 * What the bench reads about another process from /proc (Linux only):
 * resident memory, CPU time and the open-files limit. Each returns undefined
 * when the process or /proc is not there, so a missing `--pid` never fails a run.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/** VmRSS of `pid` in KiB. */
export function readRssKb (pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    return match === null ? undefined : Number(match[1])
  } catch {
    return undefined
  }
}

let ticksPerSecond: number | undefined

/** Clock ticks per second of /proc/PID/stat times (USER_HZ, nearly always 100). */
function clockTicks (): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/**
 * User + system CPU time, in µs (resolution: one clock tick, 10 ms), of `pid`
 * and of its descendants: those still running, and those it has already
 * reaped (the kernel adds their times to the parent's). A process that
 * serves each connection in a child of its own (socat with `fork`) or in
 * workers (`--workers`) is thus measured whole.
 */
export function readCpuMicros (pid: number): number | undefined {
  const ticks = treeSum(pid, statTicks, MAX_TREE_DEPTH)
  return ticks === undefined ? undefined : ticks * 1e6 / clockTicks()
}

/**
 * Read and write system calls (read, readv, write, writev…: those through
 * the VFS; recv/send are not counted) `pid` and its descendants have made:
 * syscr + syscw of /proc/PID/io, which also holds those of children already
 * reaped. How many messages each call carries shows batching without the
 * noise of timing. Node (libuv), socat and Mosquitto's TCP clients use
 * read/write; libwebsockets uses recv/send.
 */
export function readSyscalls (pid: number): number | undefined {
  return treeSum(pid, ioCalls, MAX_TREE_DEPTH)
}

const MAX_TREE_DEPTH = 4

/** `own(pid)` plus the same for each running descendant, `depth` levels down. */
function treeSum (pid: number, own: (pid: number) => number | undefined, depth: number): number | undefined {
  const self = own(pid)
  if (self === undefined || depth === 0) return self
  return childPids(pid).reduce((sum, child) => sum + (treeSum(child, own, depth - 1) ?? 0), self)
}

function ioCalls (pid: number): number | undefined {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8')
    const reads = /^syscr:\s+(\d+)/m.exec(io)
    const writes = /^syscw:\s+(\d+)/m.exec(io)
    return reads === null || writes === null ? undefined : Number(reads[1]) + Number(writes[1])
  } catch {
    return undefined
  }
}

/** utime + stime + cutime + cstime of `pid`, in clock ticks. */
function statTicks (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses; fields after it are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14-17 of proc(5) (utime, stime, cutime, cstime); this list starts at field 3.
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])
    return Number.isFinite(ticks) ? ticks : undefined
  } catch {
    return undefined
  }
}

/** Running children of `pid`, from each thread's `children` list (a child belongs to the thread that forked it). */
function childPids (pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap(tid => {
      try {
        return readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number)
      } catch {
        return []
      }
    })
  } catch {
    return []
  }
}

/** CPU time all processors spent busy since boot, in µs (from the first line of /proc/stat). */
export function readBusyMicros (): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
    const ticks = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)
    return Number.isFinite(ticks) ? ticks * 1e6 / clockTicks() : undefined
  } catch {
    return undefined
  }
}

/** Soft limit on open files of `pid` ("Max open files" in /proc/PID/limits); Infinity when unlimited. */
export function readOpenFilesLimit (pid: number | 'self'): number | undefined {
  try {
    const limits = readFileSync(`/proc/${pid}/limits`, 'utf8')
    const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits)
    if (match === null) return undefined
    return match[1] === 'unlimited' ? Infinity : Number(match[1])
  } catch {
    return undefined
  }
}

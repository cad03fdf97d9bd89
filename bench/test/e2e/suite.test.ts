/**
 * The suite's bookkeeping without running it: which scenarios it runs, how
 * the targets read the medians (target 1 against the reflector, target 4
 * with the 9,900-connection run), and which table each target lands in.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { describe, test } from 'node:test'
import { readCpuMicros, readOpenFilesLimit, readSyscalls } from '../../src/proc.js'
import { suiteMarkdown } from '../../src/suite-report.js'
import type { Summary, SuiteResults } from '../../src/suite-results.js'
import { pickScenarios, suiteScenarios } from '../../src/suite-scenarios.js'
import { checkTargets } from '../../src/suite-targets.js'

describe('suite scenarios', () => {
  test('every idle scenario warms up first, on every target alike', () => {
    for (const quick of [true, false]) {
      const idle = suiteScenarios(quick).filter(s => s.input.mode === 'connections')
      assert.ok(idle.length > 0)
      for (const s of idle) assert.deepEqual(s.warmUp, { connections: 2000, settleMs: 1000 })
    }
  })

  test('9,900 connections in the full suite only, within 20,000 open files', () => {
    assert.equal(suiteScenarios(true).find(s => s.id === 'idle-9900'), undefined)
    const many = suiteScenarios(false).find(s => s.id === 'idle-9900')
    assert.equal(many?.input.connections, 9900)
    assert.ok(many.openFiles !== undefined && many.openFiles <= 20_000)
  })

  test('the 5-minute soak is in the list but opt-in: the default suite stays under 10 minutes', () => {
    const soak = suiteScenarios(false).find(s => s.id === 'soak-5min')
    assert.equal(soak?.optIn, true)
    assert.equal(soak.input.duration, 300)
    assert.equal(pickScenarios(suiteScenarios(false), undefined).find(s => s.id === 'soak-5min'), undefined, 'not in the default run')
    assert.deepEqual(pickScenarios(suiteScenarios(false), ['soak-5min', 'echo-100']).map(s => s.id), ['echo-100', 'soak-5min'])
    assert.throws(() => pickScenarios(suiteScenarios(false), ['nope']), /unknown scenario nope/)
  })

  test('the relay runs where targets 2, 3 and 5 (QoS 0 1 → 1) are judged, and not with idle connections', () => {
    const scenarios = suiteScenarios(false)
    const withRelay = scenarios.filter(s => s.targets.includes('relay')).map(s => s.id).sort()
    assert.deepEqual(withRelay, ['large-64k', 'latency-5k', 'qos0-1to1'])
  })

  test('target 1 runs with a 20,000 window against both endpoints', () => {
    const s = suiteScenarios(true).find(s => s.id === 'qos0-1to1-w20k')
    assert.equal(s?.input.inflight, 20_000)
    assert.deepEqual([...s.targets].sort(), ['direct', 'gateway', 'gateway-reflector', 'reflector'])
  })
})

function target (summary: Summary, id: number): ReturnType<typeof checkTargets>[number] {
  const found = checkTargets(summary).find(t => t.id === id)
  assert.ok(found !== undefined)
  return found
}

describe('suite targets', () => {
  test('6: the echo alone, or with the soak when it ran; any loss or drop in either fails', () => {
    const echo = { gateway: { lost: 0, disconnects: 0 } }
    assert.equal(target({ 'echo-100': echo }, 6).pass, true)
    assert.match(target({ 'echo-100': echo, 'soak-5min': { gateway: { lost: 0, disconnects: 0 } } }, 6).measured, /echo: 0 lost, 0 disconnects; soak: 0 lost, 0 disconnects/)
    assert.equal(target({ 'echo-100': echo, 'soak-5min': { gateway: { lost: 3, disconnects: 0 } } }, 6).pass, false)
    assert.equal(target({ 'echo-100': { gateway: { lost: 0, disconnects: 1 } } }, 6).pass, false)
    assert.equal(target({}, 6).pass, undefined)
  })

  test('1: judged against the reflector, with the Mosquitto figures beside it', () => {
    const summary: Summary = {
      'qos0-1to1': { gateway: { gatewayCpu: 5.9 } },
      'qos0-1to1-w20k': { gateway: { gatewayCpu: 5.1 }, 'gateway-reflector': { gatewayCpu: 0.45 } }
    }
    const t = target(summary, 1)
    assert.equal(t.pass, true)
    assert.match(t.measured, /^0\.450 µs; against Mosquitto 5\.100 µs \(window 500: 5\.900 µs\)$/)
    assert.equal(target({ 'qos0-1to1-w20k': { 'gateway-reflector': { gatewayCpu: 0.6 } } }, 1).pass, false)
  })

  test('1: without the reflector run it is not judged, but Mosquitto is still shown', () => {
    const t = target({ 'qos0-1to1': { gateway: { gatewayCpu: 5.9 } } }, 1)
    assert.equal(t.pass, undefined)
    assert.match(t.measured, /window 500: 5\.900 µs/)
  })

  test('2, 3 and 5 show the relay beside the gateway, and judge the gateway alone', () => {
    const summary: Summary = {
      'latency-5k': { direct: { p99: 400 }, gateway: { p99: 800 }, relay: { p99: 720 } },
      'large-64k': { direct: { mbPerSec: 1000 }, gateway: { mbPerSec: 530 }, relay: { mbPerSec: 600 } },
      'qos0-1to1': { direct: { msgPerSec: 100 }, gateway: { msgPerSec: 90 }, relay: { msgPerSec: 101 } },
      'qos1-1to1': { direct: { msgPerSec: 100 }, gateway: { msgPerSec: 103 } },
      'fanin-20to1': { direct: { msgPerSec: 100 }, gateway: { msgPerSec: 116 } }
    }
    const latency = target(summary, 2)
    assert.match(latency.measured, /= 2\.00 × \(TCP relay: 1\.80 ×\)$/)
    assert.equal(latency.pass, false)
    const large = target(summary, 3)
    assert.equal(large.measured, '53.0 % (TCP relay: 60.0 %)')
    assert.equal(large.pass, false)
    const throughput = target(summary, 5)
    assert.equal(throughput.measured, 'qos0-1to1 0.90 × (TCP relay: 1.01 ×), qos1-1to1 1.03 ×, fanin-20to1 1.16 ×')
    assert.equal(throughput.pass, false, 'the relay passing does not pass the gateway')
    assert.equal(target({ 'large-64k': { direct: { mbPerSec: 1000 }, gateway: { mbPerSec: 700 } } }, 3).measured, '70.0 %')
  })

  test('4: memory is judged on the 9,900 when they ran, else on the 2,000', () => {
    const many = { kbPerConn: 5.7, connPerSec: 3600, connectFailed: 0, disconnects: 0 }
    // A heap step spread over 2,000 connections does not fail it when the 9,900 show the true cost...
    assert.equal(target({ 'idle-2000': { gateway: { kbPerConn: 13.1, connPerSec: 3400 } }, 'idle-9900': { gateway: many } }, 4).pass, true)
    // ...but too much memory in the 9,900 does, whatever the 2,000 say.
    assert.equal(target({ 'idle-2000': { gateway: { kbPerConn: 2, connPerSec: 3400 } }, 'idle-9900': { gateway: { ...many, kbPerConn: 6.3 } } }, 4).pass, false)
    // The quick suite has only the 2,000.
    assert.equal(target({ 'idle-2000': { gateway: { kbPerConn: 6.3, connPerSec: 3400 } } }, 4).pass, false)
    assert.equal(target({ 'idle-2000': { gateway: { kbPerConn: 5.9, connPerSec: 3400 } } }, 4).pass, true)
    // The connect rate is still the 2,000's.
    assert.equal(target({ 'idle-2000': { gateway: { kbPerConn: 5, connPerSec: 2900 } }, 'idle-9900': { gateway: many } }, 4).pass, false)
  })

  test('4: a failed connect among the 9,900 fails it', () => {
    const idle2000 = { gateway: { kbPerConn: 5, connPerSec: 3500, serverCpuPerConn: 200 } }
    assert.equal(target({ 'idle-2000': idle2000 }, 4).pass, true)
    const failing = target({ 'idle-2000': idle2000, 'idle-9900': { gateway: { kbPerConn: 6.2, connPerSec: 1500, connectFailed: 3, disconnects: 0 } } }, 4)
    assert.equal(failing.pass, false)
    assert.match(failing.measured, /9,900: 6\.20 KB, 1,500 conn\/s, 3 failed, 0 disconnects/)
  })
})

describe('suite report', () => {
  const base: SuiteResults = {
    version: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    quick: true,
    machine: { cpus: 2, cpuModel: 'test', node: 'v20', platform: 'linux x64' },
    broker: 'mosquitto',
    gatewayArgs: ['--port', '0'],
    reflector: { url: 'mqtt://127.0.0.1:1', gatewayArgs: ['--upstream', 'mqtt://127.0.0.1:1'] },
    scenarios: suiteScenarios(true).filter(s => s.id === 'qos0-1to1' || s.id === 'qos0-1to1-w20k'),
    runs: [],
    summary: {},
    targets: []
  }

  test('reflector targets get their own table, with their own ratios', () => {
    const md = suiteMarkdown({
      ...base,
      summary: {
        'qos0-1to1': { direct: { msgPerSec: 100 }, gateway: { msgPerSec: 110 } },
        'qos0-1to1-w20k': { direct: { msgPerSec: 100 }, gateway: { msgPerSec: 90 }, reflector: { msgPerSec: 2000 }, 'gateway-reflector': { msgPerSec: 1000 } }
      }
    })
    const [mosquitto, reflector] = md.split('## Against the reflector')
    assert.ok(mosquitto !== undefined && reflector !== undefined)
    assert.match(mosquitto, /\| 1\.10 ×/)
    assert.match(mosquitto, /window 20,000 .*\| 100 .*\| 90 .*\| 0\.90 ×/)
    assert.match(reflector, /window 20,000 .*\| 2,000 .*\| 1,000 .*\| 0\.50 ×/)
    assert.doesNotMatch(reflector, /window 500/)
  })

  test('the relay has its own columns in the Mosquitto table, explained once', () => {
    const md = suiteMarkdown({
      ...base,
      runs: [{ scenario: 'qos0-1to1', target: 'relay', run: 1, gatewayCpu: undefined, brokerCpu: undefined, backgroundCores: 0, result: undefined }],
      summary: { 'qos0-1to1': { direct: { msgPerSec: 100 }, gateway: { msgPerSec: 90 }, relay: { msgPerSec: 95 } } }
    })
    assert.match(md, /\| TCP relay \| relay \/ direct \|/)
    assert.match(md, /window 500 .*\| 100 .*\| 90 .*\| 0\.90 × .*\| 95 .*\| 0\.95 ×/)
    assert.match(md, /"TCP relay" is socat/)
    assert.doesNotMatch(suiteMarkdown(base), /"TCP relay" is socat/)
  })

  test('no reflector table when nothing ran against it', () => {
    const md = suiteMarkdown({ ...base, summary: { 'qos0-1to1': { direct: { msgPerSec: 100 } } } })
    assert.doesNotMatch(md, /Against the reflector/)
  })
})

describe('process CPU and system calls', { skip: !existsSync('/proc/self/io') }, () => {
  // A parent that forks a child which spins for 400 ms and exits: the parent
  // itself stays nearly idle, so only its child's time can reach 300 ms.
  const SPIN_MS = 400
  const parentScript = `
    const { spawn } = require('node:child_process')
    const child = spawn(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < ${SPIN_MS}) {}'], { stdio: 'inherit' })
    child.on('spawn', () => console.log(child.pid))
    child.on('exit', () => console.log('exited'))
    setTimeout(() => {}, 10_000)`

  test('counts a child while it runs and after the parent reaped it', async () => {
    const parent = spawn(process.execPath, ['-e', parentScript], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      const lines = createInterface({ input: parent.stdout })[Symbol.asyncIterator]()
      const childPid = Number((await lines.next()).value)
      assert.ok(childPid > 0)
      await new Promise(resolve => setTimeout(resolve, SPIN_MS / 2))
      const parentPid = parent.pid ?? 0
      const whileRunning = readCpuMicros(parentPid) ?? 0
      const childAlone = readCpuMicros(childPid) ?? 0
      assert.ok(whileRunning >= childAlone && childAlone > 0, `parent tree ${whileRunning} µs includes the running child's ${childAlone} µs`)
      assert.equal((await lines.next()).value, 'exited')
      const afterExit = readCpuMicros(parentPid) ?? 0
      assert.ok(afterExit >= 300_000, `the reaped child's ~${SPIN_MS} ms are counted: ${afterExit} µs`)
    } finally {
      parent.kill()
    }
  })
  test('counts the read and write system calls of a process and of the children it reaped', async () => {
    const WRITES = 2000
    const writer = `const fs = require('node:fs'); const fd = fs.openSync('/dev/null', 'w'); for (let i = 0; i < ${WRITES}; i++) fs.writeSync(fd, 'x')`
    const script = `
      const { spawn } = require('node:child_process')
      console.log('ready')
      process.stdin.once('data', () => spawn(process.execPath, ['-e', ${JSON.stringify(writer)}]).on('exit', () => console.log('exited')))
      setTimeout(() => {}, 10_000)`
    const parent = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] })
    try {
      const lines = createInterface({ input: parent.stdout })[Symbol.asyncIterator]()
      assert.equal((await lines.next()).value, 'ready')
      const before = readSyscalls(parent.pid ?? 0) ?? 0
      parent.stdin.write('go\n')
      assert.equal((await lines.next()).value, 'exited')
      const after = readSyscalls(parent.pid ?? 0) ?? 0
      assert.ok(after - before >= WRITES, `${after - before} calls include the child's ${WRITES} writes`)
      assert.ok(after - before < WRITES * 3, `${after - before} calls: the child's writes and its start-up, not more`)
    } finally {
      parent.kill()
    }
  })
})

describe('open files limit', { skip: !existsSync('/proc/self/limits') }, () => {
  test('reads the soft limit of this process', () => {
    const limit = readOpenFilesLimit('self')
    assert.ok(limit !== undefined && limit > 0)
  })
})

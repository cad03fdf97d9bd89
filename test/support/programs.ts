/**
 * External programs the interop suites need. A suite whose program is missing
 * is skipped with one line on stderr, except under CI=true: there it runs and
 * fails, so a CI machine without Mosquitto cannot pass green.
 */
import { accessSync, constants } from 'node:fs'
import { spawnSync } from 'node:child_process'

export const programs = {
  mosquitto: '/usr/sbin/mosquitto',
  mosquittoPasswd: '/usr/bin/mosquitto_passwd',
  // Debian's python3-paho-mqtt is visible only to the system interpreter, not
  // to a python3 that comes earlier on PATH (pyenv, venv).
  python: '/usr/bin/python3',
  chromium: '/usr/bin/chromium',
  nginx: '/usr/sbin/nginx',
  haproxy: '/usr/sbin/haproxy'
} as const

export function isExecutable (path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

function pahoImports (): boolean {
  if (!isExecutable(programs.python)) return false
  const result = spawnSync(programs.python, ['-c', 'import paho.mqtt.client'], { stdio: 'ignore', timeout: 10_000 })
  return result.status === 0
}

const checks = {
  mosquitto: () => isExecutable(programs.mosquitto),
  mosquittoPasswd: () => isExecutable(programs.mosquittoPasswd),
  paho: pahoImports,
  chromium: () => isExecutable(programs.chromium),
  nginx: () => isExecutable(programs.nginx),
  haproxy: () => isExecutable(programs.haproxy)
} as const

const descriptions: Record<keyof typeof checks, string> = {
  mosquitto: programs.mosquitto,
  mosquittoPasswd: programs.mosquittoPasswd,
  paho: `paho-mqtt for ${programs.python} (apt-get install python3-paho-mqtt)`,
  chromium: programs.chromium,
  nginx: programs.nginx,
  haproxy: programs.haproxy
}

/**
 * The `skip` option for a suite that needs `needs`: false when all are there
 * (or under CI=true), else a reason, printed once.
 */
export function skipUnlessAvailable (suite: string, ...needs: (keyof typeof checks)[]): string | false {
  if (process.env.CI === 'true') return false
  const missing = needs.filter((need) => !checks[need]()).map((need) => descriptions[need])
  if (missing.length === 0) return false
  const reason = `${suite}: skipped, missing ${missing.join(', ')}`
  console.error(reason)
  return reason
}

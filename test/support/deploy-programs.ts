/**
 * The programs the deployment checks run (HAProxy, nginx, systemd-analyze),
 * in the pattern of test/support/programs.ts: a missing one skips its suite
 * with one line, except under CI=true, where .ci/run installs them and the
 * suite must run.
 */
import { isExecutable } from './programs.js'

export const deployPrograms = {
  haproxy: '/usr/sbin/haproxy',
  nginx: '/usr/sbin/nginx',
  systemdAnalyze: '/usr/bin/systemd-analyze'
} as const

/** The `skip` option for a suite that needs `program`: false when it is there (or under CI=true), else a reason. */
export function skipUnlessInstalled (suite: string, program: keyof typeof deployPrograms): string | false {
  if (process.env.CI === 'true' || isExecutable(deployPrograms[program])) return false
  const reason = `${suite}: skipped, missing ${deployPrograms[program]}`
  console.error(reason)
  return reason
}

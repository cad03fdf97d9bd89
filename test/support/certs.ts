/**
 * A throwaway certificate authority for TLS tests, made with openssl.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestPki {
  dir: string
  ca: string
  /** Issues a certificate for `cn` (with localhost and 127.0.0.1 as alt names); returns [cert, key] paths. */
  issue: (cn: string, name?: string) => [string, string]
  remove: () => void
}

function openssl (args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe', timeout: 20_000 })
}

export function createPki (): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'mwg-pki-'))
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=mwg test CA', '-keyout', 'ca.key', '-out', 'ca.pem'], dir)
  let serial = 1
  const issue = (cn: string, name = cn): [string, string] => {
    writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${cn}`,
      '-keyout', `${name}.key`, '-out', `${name}.csr`], dir)
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++),
      '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir)
    return [join(dir, `${name}.pem`), join(dir, `${name}.key`)]
  }
  return { dir, ca: join(dir, 'ca.pem'), issue, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

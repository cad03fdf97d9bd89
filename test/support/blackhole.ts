/**
 * A broker address that never accepts: a listener whose backlog is full, so
 * the kernel drops further SYNs and a connect() to it hangs (neither refused
 * nor accepted) until the caller's own timeout.
 *
 * Node's net.Server accepts every connection at once, so its backlog never
 * fills; a Python listener that never calls accept() does the job.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { programs } from './programs.js'
import { withTimeout } from './wait.js'

const SCRIPT = [
  'import socket, time',
  's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
  'port = s.getsockname()[1]',
  'fill = [socket.socket() for _ in range(4)]',
  '[c.setblocking(False) for c in fill]',
  '[c.connect_ex(("127.0.0.1", port)) for c in fill]',
  'print(port, flush=True); time.sleep(20)'
].join('\n')

/** Starts the listener; returns its port. It is killed after the test (and exits by itself after 20 s). */
export async function blackhole (t: { after: (fn: () => void) => void }): Promise<number> {
  const child = spawn(programs.python, ['-c', SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => { child.kill('SIGKILL') })
  const failed = new Promise<never>((_resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`blackhole listener exited with ${code}`)))
  })
  failed.catch(() => {}) // once the port is read, a later exit is the after-hook's kill
  const [line] = await withTimeout(Promise.race([once(child.stdout, 'data'), failed]), 5000, 'the blackhole listener') as [Buffer]
  const port = Number(line.toString().trim())
  if (!Number.isInteger(port) || port <= 0) throw new Error(`blackhole listener printed ${JSON.stringify(line.toString())}`)
  return port
}

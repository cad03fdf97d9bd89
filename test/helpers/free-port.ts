/** Ephemeral loopback ports for programs that must be told a port number (Mosquitto). */
import net from 'node:net'

/**
 * Asks the kernel for a free port by listening on port 0, then releases it.
 * The port can in principle be taken by someone else before the caller binds
 * it; on a test machine that race is rare enough, and no fixed port is better.
 */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, resolve)
  })
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('listening socket has no port')
  return address.port
}

/** Loopback ports for programs that must be told a port number (Mosquitto, the admin listener). */
import net from 'node:net'
import { readFileSync } from 'node:fs'

/**
 * A free port below the kernel's ephemeral range. A port the kernel hands
 * out for listen(0) comes from the same range as the local ports of every
 * outgoing connection, and the tests make thousands: one of them could take
 * it between our check and the caller's bind (seen: "address already in use"
 * in CI-like runs). Below that range only another listener can collide,
 * and the random pick makes that rare; the check makes it safe at the time.
 */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  const [low] = ephemeralRange()
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000))
    if (await canListen(port, host)) return port
  }
  throw new Error('no free port found below the ephemeral range')
}

function ephemeralRange (): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    if (low !== undefined && high !== undefined && low > 11_000) return [low, high]
  } catch {
    // Not Linux: the usual range.
  }
  return [32_768, 60_999]
}

function canListen (port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen(port, host, () => server.close(() => resolve(true)))
  })
}

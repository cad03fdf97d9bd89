/**
 * A WebSocket client that never reads, with a tiny receive buffer, as an
 * attacker (or a frozen device) would be: what the gateway sends it then
 * piles up in the gateway, not in the kernel. It sends its first packets
 * (a CONNECT, a SUBSCRIBE), then pings: as fast as it can (a flood), or
 * slowly (a frozen subscriber that only shows whether it was dropped).
 * Node cannot set SO_RCVBUF, so it is a Python child; it stops by itself
 * after `ms` or when the gateway drops it.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { programs } from './programs.js'

const SCRIPT = String.raw`
import os, socket, sys, time
host, port, path, ms, first, per_send, gap = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), bytes.fromhex(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]) / 1e6
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect((host, port))
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Protocol: mqtt\r\n\r\n" % path).encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
if b" 101 " not in head.split(b"\r\n")[0]:
    print("refused", head.split(b"\r\n")[0].decode(), flush=True); sys.exit(1)
mask = b"\x01\x02\x03\x04"
if first:
    s.sendall(b"\x82" + bytes([0x80 | len(first)]) + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(first)))
payload = bytes(b ^ mask[i & 3] for i, b in enumerate(bytes([7]) * 125))
burst = (b"\x89\xfd" + mask + payload) * per_send
s.settimeout(0.2)
start = time.monotonic(); sent = 0; outcome = "deadline"
while (time.monotonic() - start) * 1000 < ms:
    if gap >= 0.001:
        time.sleep(gap)
    elif gap > 0:
        until = time.perf_counter() + gap
        while time.perf_counter() < until:
            pass
    try:
        sent += s.send(burst)
    except socket.timeout:
        continue
    except OSError as e:
        outcome = "dropped"; break
print("result %s %d %d" % (outcome, sent // 131, int((time.monotonic() - start) * 1000)), flush=True)
`

export interface FloodResult {
  /** 'dropped' when the gateway ended the connection, 'deadline' when the flood ran its course. */
  outcome: 'dropped' | 'deadline'
  pingsSent: number
  elapsedMs: number
}

export interface FloodOptions {
  /** Stop after this long, if the gateway has not dropped the flooder. */
  ms: number
  /** MQTT bytes under 126 sent first, as one message (a CONNECT and a SUBSCRIBE), or nothing. */
  first: Buffer
  /**
   * Pings per send() call: many make a CPU-bound flood the gateway reads in
   * large chunks; one at a time, `gapMicros` apart, makes it read (and
   * answer) each ping on its own.
   */
  pingsPerSend: number
  /** Pause between sends, in microseconds (busy-waited under 1 ms: sleep is too coarse). */
  gapMicros: number
}

/** Floods `url` with pings; `onTick` runs every 50 ms meanwhile (to sample memory). */
export async function floodPings (url: string, options: FloodOptions, onTick: () => void): Promise<FloodResult> {
  const target = new URL(url)
  const args = ['-c', SCRIPT, target.hostname, target.port, target.pathname, String(options.ms), options.first.toString('hex'), String(options.pingsPerSend), String(options.gapMicros)]
  const child = spawn(programs.python, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  const timer = setInterval(onTick, 50)
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (text: string) => { out += text })
  try {
    await once(child, 'exit')
  } finally {
    clearInterval(timer)
  }
  const match = /result (\w+) (\d+) (\d+)/.exec(out)
  if (match === null) throw new Error(`ping flooder failed: ${out.trim()}`)
  return { outcome: match[1] as FloodResult['outcome'], pingsSent: Number(match[2]), elapsedMs: Number(match[3]) }
}

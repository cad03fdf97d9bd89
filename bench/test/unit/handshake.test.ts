/**
 * The load tool's own WebSocket handshake on plain sockets (upgradeOver):
 * it must accept a correct 101 split over any number of reads, keep the
 * bytes that follow it, and refuse what a server must not answer.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import { describe, test } from 'node:test'
import type { Target } from '../../src/target.js'
import { acceptFor, upgradeOver } from '../../src/ws-handshake.js'

/** A server that answers the upgrade request with `answer(key)`, written in `pieces`. */
async function serve (answer: (key: string) => Buffer, pieces = 1): Promise<{ target: Target, close: () => void }> {
  const server = net.createServer((socket) => {
    let got = ''
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1')
      if (!got.includes('\r\n\r\n')) return
      const key = /sec-websocket-key: (\S+)/i.exec(got)?.[1] ?? ''
      const bytes = answer(key)
      const step = Math.ceil(bytes.length / pieces)
      let at = 0
      const next = (): void => {
        if (at >= bytes.length) return
        socket.write(bytes.subarray(at, at + step))
        at += step
        setTimeout(next, 5)
      }
      next()
    })
    socket.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  const target = { url: `ws://127.0.0.1:${port}/mqtt`, host: '127.0.0.1', port, path: '/mqtt', websocket: true, secure: false, insecure: false } as unknown as Target
  return { target, close: () => server.close() }
}

/** Connects and runs upgradeOver with 'data' events standing in for onread. */
async function handshake (target: Target): Promise<Buffer> {
  const socket = net.connect({ host: target.host, port: target.port })
  await once(socket, 'connect')
  try {
    return await upgradeOver(socket, target, 2000, (receive) => {
      socket.removeAllListeners('data')
      if (receive !== undefined) socket.on('data', receive)
    })
  } finally {
    socket.destroy()
  }
}

const ok = (key: string, extra = ''): Buffer => Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  `Sec-WebSocket-Accept: ${acceptFor(key)}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n${extra}`, 'latin1')

describe('upgradeOver', () => {
  test('accepts a 101 split over many reads and returns the bytes after it', async (t) => {
    const { target, close } = await serve((key) => ok(key, '\x82\x02\x20\x02'), 7)
    t.after(close)
    const head = await handshake(target)
    assert.deepEqual([...head], [0x82, 0x02, 0x20, 0x02])
  })

  test('refuses another status, naming it', async (t) => {
    const { target, close } = await serve(() => Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'))
    t.after(close)
    await assert.rejects(handshake(target), /HTTP 404 instead of 101/)
  })

  test('refuses a wrong Sec-WebSocket-Accept and a missing subprotocol', async (t) => {
    const wrong = await serve(() => ok('AAAAAAAAAAAAAAAAAAAAAA=='))
    t.after(wrong.close)
    await assert.rejects(handshake(wrong.target), /Sec-WebSocket-Accept/)
    const noProtocol = await serve((key) => Buffer.from(ok(key).toString('latin1').replace('Sec-WebSocket-Protocol: mqtt\r\n', ''), 'latin1'))
    t.after(noProtocol.close)
    await assert.rejects(handshake(noProtocol.target), /subprotocol/)
  })
})

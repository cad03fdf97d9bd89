/**
 * The 101 answer the gateway writes itself: the accept key of RFC 6455's
 * own example, and the answer checked by a real WebSocket client (ws).
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocket } from 'ws'
import { acceptKey, switchProtocols } from '../../../src/server/handshake.js'

describe('handshake', () => {
  // [RFC 6455 §1.3] "dGhlIHNhbXBsZSBub25jZQ==" → "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
  test('the accept key of the RFC\'s example', () => {
    assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
  })

  test('ws (a strict client) accepts the 101, with and without a subprotocol', async (t) => {
    const server = http.createServer()
    server.on('upgrade', (req, socket) => {
      const offered = req.headers['sec-websocket-protocol']
      switchProtocols(socket as Socket, req.headers['sec-websocket-key'] as string, offered === undefined ? undefined : 'mqtt')
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    t.after(() => { server.closeAllConnections(); server.close() })
    const { port } = server.address() as AddressInfo
    for (const protocols of [['mqtt'], []]) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols)
      await once(ws, 'open')
      assert.equal(ws.protocol, protocols[0] ?? '')
      assert.equal(ws.extensions, '')
      ws.terminate()
    }
  })
})

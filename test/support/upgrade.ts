/**
 * Raw WebSocket views of the gateway, below any MQTT client library: the HTTP
 * status of an upgrade, and the close frame a connection ends with.
 */
import { once } from 'node:events'
import { generate } from 'mqtt-packet'
import WebSocket from 'ws'
import type { MqttVersion } from './client.js'
import { withTimeout } from './wait.js'

const TIMEOUT = 5000

/**
 * Tries a WebSocket upgrade offering subprotocol "mqtt": resolves with 101
 * when it was accepted (the socket is then closed at once), otherwise with
 * the HTTP status of the refusal.
 */
export async function upgradeStatus (url: string): Promise<number> {
  const ws = new WebSocket(url, ['mqtt'])
  const status = new Promise<number>((resolve, reject) => {
    ws.once('open', () => resolve(101))
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      res.resume()
    })
    ws.once('error', reject)
  })
  try {
    return await withTimeout(status, TIMEOUT, `upgrade to ${url}`)
  } finally {
    ws.on('error', () => {}) // an abort after 'unexpected-response' may still report one
    ws.terminate()
  }
}

export interface RawMqttConnection {
  readonly ws: WebSocket
  /** Resolves with the close code the connection ended with (1006: no close frame came). */
  readonly closed: Promise<number>
}

/** Opens a WebSocket, sends CONNECT and waits for the broker's first message (CONNACK). */
export async function rawMqttConnect (url: string, clientId: string, version: MqttVersion = 4): Promise<RawMqttConnection> {
  const ws = new WebSocket(url, ['mqtt'])
  ws.on('error', () => {}) // the close code tells the story
  const closed = once(ws, 'close').then(([code]) => code as number)
  await withTimeout(once(ws, 'open'), TIMEOUT, 'raw WebSocket open')
  ws.send(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId, clean: true, keepalive: 60 }))
  await withTimeout(once(ws, 'message'), TIMEOUT, 'CONNACK on the raw WebSocket')
  return { ws, closed }
}

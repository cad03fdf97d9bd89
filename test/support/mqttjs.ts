/** MQTT.js over WebSocket in Node, as a `ClientDriver`. */
import mqtt from 'mqtt'
import type { IClientOptions, MqttClient } from 'mqtt'
import { ConnackError, Inbox, LossCounter } from './client.js'
import type { ClientDriver, ConnectOptions, QoS, TestClient } from './client.js'
import { withTimeout } from './wait.js'

const CONNECT_TIMEOUT = 5000

export function clientOptions (options: ConnectOptions): IClientOptions {
  return {
    protocolVersion: options.version,
    clientId: options.clientId,
    clean: options.clean ?? true,
    keepalive: options.keepalive ?? 60,
    reconnectPeriod: 0,
    connectTimeout: CONNECT_TIMEOUT,
    username: options.username,
    password: options.password,
    will: options.will
  }
}

/** The code of an MQTT.js CONNACK refusal, if `err` is one. */
function connackCode (err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code
  return typeof code === 'number' ? code : undefined
}

/** Resolves on CONNACK success; rejects with ConnackError on a refusal, or the transport error. */
async function connected (client: MqttClient): Promise<boolean> {
  const outcome = new Promise<boolean>((resolve, reject) => {
    client.once('connect', (connack) => resolve(connack.sessionPresent))
    client.once('error', (err) => {
      const code = connackCode(err)
      reject(code === undefined ? err : new ConnackError(code, err.message))
    })
    client.once('close', () => reject(new Error('connection closed before CONNACK')))
  })
  return await withTimeout(outcome, CONNECT_TIMEOUT + 1000, 'MQTT.js connect')
}

function wrap (client: MqttClient, sessionPresent: boolean, inbox: Inbox, losses: LossCounter): TestClient {
  return {
    sessionPresent,
    get connectionLosses () { return losses.losses },
    get pending () { return inbox.size },
    subscribe: async (topic: string, qos: QoS) => {
      const granted = await client.subscribeAsync(topic, { qos })
      return granted.map((grant) => grant.qos)
    },
    publish: async (topic: string, payload: Buffer, qos: QoS, retain = false) => {
      await client.publishAsync(topic, payload, { qos, retain })
    },
    take: async (count, timeoutMs) => await inbox.take(count, timeoutMs),
    disconnect: async () => {
      losses.expectEnd()
      await client.endAsync()
    },
    kill: async () => {
      losses.expectEnd()
      // The socket dies with no DISCONNECT and no WebSocket close frame.
      client.stream.destroy()
      await client.endAsync(true)
    },
    close: async () => {
      losses.expectEnd()
      await client.endAsync(true)
    }
  }
}

export async function connectMqttjs (options: ConnectOptions): Promise<TestClient> {
  const client = mqtt.connect(options.url, clientOptions(options))
  const inbox = new Inbox()
  const losses = new LossCounter()
  client.on('message', (topic, payload, packet) => inbox.push({ topic, payload, qos: packet.qos, retain: packet.retain }))
  client.on('error', () => {}) // outcomes are read from 'connect'/'close'; keep 'error' from throwing
  client.on('close', () => losses.ended())
  try {
    return wrap(client, await connected(client), inbox, losses)
  } catch (err) {
    losses.expectEnd()
    await client.endAsync(true)
    throw err
  }
}

export const mqttjsDriver: ClientDriver = {
  name: 'MQTT.js (Node)',
  versions: [4, 5],
  connect: connectMqttjs
}

/**
 * The embedded broker: Aedes in this process, so `npm start` works alone.
 *
 * WebSocket clients reach it through an in-process stream pair (no TCP hop);
 * plain MQTT clients may use its own TCP listener. Aedes's defaults are not
 * safe for a public endpoint, so every limit is set here explicitly.
 * It keeps sessions, retained messages and subscriptions in memory only;
 * the queues of persistent sessions are ours (session-queue.ts), so that
 * QoS 1 and 2 keep their guarantees across a reconnect.
 */
import net from 'node:net'
import { once } from 'node:events'
import { Aedes } from 'aedes'
import type { Client, ConnectPacket } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { EmptyClientIdError, Mqtt5UnsupportedError } from '../errors.js'
import type { ResolvedOptions } from '../options.js'
import { duplexPair } from './duplex-pair.js'
import { SessionQueuePersistence } from './session-queue.js'
import type { Upstream, UpstreamLink } from './upstream.js'

/** [MQTT-3.2.2-6] MQTT 5 CONNACK reason 0x84: Unsupported Protocol Version. */
const UNSUPPORTED_PROTOCOL_VERSION = 0x84
/** MQTT 3.1.1 CONNACK return code 2: Identifier rejected. */
const IDENTIFIER_REJECTED = 2

/**
 * Refuses the CONNECTs Aedes 1.x gets wrong, in the words the spec gives:
 * - MQTT 5: Aedes speaks 3.1 and 3.1.1 only and answers with a 3.1.1
 *   CONNACK (return code 1), which MQTT 5 clients report as an unknown or
 *   legacy code. Answer in their own version: CONNACK 0x84.
 * - An empty client id with clean session 0: Aedes accepts it with a random
 *   id, a "persistent" session nobody can resume. [MQTT-3.1.3-8] CONNACK 2.
 * Aedes then closes the connection (the hook's refusal).
 */
function refuseWhatAedesAccepts (client: Client, packet: ConnectPacket, done: (error: Error | null, success: boolean) => void): void {
  if (packet.protocolVersion === 5) {
    client.conn.write(mqttPacket.generate({ cmd: 'connack', reasonCode: UNSUPPORTED_PROTOCOL_VERSION, sessionPresent: false }, { protocolVersion: 5 }))
    done(new Mqtt5UnsupportedError(), false)
    return
  }
  if (packet.clean === false && (packet.clientId ?? '') === '') {
    client.conn.write(mqttPacket.generate({ cmd: 'connack', returnCode: IDENTIFIER_REJECTED, sessionPresent: false }))
    done(new EmptyClientIdError(), false)
    return
  }
  done(null, true)
}

/** The embedded broker's Aedes, with our limits and our session queues (exported for its regression tests). */
export async function createEmbeddedAedes (options: ResolvedOptions): Promise<Aedes> {
  const persistence = new SessionQueuePersistence(options.brokerMaxQueued)
  const broker = await Aedes.createBroker({
    persistence,
    preConnect: refuseWhatAedesAccepts,
    authenticate: persistence.authenticate,
    authorizeForward: persistence.authorizeForward,
    // One frozen subscriber must not stall delivery to everyone else.
    drainTimeout: options.drainTimeout,
    queueLimit: options.brokerQueueLimit,
    keepaliveLimit: options.brokerKeepaliveLimit,
    connectTimeout: options.firstPacketTimeout,
    // MQTT 3.1.1 and 5 allow 65535-byte client ids; 23 is only 3.1's floor.
    maxClientsIdLength: 256
  })
  broker.on('clientDisconnect', (client) => persistence.clientGone(client))
  return broker
}

export class EmbeddedBroker implements Upstream {
  readonly description = 'embedded'
  private readonly broker: Aedes
  private tcpServer: net.Server | undefined
  private readonly tcpSockets = new Set<net.Socket>()
  /** What the broker may write ahead of a slow WebSocket client before that client is dropped. */
  private readonly maxUnread: number

  private constructor (broker: Aedes, options: ResolvedOptions) {
    this.broker = broker
    // Room for the bridge to pause the broker side (its high-water mark) and
    // for what the broker wrote meanwhile, a whole packet included.
    this.maxUnread = 2 * options.highWaterMark + options.maxMessageSize
  }

  static async start (options: ResolvedOptions): Promise<EmbeddedBroker> {
    return new EmbeddedBroker(await createEmbeddedAedes(options), options)
  }

  /** Starts the plain MQTT TCP listener; resolves to its bound address. */
  async listenTcp (port: number, host: string): Promise<net.AddressInfo> {
    const server = net.createServer({ noDelay: true }, (socket) => {
      socket.on('error', () => {}) // Aedes reports connection errors itself
      this.tcpSockets.add(socket)
      socket.once('close', () => this.tcpSockets.delete(socket))
      this.broker.handle(socket)
    })
    this.tcpServer = server
    server.listen(port, host)
    await once(server, 'listening')
    return server.address() as net.AddressInfo
  }

  /**
   * One in-process connection to Aedes. Aedes never waits for a slow
   * WebSocket client (its delivery to every other subscriber would wait
   * too): the bridge holds what it cannot send yet, up to `maxUnread`, then
   * drops that client. Aedes meets the connection with its CONNECT: a
   * socket that never sends one costs the broker nothing, and only the
   * gateway's own deadline answers it.
   */
  async connect (): Promise<UpstreamLink> {
    const [ours, theirs] = duplexPair({
      unbounded: { maxUnread: this.maxUnread },
      onFirstWrite: () => this.broker.handle(theirs)
    })
    return { stream: ours, connectMs: 0, broker: 'embedded' }
  }

  async close (): Promise<void> {
    const server = this.tcpServer
    if (server !== undefined) {
      server.close()
      for (const socket of this.tcpSockets) socket.destroy()
    }
    await new Promise<void>((resolve) => this.broker.close(() => resolve()))
  }
}

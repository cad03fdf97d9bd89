/**
 * What the primary and its workers tell each other over the cluster's IPC
 * channel (next to prom-client's own metrics requests, which share it).
 */

/**
 * Environment variable carrying the primary's resolved options, as JSON, to
 * each worker: a replacement worker runs exactly what the first ones ran,
 * even if the config file changed since. Outside the MQTT_WS_GATEWAY_ prefix,
 * which is reserved for options.
 */
export const WORKER_OPTIONS_ENV = 'MWG_CLUSTER_WORKER_OPTIONS'

/** Worker → primary: the gateway listens (the port is the primary's shared handle). */
export interface ListeningMessage {
  type: 'mqtt-ws-gateway:listening'
  url: string
  upstream: string
}

/**
 * Worker → primary: the gateway could not start (a port taken, a file
 * unreadable). The worker prints nothing: the primary prints this line once
 * for the whole cluster, and exits with this code.
 */
export interface FailedMessage {
  type: 'mqtt-ws-gateway:failed'
  line: string
  exitCode: number
}

// Primary → worker needs no message: a signal (SIGTERM, SIGHUP) reaches a
// worker even before its IPC listener exists, and one pressed on a terminal
// reaches the whole process group anyway.

export type ClusterMessage = ListeningMessage | FailedMessage

export function isClusterMessage<T extends ClusterMessage['type']> (message: unknown, type: T): message is Extract<ClusterMessage, { type: T }> {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type
}

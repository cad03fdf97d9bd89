/**
 * What the data path writes to, whatever it is: a TCP socket, an
 * in-process stream to the embedded broker, or a WebSocket channel. It can
 * be corked for a turn, says how much waits in it, and emits 'drain' once
 * that has gone down after being high.
 */
import type { EventEmitter } from 'node:events'

export interface WriteSink extends EventEmitter {
  cork (): void
  uncork (): void
  readonly writableLength: number
}

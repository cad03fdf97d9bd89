/**
 * Live bridges by MQTT client id, for takeover.
 *
 * A broker lets one connection per client id live [MQTT-3.1.4-3]. When a
 * client reconnects through the gateway before its old connection is gone,
 * the gateway must end the old bridge itself, both sockets, before the new
 * CONNECT reaches the broker; otherwise the broker sees the id twice (the
 * "zombie connection" of the seed article).
 */

export interface TakeoverTarget {
  readonly connectionId: number
  /** Ends this bridge at once because `clientId` connected again. */
  takeOver (): void
}

export class ClientRegistry {
  private readonly live = new Map<string, TakeoverTarget>()

  /** Registers `bridge` for `clientId`; returns the bridge it displaces, if any. */
  claim (clientId: string, bridge: TakeoverTarget): TakeoverTarget | undefined {
    const previous = this.live.get(clientId)
    this.live.set(clientId, bridge)
    return previous === bridge ? undefined : previous
  }

  /** Forgets `bridge`, unless a newer bridge already holds the id. */
  release (clientId: string, bridge: TakeoverTarget): void {
    if (this.live.get(clientId) === bridge) this.live.delete(clientId)
  }

  get size (): number {
    return this.live.size
  }
}

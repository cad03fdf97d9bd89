/**
 * Several upstream brokers behind one gateway: `failover` (the first that
 * accepts, in the order given) or `round-robin` (spread new connections).
 *
 * A broker that refuses or times out is skipped for a back-off period, so
 * clients do not each wait for a dead node; when every broker is backing
 * off, all are tried again rather than refusing the client. The admin
 * listener's periodic probe goes through `connect()` too, so readiness means
 * "at least one broker accepts".
 */
import type { ClientEndpoint } from './proxy-protocol.js'
import { UpstreamConnectError } from './upstream.js'
import type { Upstream, UpstreamLink } from './upstream.js'

export type UpstreamStrategy = 'failover' | 'round-robin'

interface Member {
  upstream: Upstream
  /** performance.now() until which this broker is skipped. */
  downUntil: number
}

export class UpstreamPool implements Upstream {
  readonly description: string
  private readonly members: Member[]
  private readonly strategy: UpstreamStrategy
  private readonly backoffMs: number
  private next = 0

  constructor (upstreams: Upstream[], strategy: UpstreamStrategy, backoffMs: number) {
    this.members = upstreams.map((upstream) => ({ upstream, downUntil: 0 }))
    this.strategy = strategy
    this.backoffMs = backoffMs
    this.description = `${upstreams.map((u) => u.description).join(', ')} (${strategy})`
  }

  async connect (signal: AbortSignal, client?: ClientEndpoint): Promise<UpstreamLink> {
    let lastError: unknown = new UpstreamConnectError('upstream_unreachable', 'no upstream broker')
    for (const member of this.order()) {
      try {
        const link = await member.upstream.connect(signal, client)
        member.downUntil = 0
        return link
      } catch (err) {
        if (signal.aborted) throw err
        member.downUntil = performance.now() + this.backoffMs
        lastError = err
      }
    }
    throw lastError
  }

  /** Healthy members first (in strategy order), then those backing off. */
  private order (): Member[] {
    const start = this.strategy === 'round-robin' ? this.next++ % this.members.length : 0
    const rotated = [...this.members.slice(start), ...this.members.slice(0, start)]
    const now = performance.now()
    return [...rotated.filter((m) => m.downUntil <= now), ...rotated.filter((m) => m.downUntil > now)]
  }

  async close (): Promise<void> {
    await Promise.all(this.members.map((m) => m.upstream.close()))
  }
}

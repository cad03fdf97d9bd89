/**
 * Several upstream brokers behind one gateway: `failover` (the first that
 * accepts, in the order given), `round-robin` (spread new connections), or
 * `hash` (by MQTT client id, so a reconnecting client finds its session on
 * the same broker node).
 *
 * `hash` is rendezvous hashing: each broker scores `hash(url, client id)`
 * and the highest score wins. Every gateway process and every restart agrees
 * on the choice without sharing state (it does not depend on the order of
 * `--upstream`), and when a broker is down only its own clients move, each
 * to its next-highest broker, and come back when it returns.
 *
 * A broker that refuses or times out is skipped for a back-off period, so
 * clients do not each wait for a dead node; when every broker is backing
 * off, all are tried again rather than refusing the client. The admin
 * listener's periodic probe goes through `connect()` too, so readiness means
 * "at least one broker accepts".
 */
import { createHash } from 'node:crypto'
import type { ClientEndpoint } from '../proxy-protocol/write.js'
import { UpstreamConnectError } from '../errors.js'
import type { Upstream, UpstreamLink } from './upstream.js'

export type UpstreamStrategy = 'failover' | 'round-robin' | 'hash'

interface Member {
  upstream: Upstream
  /** performance.now() until which this broker is skipped. */
  downUntil: number
}

export class UpstreamPool implements Upstream {
  readonly description: string
  readonly routesByClientId: boolean
  private readonly members: Member[]
  private readonly strategy: UpstreamStrategy
  private readonly backoffMs: number
  private next = 0

  constructor (upstreams: Upstream[], strategy: UpstreamStrategy, backoffMs: number) {
    this.members = upstreams.map((upstream) => ({ upstream, downUntil: 0 }))
    this.strategy = strategy
    this.backoffMs = backoffMs
    this.routesByClientId = strategy === 'hash'
    this.description = `${upstreams.map((u) => u.description).join(', ')} (${strategy})`
  }

  async connect (signal: AbortSignal, client?: ClientEndpoint, clientId?: string): Promise<UpstreamLink> {
    let lastError: unknown = new UpstreamConnectError('upstream_unreachable', 'no upstream broker')
    for (const member of this.order(clientId)) {
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
  private order (clientId: string | undefined): Member[] {
    const ranked = this.rank(clientId)
    const now = performance.now()
    return [...ranked.filter((m) => m.downUntil <= now), ...ranked.filter((m) => m.downUntil > now)]
  }

  private rank (clientId: string | undefined): Member[] {
    // An empty client id has no session to find again (the broker assigns
    // one), and health probes have none: spread those instead.
    if (this.strategy === 'hash' && clientId !== undefined && clientId !== '') {
      return this.members
        .map((member) => ({ member, score: rendezvousScore(member.upstream.description, clientId) }))
        .sort((a, b) => b.score - a.score)
        .map(({ member }) => member)
    }
    const start = this.strategy === 'failover' ? 0 : this.next++ % this.members.length
    return [...this.members.slice(start), ...this.members.slice(0, start)]
  }

  async close (): Promise<void> {
    await Promise.all(this.members.map((m) => m.upstream.close()))
  }
}

/** A stable 48-bit score of (broker, client id), the same in every process. */
function rendezvousScore (broker: string, clientId: string): number {
  return createHash('sha256').update(broker).update('\0').update(clientId).digest().readUIntBE(0, 6)
}

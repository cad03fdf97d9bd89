/**
 * A connection's life as one explicit state machine.
 *
 *   awaiting_connect ──connect──────────────▶ awaiting_connack ──connack──▶ open
 *          │  └─connect_deferred─▶ connecting_broker ─broker_connected─┘       │
 *          │                                                                   │
 *   (every state above) ──shutdown──▶ draining ──close──▶ closing ──sockets_closed──▶ closed
 *   (every state above, draining too) ─────────close──────▶ closing
 *
 * `draining` is the gateway's own shutdown: its close frame is out and the
 * client's bytes still flow to the broker until the client answers, so
 * nothing it published before it saw the close is lost. While draining, the
 * CONNECT and CONNACK still happen (the CONNECT is still forwarded), but
 * they no longer change the state: nothing more is sent to the client.
 *
 * Pure: no sockets, no timers. The bridge feeds it events and asks it what
 * is allowed; test/unit/bridge/lifecycle.test.ts walks every transition.
 * The close is recorded here too (who closed first, why, with which code):
 * the first close wins, whatever happens after.
 */
import { closeReasons } from '../errors.js'
import type { CloseInitiator, CloseReason } from '../errors.js'

export type Phase =
  /** The 101 is out; the client's CONNECT is not complete yet. */
  | 'awaiting_connect'
  /** The CONNECT is in; the broker chosen by its client id is being connected. */
  | 'connecting_broker'
  /** The CONNECT went to the broker, which has not answered yet. */
  | 'awaiting_connack'
  /** CONNACK passed on: bytes flow both ways. */
  | 'open'
  /** Gateway shutdown: our close frame is out, client bytes still go up until its answer. */
  | 'draining'
  /** The close began (who and why are recorded); waiting for both sockets to close. */
  | 'closing'
  | 'closed'

export type LifecycleEvent =
  | 'connect'
  | 'connect_deferred'
  | 'broker_connected'
  | 'connack'
  | 'shutdown'
  | 'close'
  | 'sockets_closed'

const live = { shutdown: 'draining', close: 'closing' } as const

const transitions: { readonly [P in Phase]: Partial<Record<LifecycleEvent, Phase>> } = {
  awaiting_connect: { connect: 'awaiting_connack', connect_deferred: 'connecting_broker', ...live },
  connecting_broker: { broker_connected: 'awaiting_connack', ...live },
  awaiting_connack: { connack: 'open', ...live },
  open: { ...live },
  draining: { connect: 'draining', connect_deferred: 'draining', broker_connected: 'draining', connack: 'draining', close: 'closing' },
  closing: { sockets_closed: 'closed' },
  closed: {}
}

/** The state after `event` in `phase`, or undefined when the event is not allowed there. */
export function nextPhase (phase: Phase, event: LifecycleEvent): Phase | undefined {
  return transitions[phase][event]
}

/** Why a connection ended, as its close log line and metrics say it. */
export interface CloseRecord {
  reason: CloseReason
  initiator: CloseInitiator
  /** The close code sent to the client (or received from it when it closed first). */
  code: number | undefined
  detail: string | undefined
}

/** The record of every connection not closing yet: one object for all of them. */
const NOT_CLOSED: Readonly<CloseRecord> = Object.freeze({ reason: 'shutdown', initiator: 'gateway', code: undefined, detail: undefined })

export class Lifecycle {
  phase: Phase = 'awaiting_connect'
  /** Set by `close()`; a connection that ends otherwise (never) would say shutdown. */
  record: Readonly<CloseRecord> = NOT_CLOSED

  /** Applies `event`; false (and no change) when it is not allowed in the current state. */
  on (event: LifecycleEvent): boolean {
    const next = transitions[this.phase][event]
    if (next === undefined) return false
    this.phase = next
    return true
  }

  /** The close begins, for `reason`: false (nothing recorded) when it already has. */
  close (reason: CloseReason, detail: string | undefined, code: number | undefined): boolean {
    if (!this.on('close')) return false
    this.record = { reason, initiator: closeReasons[reason].initiator, code, detail }
    return true
  }

  /** Not closing or closed: client bytes are still forwarded. */
  get live (): boolean {
    return this.phase !== 'closing' && this.phase !== 'closed'
  }

  /** Live and not draining: the broker's bytes may still go to the client. */
  get sendsToClient (): boolean {
    return this.live && this.phase !== 'draining'
  }
}

/**
 * Write batching per event-loop turn: the cure for stop-and-wait.
 *
 * The first write to a socket in a turn corks it; every write after that in
 * the same turn (other callbacks of the same poll phase included) joins the
 * batch; one `setImmediate` for the whole process uncorks them all, so each
 * socket makes one `writev` per turn. `setImmediate` runs right after the
 * poll phase, not after a timer: a lone PUBACK waits for nothing.
 */

export interface TurnFlushable {
  /** Uncorks whatever this object corked during the turn. */
  flushTurn (): void
}

const pending: TurnFlushable[] = []
let scheduled = false

function flushAll (): void {
  scheduled = false
  // Index loop: a flush may schedule more work, which joins this round.
  for (let i = 0; i < pending.length; i++) (pending[i] as TurnFlushable).flushTurn()
  pending.length = 0
}

/** Asks for `item.flushTurn()` at the end of this event-loop turn. Call once per turn per item. */
export function flushAtEndOfTurn (item: TurnFlushable): void {
  pending.push(item)
  if (!scheduled) {
    scheduled = true
    setImmediate(flushAll)
  }
}

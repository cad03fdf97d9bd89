/**
 * Ends a stream's writable side once. Node builds an error object (stack
 * trace included) for end() on a stream already ended or destroyed, and
 * teardown reaches end() from both sockets' events: that was 1 % of the
 * gateway's CPU per connection under churn.
 */
export function endOnce (stream: { writableEnded: boolean, destroyed: boolean, end (): void } | undefined): void {
  if (stream !== undefined && !stream.writableEnded && !stream.destroyed) stream.end()
}

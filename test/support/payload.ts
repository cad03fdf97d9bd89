/** Test data: unique names and binary payloads that show any corruption on the way. */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { Received } from './client.js'

/** Every byte value once, so a text-only or 7-bit path cannot pass. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i))

export function uid (): string {
  return randomBytes(4).toString('hex')
}

/** A client id unique to this run; short, for 3.1.1 brokers that hold to 23 characters. */
export function clientId (prefix = 'mwg'): string {
  return `${prefix}-${uid()}`
}

/** `label`, all 256 byte values, then random bytes up to `size`. */
export function payload (label: string, size = 1024): Buffer {
  const head = Buffer.concat([Buffer.from(`${label} `), ALL_BYTES])
  return Buffer.concat([head, randomBytes(Math.max(0, size - head.length))])
}

export function byTopic (messages: Received[]): Received[] {
  return [...messages].sort((a, b) => a.topic.localeCompare(b.topic))
}

/** Byte-for-byte equality, reported by length and first difference rather than as a giant diff. */
export function assertSamePayload (actual: Buffer, expected: Buffer, what: string): void {
  if (actual.equals(expected)) return
  let at = 0
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++
  assert.fail(`${what}: payload differs at byte ${at} (got ${actual.length} bytes, sent ${expected.length})`)
}

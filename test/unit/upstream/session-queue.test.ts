/**
 * The embedded broker's session queues, driven through the calls Aedes 1.2
 * makes and in the orders it can make them: the live path (authorizeForward,
 * then outgoingUpdate), the replay on reconnect (outgoingStream, then for
 * each packet outgoingUpdate, then authorizeForward), the client's acks.
 * Each interleaving here is one that lost, doubled or reordered messages
 * with aedes-persistence's queue (issue 13); test/e2e/delivery-aedes.test.ts
 * reproduces them on real connections.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { withTimeout } from '../../support/wait.js'
import type { AedesPublishPacket, Client } from 'aedes'
import { SessionQueuePersistence } from '../../../src/upstream/session-queue.js'

type Sent = AedesPublishPacket & { messageId: number }

function connection (id: string, clean = false): Client {
  return { id, clean } as unknown as Client
}

function message (counter: number, qos: 1 | 2 = 1): AedesPublishPacket {
  return { cmd: 'publish', topic: 't', payload: Buffer.from(`m${counter}`), qos, retain: false, dup: false, brokerId: 'B', brokerCounter: counter } as AedesPublishPacket
}

async function enqueue (queues: SessionQueuePersistence, counter: number, qos: 1 | 2 = 1, subscriptionQos: 1 | 2 = 2): Promise<void> {
  await queues.outgoingEnqueueCombi([{ clientId: 's', qos: subscriptionQos }], message(counter, qos))
}

/** The live path for one connection: null when it must not send, else the packet it writes. */
async function live (queues: SessionQueuePersistence, client: Client, packet: AedesPublishPacket): Promise<Sent | null> {
  const forwarded = queues.authorizeForward(client, { ...packet, messageId: undefined })
  if (forwarded === null) return null
  const written = { ...forwarded } as Sent // Aedes's QoSPacket copy, keeping the identifier it was given
  await queues.outgoingUpdate(client, written)
  return written
}

/** The replay's handling of one packet it read: null when it does not send it. */
async function replayed (queues: SessionQueuePersistence, client: Client, packet: Sent): Promise<Sent | null> {
  const written = { ...packet }
  await queues.outgoingUpdate(client, written)
  return written.cmd === 'publish' && queues.authorizeForward(client, written) === null ? null : written
}

async function ack (queues: SessionQueuePersistence, client: Client, messageId: number, cmd = 'puback'): Promise<unknown> {
  return await queues.outgoingClearMessageId(client, { cmd, messageId })
}

/** A replay as Aedes runs it, to its end: each packet read is handled before the next is read. */
async function replayAll (queues: SessionQueuePersistence, client: Client): Promise<Sent[]> {
  const sent: Sent[] = []
  for await (const packet of queues.outgoingStream(client)) {
    const out = await replayed(queues, client, packet as Sent)
    if (out !== null) sent.push(out)
  }
  return sent
}

/** A connection that authenticates and whose replay has run. */
async function connect (queues: SessionQueuePersistence, client: Client): Promise<Sent[]> {
  queues.authenticate(client, undefined, undefined, () => {})
  return await replayAll(queues, client)
}

function counters (packets: readonly Sent[]): number[] {
  return packets.map((p) => p.brokerCounter)
}

describe('session queues of the embedded broker', () => {
  it('keeps at most maxQueued messages for a session with no connection; a connected one is not bounded here', async () => {
    const queues = new SessionQueuePersistence(3)
    const first = connection('s')
    await connect(queues, first)
    for (let counter = 1; counter <= 5; counter++) await enqueue(queues, counter)
    assert.equal(queues.dropped, 0, 'a connected session lost messages to the offline bound')
    queues.clientGone(first)
    for (let counter = 6; counter <= 9; counter++) await enqueue(queues, counter)
    assert.equal(queues.dropped, 4, 'the queue held 5 already: every offline message over 3 is not queued')
    assert.deepEqual(counters(await connect(queues, connection('s'))), [1, 2, 3, 4, 5])
    const fresh = new SessionQueuePersistence(3)
    for (let counter = 1; counter <= 5; counter++) await enqueue(fresh, counter)
    assert.deepEqual(counters(await connect(fresh, connection('s'))), [1, 2, 3], 'offline from the start: the first 3 are kept')
  })

  it('gives a reconnecting session its queue in order, new messages included, before anything goes out live', async () => {
    const queues = new SessionQueuePersistence()
    await connect(queues, connection('s'))
    await enqueue(queues, 1)
    await enqueue(queues, 2)
    const c2 = connection('s')
    queues.authenticate(c2, undefined, undefined, () => {})
    // Published between the restored subscriptions and the replay: left to the replay.
    await enqueue(queues, 3)
    assert.equal(await live(queues, c2, message(3)), null)
    const reader = queues.outgoingStream(c2)[Symbol.asyncIterator]()
    const sent: Sent[] = []
    for (let n = 0; n < 3; n++) {
      const read = await reader.next()
      await enqueue(queues, 4 + n)
      assert.equal(await live(queues, c2, message(4 + n)), null, 'a new message waits behind the queue')
      const out = await replayed(queues, c2, read.value as Sent)
      if (out !== null) sent.push(out)
    }
    for (let read = await reader.next(); read.done !== true; read = await reader.next()) {
      const out = await replayed(queues, c2, read.value as Sent)
      if (out !== null) sent.push(out)
    }
    assert.deepEqual(counters(sent), [1, 2, 3, 4, 5, 6])
    await enqueue(queues, 7)
    const after = await live(queues, c2, message(7))
    assert.equal(after?.brokerCounter, 7, 'once the replay is over, messages go out live')
  })

  it('ends a replay only once Aedes has handled every packet it read', async () => {
    const queues = new SessionQueuePersistence()
    const c1 = connection('s')
    queues.authenticate(c1, undefined, undefined, () => {})
    await enqueue(queues, 1)
    const reader = queues.outgoingStream(c1)[Symbol.asyncIterator]()
    const first = await reader.next()
    let ended = false
    const second = reader.next().then((r) => { ended = r.done === true; return r })
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(ended, false, 'the replay waits for its last packet')
    await enqueue(queues, 2) // and still takes what arrives meanwhile
    await replayed(queues, c1, first.value as Sent)
    const next = await second
    assert.equal((next.value as Sent).brokerCounter, 2)
    await replayed(queues, c1, next.value as Sent)
    assert.equal((await reader.next()).done, true)
  })

  it('ends a replay waiting for Aedes when its connection dies, and keeps the message for the next', async () => {
    const queues = new SessionQueuePersistence()
    const c1 = connection('s')
    queues.authenticate(c1, undefined, undefined, () => {})
    await enqueue(queues, 1)
    const stream = queues.outgoingStream(c1)
    const reader = stream[Symbol.asyncIterator]()
    await reader.next()
    const waiting = reader.next() // the replay now waits for Aedes to handle message 1
    stream.destroy()
    await withTimeout(once(stream, 'close'), 1000, 'the replay stream to close')
    await waiting.catch(() => {})
    assert.deepEqual(counters(await connect(queues, connection('s'))), [1])
  })

  it('skips in the replay a message the old connection\'s late ack completed meanwhile', async () => {
    const queues = new SessionQueuePersistence()
    const c1 = connection('s')
    await connect(queues, c1)
    await enqueue(queues, 1)
    const sent = await live(queues, c1, message(1))
    assert.ok(sent !== null)
    const c2 = connection('s')
    queues.authenticate(c2, undefined, undefined, () => {})
    const reader = queues.outgoingStream(c2)[Symbol.asyncIterator]()
    const read = (await reader.next()).value as Sent
    assert.ok(await ack(queues, c1, sent.messageId))
    assert.equal(await replayed(queues, c2, read), null, 'the replay must not send it again')
    assert.equal(await ack(queues, c2, read.messageId), undefined)
    assert.equal((await reader.next()).done, true)
  })

  it('resends a message sent on an earlier connection with its identifier and DUP', async () => {
    const queues = new SessionQueuePersistence()
    const c1 = connection('s')
    await connect(queues, c1)
    await enqueue(queues, 1, 2)
    const sent = await live(queues, c1, message(1, 2))
    assert.ok(sent !== null)
    const again = await connect(queues, connection('s'))
    assert.deepEqual(again.map((p) => [p.messageId, p.dup]), [[sent.messageId, true]])
  })

  it('lets only the newest connection of a client id take its messages', async () => {
    const queues = new SessionQueuePersistence()
    const old = connection('s')
    await connect(queues, old)
    await enqueue(queues, 1)
    const stale = await live(queues, old, message(1))
    assert.ok(stale !== null)
    const current = connection('s')
    queues.authenticate(current, undefined, undefined, () => {})
    await enqueue(queues, 2)
    assert.equal(await live(queues, old, message(2)), null, 'a connection taken over sends nothing more')
    // The old connection's late update for message 1 must not take it back.
    await queues.outgoingUpdate(old, { ...stale })
    const sent = await replayAll(queues, current)
    assert.deepEqual(counters(sent), [1, 2])
    for (const packet of sent) assert.ok(await ack(queues, current, packet.messageId))
  })

  it('turns into a PUBREL only the entry of the PUBREC\'s identifier, and completes it on PUBCOMP', async () => {
    const queues = new SessionQueuePersistence()
    const c1 = connection('s')
    await connect(queues, c1)
    const sent: Sent[] = []
    for (const n of [1, 2, 3]) {
      await enqueue(queues, n, 2)
      const out = await live(queues, c1, message(n, 2))
      assert.ok(out !== null)
      sent.push(out)
    }
    for (const packet of sent) await queues.outgoingUpdate(c1, { cmd: 'pubrel', messageId: packet.messageId })
    await ack(queues, c1, sent[0]!.messageId, 'pubcomp')
    await ack(queues, c1, sent[2]!.messageId, 'pubcomp')
    const left = await connect(queues, connection('s'))
    assert.deepEqual(left.map((p) => [p.cmd, p.messageId]), [['pubrel', sent[1]!.messageId]])
  })

  it('never gives a new message the identifier of one still in flight', async () => {
    const queues = new SessionQueuePersistence()
    const c1 = connection('s')
    await connect(queues, c1)
    const inFlight = new Set<number>()
    for (let n = 1; n <= 20; n++) {
      await enqueue(queues, n)
      const sent = await live(queues, c1, message(n))
      assert.ok(sent !== null && !inFlight.has(sent.messageId))
      inFlight.add(sent.messageId)
    }
    const c2 = connection('s')
    const resent = await connect(queues, c2)
    assert.deepEqual(new Set(resent.map((p) => p.messageId)), inFlight)
    await enqueue(queues, 21)
    const fresh = await live(queues, c2, message(21))
    assert.ok(fresh !== null && !inFlight.has(fresh.messageId))
  })

  it('queues a message once per session, at the lower of its QoS and the subscription\'s', async () => {
    const queues = new SessionQueuePersistence()
    await queues.outgoingEnqueueCombi([{ clientId: 's', qos: 1 }, { clientId: 's', qos: 2 }], message(1, 2))
    await queues.outgoingEnqueueCombi([{ clientId: 's', qos: 1 }], message(2, 2))
    const sent = await connect(queues, connection('s'))
    assert.deepEqual(sent.map((p) => [p.brokerCounter, p.qos]), [[1, 2], [2, 1]])
  })

  it('keeps no queue for a session that is owed nothing', async () => {
    const queues = new SessionQueuePersistence()
    for (let n = 0; n < 50; n++) await connect(queues, connection(`clean-${n}`, true))
    const c1 = connection('s')
    await connect(queues, c1)
    await enqueue(queues, 1)
    const sent = await live(queues, c1, message(1))
    assert.equal(queues.queuedSessions, 1)
    assert.ok(sent !== null && await ack(queues, c1, sent.messageId))
    assert.equal(queues.queuedSessions, 0)
  })

  it('passes clean sessions and QoS 0 through untouched', () => {
    const queues = new SessionQueuePersistence()
    const packet = message(1)
    assert.equal(queues.authorizeForward(connection('c', true), packet), packet)
    const qos0 = { ...message(2), qos: 0 } as AedesPublishPacket
    assert.equal(queues.authorizeForward(connection('s'), qos0), qos0)
  })
})

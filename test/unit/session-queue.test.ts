/**
 * The embedded broker's session queues, driven through the calls Aedes 1.2
 * makes and in the orders it can make them: the live path (authorizeForward,
 * then outgoingUpdate), the replay on reconnect (outgoingStream, then for
 * each packet outgoingUpdate, then authorizeForward), the client's acks.
 * Each interleaving here is one that lost or doubled messages with
 * aedes-persistence's queue (issue 13); test/e2e/delivery-aedes.test.ts
 * reproduces them on real connections.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { AedesPublishPacket, Client } from 'aedes'
import { SessionQueuePersistence } from '../../src/upstream/session-queue.js'

type Sent = AedesPublishPacket & { messageId: number }

function connection (id: string): Client {
  return { id, clean: false } as unknown as Client
}

function message (counter: number, qos: 1 | 2 = 1): AedesPublishPacket {
  return { cmd: 'publish', topic: 't', payload: Buffer.from(`m${counter}`), qos, retain: false, dup: false, brokerId: 'B', brokerCounter: counter } as AedesPublishPacket
}

function connect (queues: SessionQueuePersistence, client: Client): void {
  queues.authenticate(client, undefined, undefined, () => {})
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

/** Everything a replay for `client` would read now. */
async function replayAll (queues: SessionQueuePersistence, client: Client): Promise<Sent[]> {
  const out: Sent[] = []
  for await (const packet of queues.outgoingStream(client)) out.push(packet as Sent)
  return out
}

describe('session queues of the embedded broker', () => {
  it('skips in the replay a message read before it went out live and was acknowledged', async () => {
    const queues = new SessionQueuePersistence()
    const c1 = connection('s')
    connect(queues, c1)
    await queues.outgoingEnqueueCombi([{ clientId: 's' }], message(1))
    const reader = queues.outgoingStream(c1)[Symbol.asyncIterator]()
    const read = (await reader.next()).value as Sent
    const sent = await live(queues, c1, message(1))
    assert.ok(sent !== null)
    assert.ok(await ack(queues, c1, sent.messageId))
    assert.equal(await replayed(queues, c1, read), null, 'the replay must not send it again')
    assert.equal(await ack(queues, c1, read.messageId), undefined)
  })

  it('skips in the replay a message read before it went out live and is still in flight', async () => {
    const queues = new SessionQueuePersistence()
    const c1 = connection('s')
    connect(queues, c1)
    await queues.outgoingEnqueueCombi([{ clientId: 's' }], message(1, 2))
    const read = (await queues.outgoingStream(c1)[Symbol.asyncIterator]().next()).value as Sent
    const sent = await live(queues, c1, message(1, 2))
    assert.ok(sent !== null)
    assert.notEqual(read.messageId, sent.messageId)
    assert.equal(await replayed(queues, c1, read), null)
    // The identifier in flight is still the live one: its PUBREC and PUBCOMP find the entry.
    await queues.outgoingUpdate(c1, { cmd: 'pubrel', messageId: sent.messageId })
    assert.ok(await ack(queues, c1, sent.messageId, 'pubcomp'))
    assert.deepEqual(await replayAll(queues, connection('s')), [])
  })

  it('skips on the live path a message the replay sent on this connection', async () => {
    const queues = new SessionQueuePersistence()
    const c1 = connection('s')
    connect(queues, c1)
    await queues.outgoingEnqueueCombi([{ clientId: 's' }], message(1))
    const [read] = await replayAll(queues, c1)
    assert.ok(read !== undefined && await replayed(queues, c1, read) !== null)
    assert.equal(await live(queues, c1, message(1)), null)
  })

  it('resends a message sent on an earlier connection with its identifier and DUP, from the replay only', async () => {
    const queues = new SessionQueuePersistence()
    const c1 = connection('s')
    connect(queues, c1)
    await queues.outgoingEnqueueCombi([{ clientId: 's' }], message(1, 2))
    const sent = await live(queues, c1, message(1, 2))
    assert.ok(sent !== null)
    const c2 = connection('s')
    connect(queues, c2)
    assert.equal(await live(queues, c2, message(1, 2)), null)
    const [again] = await replayAll(queues, c2)
    assert.equal(again?.messageId, sent.messageId)
    assert.equal(again?.dup, true)
    assert.ok(await replayed(queues, c2, again))
  })

  it('lets only the newest connection of a client id take its messages', async () => {
    const queues = new SessionQueuePersistence()
    const old = connection('s')
    connect(queues, old)
    await queues.outgoingEnqueueCombi([{ clientId: 's' }], message(1))
    const stale = await live(queues, old, message(1))
    assert.ok(stale !== null)
    const current = connection('s')
    connect(queues, current)
    await queues.outgoingEnqueueCombi([{ clientId: 's' }], message(2))
    assert.equal(await live(queues, old, message(2)), null, 'a connection taken over sends nothing more')
    const sent = await live(queues, current, message(2))
    assert.ok(sent !== null)
    // The old connection's late update for message 1 must not take it back.
    await queues.outgoingUpdate(old, { ...stale })
    const [resend] = await replayAll(queues, current)
    assert.equal(resend?.brokerCounter, 1)
    assert.ok(await replayed(queues, current, resend))
    assert.ok(await ack(queues, current, resend.messageId))
    assert.ok(await ack(queues, current, sent.messageId))
  })

  it('turns into a PUBREL only the entry of the PUBREC\'s identifier, and completes it on PUBCOMP', async () => {
    const queues = new SessionQueuePersistence()
    const c1 = connection('s')
    connect(queues, c1)
    await queues.outgoingEnqueueCombi([{ clientId: 's' }], message(1, 2))
    await queues.outgoingEnqueueCombi([{ clientId: 's' }], message(2, 2))
    await queues.outgoingEnqueueCombi([{ clientId: 's' }], message(3, 2))
    const sent = await Promise.all([1, 2, 3].map(async (n) => await live(queues, c1, message(n, 2)))) as Sent[]
    for (const packet of sent) await queues.outgoingUpdate(c1, { cmd: 'pubrel', messageId: packet.messageId })
    await ack(queues, c1, sent[0]!.messageId, 'pubcomp')
    await ack(queues, c1, sent[2]!.messageId, 'pubcomp')
    const left = await replayAll(queues, connection('s'))
    assert.deepEqual(left.map((p) => [p.cmd, p.messageId]), [['pubrel', sent[1]!.messageId]])
  })

  it('never gives a new message the identifier of one still in flight', async () => {
    const queues = new SessionQueuePersistence()
    const c1 = connection('s')
    connect(queues, c1)
    const inFlight = new Set<number>()
    for (let n = 1; n <= 20; n++) {
      await queues.outgoingEnqueueCombi([{ clientId: 's' }], message(n))
      const sent = await live(queues, c1, message(n))
      assert.ok(sent !== null && !inFlight.has(sent.messageId))
      inFlight.add(sent.messageId)
    }
    const c2 = connection('s')
    connect(queues, c2)
    await queues.outgoingEnqueueCombi([{ clientId: 's' }], message(21))
    const fresh = await live(queues, c2, message(21))
    assert.ok(fresh !== null && !inFlight.has(fresh.messageId))
  })

  it('passes clean sessions and QoS 0 through untouched', () => {
    const queues = new SessionQueuePersistence()
    const clean = { id: 'c', clean: true } as unknown as Client
    const packet = message(1)
    assert.equal(queues.authorizeForward(clean, packet), packet)
    const qos0 = { ...message(2), qos: 0 } as AedesPublishPacket
    assert.equal(queues.authorizeForward(connection('s'), qos0), qos0)
  })
})

/**
 * Who publishes where and who receives what, for P publishers and S subscribers.
 *
 *   shared         every publisher uses one topic; every subscriber gets all messages
 *   per-publisher  publisher i uses topic i; each publisher's topic goes to the
 *                  subscribers j with j ≡ i (mod P) when S > P, else to the one
 *                  subscriber i mod S: P pairs for P = S, fan-in for S < P
 *   wildcard       publisher i uses topic i; every subscriber takes them all
 *                  through one `#` filter
 *
 * In echo mode the subscribers are the publishers' own connections (S = P),
 * so a client receives what it publishes, as the seed's 100 msg/s echo does.
 */
export type TopicLayout = 'shared' | 'per-publisher' | 'wildcard'

export interface Topology {
  publisherTopics: string[]
  /** Topic filters of each subscriber. */
  subscriberFilters: string[][]
  /** How many subscribers receive each message of publisher i. */
  fanout: number[]
}

export function planTopology (layout: TopicLayout, publishers: number, subscribers: number, prefix: string): Topology {
  if (layout === 'shared') {
    const topic = `${prefix}/shared`
    return {
      publisherTopics: Array.from({ length: publishers }, () => topic),
      subscriberFilters: Array.from({ length: subscribers }, () => [topic]),
      fanout: Array.from({ length: publishers }, () => subscribers)
    }
  }
  const publisherTopics = Array.from({ length: publishers }, (_, i) => `${prefix}/p/${i}`)
  if (layout === 'wildcard') {
    return {
      publisherTopics,
      subscriberFilters: Array.from({ length: subscribers }, () => [`${prefix}/p/#`]),
      fanout: Array.from({ length: publishers }, () => subscribers)
    }
  }
  return pairTopics(publisherTopics, subscribers)
}

function pairTopics (publisherTopics: string[], subscribers: number): Topology {
  const publishers = publisherTopics.length
  const subscriberFilters: string[][] = Array.from({ length: subscribers }, () => [])
  const fanout = Array.from({ length: publishers }, () => 0)
  if (subscribers > publishers) {
    for (let j = 0; j < subscribers; j++) {
      subscriberFilters[j]!.push(publisherTopics[j % publishers]!)
      fanout[j % publishers]!++
    }
  } else if (subscribers > 0) {
    publisherTopics.forEach((topic, i) => {
      subscriberFilters[i % subscribers]!.push(topic)
      fanout[i] = 1
    })
  }
  return { publisherTopics, subscriberFilters, fanout }
}

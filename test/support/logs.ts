/**
 * A pino logger whose lines the test can read.
 */
import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { Logger } from 'pino'

export interface LogLine {
  level: number
  msg: string
  event?: string
  reason?: string
  closedBy?: string
  [key: string]: unknown
}

export function captureLogs (): { logger: Logger, lines: LogLine[], find: (match: Partial<LogLine>) => LogLine | undefined } {
  const lines: LogLine[] = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as LogLine)
      done()
    }
  })
  const logger = pino({ level: 'debug' }, sink)
  const find = (match: Partial<LogLine>): LogLine | undefined =>
    lines.find((line) => Object.entries(match).every(([k, v]) => line[k] === v))
  return { logger, lines, find }
}

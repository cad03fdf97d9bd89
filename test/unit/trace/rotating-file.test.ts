/**
 * The trace file: appended to, renamed to .1 (.1 to .2 …) when it reaches
 * its size, the oldest beyond the count deleted; every line whole, in order
 * across the files.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { RotatingFile } from '../../../src/trace/rotating-file.js'

describe('rotating trace file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mwg-trace-file-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('rotates at the size, keeps the count, loses no line of those kept', async () => {
    const path = join(dir, 'trace.ndjson')
    writeFileSync(path, '{"n":-1}\n') // an earlier run's line: appended to, not overwritten
    const errors: Error[] = []
    const file = new RotatingFile(path, 1000, 2, (err) => errors.push(err))
    for (let n = 0; n < 500; n++) file.write(`${JSON.stringify({ n, pad: 'x'.repeat(40) })}\n`)
    await file.close()
    assert.deepEqual(errors, [])
    assert.deepEqual(readdirSync(dir).sort(), ['trace.ndjson', 'trace.ndjson.1', 'trace.ndjson.2'])
    const read = (name: string): number[] => readFileSync(join(dir, name), 'utf8').split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { n: number }).n)
    const kept = [...read('trace.ndjson.2'), ...read('trace.ndjson.1'), ...read('trace.ndjson')]
    assert.equal(kept.at(-1), 499)
    for (let i = 1; i < kept.length; i++) assert.equal(kept[i], (kept[i - 1] as number) + 1, 'consecutive across files')
    for (const name of ['trace.ndjson.1', 'trace.ndjson.2']) {
      const size = readFileSync(join(dir, name)).length
      assert.ok(size >= 1000 && size < 1100, `${name} is ${size} bytes`)
    }
    assert.ok(file.rotations > 2)
  })

  test('a file that cannot be opened throws at open', () => {
    const file = new RotatingFile(join(dir, 'no-such-dir', 'trace.ndjson'), 1000, 1, () => {})
    assert.throws(() => file.open(), { code: 'ENOENT' })
  })
})

/**
 * How the property-based fuzz tests (fast-check) are run: seeded and small
 * in CI, long on demand.
 *
 * Why: every byte these parsers read may come from an attacker before any
 * authentication, so their invariants are checked on generated inputs, not
 * only on the cases someone thought of. CI must stay deterministic and fast
 * (the whole fuzz suite in seconds), so `npm test` uses a fixed seed and
 * each property's small run count; a longer search is one command away.
 *
 *   npm run fuzz                         100× the runs, a random seed (printed)
 *   FUZZ_RUNS=20 FUZZ_SEED=42 node --import tsx --test test/fuzz/origin.test.ts
 *
 * FUZZ_RUNS multiplies each property's CI run count; FUZZ_SEED is a number or
 * `random`. A failing property prints its seed, the shrink path and the
 * minimal counterexample; to replay exactly that case:
 *
 *   FUZZ_SEED=<seed> FUZZ_PATH=<path> node --import tsx --test \
 *     --test-name-pattern '<test name>' test/fuzz/<file>.test.ts
 */
import fc from 'fast-check'

/** The seed CI uses: fixed, so a red CI run replays the same way on any machine. */
export const DEFAULT_SEED = 0x6d7767 // "mwg"

function resolveSeed (text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_SEED
  if (text === 'random') return Math.floor(Math.random() * 2 ** 31)
  const seed = Number(text)
  if (!Number.isSafeInteger(seed)) throw new TypeError(`FUZZ_SEED must be an integer or "random", got ${text}`)
  return seed
}

function resolveScale (text: string | undefined): number {
  if (text === undefined || text === '') return 1
  const scale = Number(text)
  if (!(scale > 0)) throw new TypeError(`FUZZ_RUNS must be a positive multiplier, got ${text}`)
  return scale
}

export const seed = resolveSeed(process.env.FUZZ_SEED)
export const scale = resolveScale(process.env.FUZZ_RUNS)
const path = process.env.FUZZ_PATH === '' ? undefined : process.env.FUZZ_PATH

// A long run says which seed it drew before anything can fail.
if (seed !== DEFAULT_SEED || scale !== 1) console.log(`# fuzz: FUZZ_SEED=${seed} FUZZ_RUNS=${scale}`)

/**
 * Checks `property` on `runs` generated cases in CI (× FUZZ_RUNS on demand).
 * Throws fast-check's report on failure: seed, path, shrunk counterexample.
 * Returns a promise for async properties.
 */
export function fuzz<Ts> (property: fc.IRawProperty<Ts>, runs: number): void | Promise<void> {
  return fc.assert(property, {
    seed,
    numRuns: Math.max(1, Math.round(runs * scale)),
    ...(path === undefined ? {} : { path, endOnFailure: true })
  })
}

/**
 * Cut points for splitting an `n`-byte input into chunks: either arbitrary
 * positions (duplicates give empty chunks, which must be harmless too), or a
 * fixed small step (every byte boundary, where a reader carries the most state).
 */
export type Splits = { points: number[] } | { step: number }

export const splits: fc.Arbitrary<Splits> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ points: fc.array(fc.nat(), { maxLength: 24 }) }) },
  { weight: 1, arbitrary: fc.record({ step: fc.integer({ min: 1, max: 7 }) }) }
)

/** A fixed step cuts at most this many chunks: a 2 MiB input is not fed byte by byte. */
const MAX_STEP_CHUNKS = 4096

/** The [start, end) ranges `splits` cuts `n` bytes into, in order, covering all of them. */
export function chunkRanges (n: number, how: Splits): Array<[number, number]> {
  const step = 'step' in how ? Math.max(how.step, Math.ceil(n / MAX_STEP_CHUNKS)) : 0
  const cuts = 'step' in how
    ? Array.from({ length: Math.ceil(n / step) - 1 }, (_, i) => (i + 1) * step)
    : how.points.map((p) => p % (n + 1)).sort((a, b) => a - b)
  const bounds = [0, ...cuts, n]
  return bounds.slice(1).map((end, i) => [bounds[i] as number, end])
}

/**
 * `length` bytes filled from `fill` (a cheap xorshift): large inputs without
 * asking fast-check for thousands of separately shrinkable bytes.
 */
export function filledBytes (length: number, fill: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = (fill | 0) || 0x2545f491
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** Bytes of a length drawn from [min, max], contents from a seed. */
export function sizedBytes (min: number, max: number): fc.Arbitrary<Uint8Array> {
  return fc.record({ length: fc.integer({ min, max }), fill: fc.integer() })
    .map(({ length, fill }) => filledBytes(length, fill))
}

/**
 * Where the bench finds what lies outside its code: its results folder and
 * the gateway's built command line.
 *
 * Both are found from the bench package's folder (the nearest one holding a
 * package.json), not from this file's own place: the same code runs from its
 * sources (bench/src, under tsx) and from its build (bench/dist/bench/src).
 */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The bench package's folder: `bench/` in the repository. */
export function benchRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('the bench package.json was not found above its code')
    dir = parent
  }
  return dir
}

/** Where the suite writes its tables and raw results. */
export function resultsDir (): string {
  return join(benchRoot(), 'results')
}

/**
 * The gateway's CLI, built by the product's `npm run build` (dist/cli/main.js
 * at the repository root), or another build named by MWG_BENCH_GATEWAY: to
 * measure two versions of the gateway with the same tool, one after the other.
 */
export function gatewayMain (): string {
  return process.env.MWG_BENCH_GATEWAY ?? join(benchRoot(), '..', 'dist', 'cli', 'main.js')
}

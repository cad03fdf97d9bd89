/**
 * The image's runtime stage rebuilt as a directory, for tests that run the
 * image's start command without Docker: `cd <workdir> && node
 * dist/cli/main.js` (readImage().entrypoint) is then the command the image
 * runs, with the files it has.
 */
import { execFile, spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { GATEWAY_SCRIPT, ROOT } from './deploy-files.js'

function run (command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout: 120_000 }, (err, _stdout, stderr) => {
      if (err === null) resolve()
      else reject(new Error(`${command} ${args.join(' ')}: ${err.message}\n${stderr}`))
    })
  })
}

/** Newest modification time of the files under `dir`, in ms. */
function newest (dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .reduce((latest, entry) => Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs), 0)
}

/**
 * The runtime stage's files: dist/ as the build stage's `npm run build` makes
 * it (the repository's own dist/ when it is newer than every source file, as
 * in CI, which builds before testing; else built here), production
 * node_modules only.
 */
export async function buildRuntimeLayout (workdir: string): Promise<void> {
  mkdirSync(workdir, { recursive: true })
  const built = join(ROOT, GATEWAY_SCRIPT)
  if (existsSync(built) && statSync(built).mtimeMs > newest(join(ROOT, 'src'))) {
    cpSync(join(ROOT, 'dist'), join(workdir, 'dist'), { recursive: true })
  } else {
    await run('npm', ['run', 'build', '--silent', '--', '--outDir', join(workdir, 'dist')], ROOT)
  }
  copyFileSync(join(ROOT, 'package.json'), join(workdir, 'package.json'))
  const listing = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
  const packages = listing.stdout.split('\n').filter((path) => path.startsWith(join(ROOT, 'node_modules') + '/'))
  // Copies, not links: a linked package would find dev dependencies next to its real path.
  for (const path of packages) cpSync(path, join(workdir, path.slice(ROOT.length)), { recursive: true })
}

/**
 * Kubernetes manifests checked against the API's own schemas, from
 * kubernetes-models (models generated from the Kubernetes OpenAPI spec, with
 * ajv-compiled validators; the best-kept npm package of them, ~380k
 * downloads a month), twice:
 * - at run time, the model's validate(): types, required fields, formats;
 * - strictly, as `kubectl apply` (field validation "Strict") would: the
 *   OpenAPI schemas allow unknown fields, so a misspelled one
 *   (terminationGracePeriodSecond) passes validate() and is silently
 *   dropped by a lax apply. The manifest is type-checked by the TypeScript
 *   compiler as an object literal of the model's interface, whose excess
 *   property check names every unknown field.
 */
import { join } from 'node:path'
import ts from 'typescript'
import { ROOT } from './deploy-files.js'
import type { Manifest } from './deploy-files.js'

/** kubernetes-models' module for an apiVersion and kind: apps/v1 Deployment → kubernetes-models/apps/v1/Deployment. */
function modelModule (manifest: Manifest): string {
  return `kubernetes-models/${manifest.apiVersion}/${manifest.kind}`
}

interface Model { validate: () => void }

/** The model's own validation: an error message, or undefined when valid. */
export async function validateModel (manifest: Manifest): Promise<string | undefined> {
  const module = await import(modelModule(manifest)) as Record<string, new (data: unknown) => Model>
  const ModelClass = module[manifest.kind]
  if (ModelClass === undefined) return `no model for ${manifest.apiVersion} ${manifest.kind}`
  try {
    new ModelClass(manifest).validate()
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}

/**
 * Type errors of `manifests` as object literals of their kubernetes-models
 * interfaces, one message each, naming the manifest.
 */
export function strictFieldErrors (manifests: { name: string, manifest: Manifest }[]): string[] {
  const file = join(ROOT, 'test', 'deploy', '.manifests-under-check.ts')
  const source = manifests.map(({ manifest }, i) =>
    `import type { I${manifest.kind} as T${i} } from '${modelModule(manifest)}'\n` +
    `export const m${i}: T${i} = ${JSON.stringify(manifest, null, 2)}\n`).join('')
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, skipLibCheck: true, types: [],
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022
  }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, version, ...rest) =>
    name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest)
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (name) => name === file || fileExists(name)
  const program = ts.createProgram([file], options, host)
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const line = diagnostic.start === undefined ? 0 : diagnostic.file?.getLineAndCharacterOfPosition(diagnostic.start).line ?? 0
    const index = source.split('\n').slice(0, line + 1).filter((text) => text.startsWith('export const m')).length - 1
    return `${manifests[index]?.name ?? '?'}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`
  })
}

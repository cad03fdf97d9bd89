/** One bench run of either mode: the entry point the CLI and the suite share. */
import type { BenchOptions } from './options.js'
import type { BenchResult } from './results.js'
import { runConnections } from './run-connections.js'
import type { ConnectionsProgress } from './run-connections.js'
import { runMessages } from './run-messages.js'
import type { MessagesProgress } from './run-messages.js'

export type Progress = MessagesProgress | ConnectionsProgress

export interface RunHooks {
  onProgress?: (progress: Progress) => void
}

export function runScenario (options: BenchOptions, hooks: RunHooks = {}): Promise<BenchResult> {
  return options.mode === 'connections' ? runConnections(options, hooks) : runMessages(options, hooks)
}

import { decodeEntry, sealEntry, type LedgerEntry, type SealedEntry } from '../ledger/entry.js';
import type { CompiledPolicy } from '../policy/compile.js';
import type { CommandContext, IdGenerator, IdKind, Refusal } from './command.js';
import { runCommand, type Command, type CommandResult } from './commands.js';
import { applyEntry } from './reduce.js';
import { storedPolicy } from './release.js';
import { createState, type AuthorityState, type ProjectionRef } from './state.js';

/**
 * The state machine with an in-memory ledger: every command's drafts are
 * sealed into canonical bytes, decoded back and only then applied, exactly
 * as the gateway's sequencer does over a store (ADR 002 §3). Used by tests,
 * scenarios, golden cases and the demo; synchronous and deterministic given
 * its clock and ids.
 */
export class AuthorityMachine {
  readonly state: AuthorityState = createState();
  readonly sealed: SealedEntry[] = [];
  readonly entries: LedgerEntry[] = [];
  policy: CompiledPolicy | null = null;

  constructor(readonly ids: IdGenerator = counterIds()) {}

  /** Evaluate, seal, decode and apply one command. */
  run<R extends CommandResult = CommandResult>(command: Command, now: number): MachineStep<R> {
    const ctx: CommandContext = { now, ids: this.ids };
    const { entries: drafts, result } = runCommand(this.state, this.policy, command, ctx);
    const applied: LedgerEntry[] = [];
    const touched: ProjectionRef[] = [];
    for (const draft of drafts) {
      const last = this.sealed.at(-1);
      const sealed = sealEntry(draft, this.sealed.length, last ? last.hash : null);
      // Apply what the bytes say, never the draft: the replay path and this path must agree.
      const entry = decodeEntry(sealed.bytes);
      this.sealed.push(sealed);
      this.entries.push(entry);
      applied.push(entry);
      touched.push(...applyEntry(this.state, entry));
    }
    if (command.kind === 'bundle_activate' && result.ok) this.policy = command.policy;
    // a release activated on quorum: the rules in force are the ones the ledger holds for that id
    const active = this.state.bundle.bundle_id;
    if (active !== null && this.policy?.bundleId !== active) this.policy = storedPolicy(this.state, active) ?? this.policy;
    return { result: result as R | Refusal, entries: applied, touched };
  }
}

export interface MachineStep<R> {
  readonly result: R | Refusal;
  readonly entries: readonly LedgerEntry[];
  readonly touched: readonly ProjectionRef[];
}

/** Ids `proposal-1`, `request-1`, `grant-1`...: deterministic, for tests and replays. */
export function counterIds(): IdGenerator {
  const counters = new Map<IdKind, number>();
  return {
    next(kind) {
      const n = (counters.get(kind) ?? 0) + 1;
      counters.set(kind, n);
      return `${kind}-${n}`;
    },
  };
}

/** Rebuild state from entries alone: what `ledger replay --check` compares with the stored projections. */
export function rebuildState(entries: Iterable<LedgerEntry>): AuthorityState {
  const state = createState();
  for (const entry of entries) applyEntry(state, entry);
  return state;
}

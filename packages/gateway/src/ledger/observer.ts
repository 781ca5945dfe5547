import type { SealedEntry } from '@countersign/core';

/**
 * Hooks for metrics and tracing, attached without touching the sequencer.
 * Called synchronously; an observer that throws is ignored.
 */
export interface SequencerObserver {
  /** One caller's append settled; latency runs from `append()` to the store's commit (or failure). */
  append?(event: { readonly latencyMs: number; readonly ok: boolean }): void;
  /** One store transaction ran: how many entries, how long the store took. */
  batch?(event: { readonly size: number; readonly durationMs: number; readonly ok: boolean }): void;
  /** A signed checkpoint was stored. */
  checkpoint?(event: { readonly treeSize: number }): void;
  /** Entries this process sealed and the store committed, in ledger order, once per transaction (the command sequencer's). */
  committed?(entries: readonly SealedEntry[]): void;
  /** Something failed that no caller is waiting on (checkpoint writing, catching up). Entries stay durable. */
  error?(err: unknown): void;
}

/** The event a hook of type `H` (an optional one-argument observer method) takes. */
type HookEvent<H> = NonNullable<H> extends (event: infer E) => void ? E : never;

/**
 * Call `observer[hook]` with `event`, synchronously, if the observer has that
 * hook. A hook that throws is ignored: observers are metrics and tracing
 * (`SequencerObserver`), attached from outside the sequencers.
 */
export function notify<O extends object, K extends keyof O>(observer: O, hook: K, event: HookEvent<O[K]>): void {
  const fn = observer[hook] as ((event: HookEvent<O[K]>) => void) | undefined;
  if (fn === undefined) return;
  try {
    fn.call(observer, event);
  } catch {
    // observers are metrics: they never decide whether an entry was written
  }
}

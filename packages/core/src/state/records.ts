import { CountersignError } from '../errors.js';
import type { AuthorityState, ProjectionRef } from './state.js';

/**
 * ADR 006 decision 1, for a store that reads synchronously (SQLite): the
 * tables that grow with every proposal keep in memory only the records
 * something may still change before it is committed, and the open work
 * people act on. A record whose every change is committed may leave memory;
 * its projection row, written in the same commit from the same record, holds
 * the same value, and `get` reads it back from there when it is next asked
 * for. Nothing about a record depends on where it sits: the state is the
 * same, only the heap the collector marks is smaller.
 */
export type TieredKind = 'proposal' | 'step' | 'grant';

/** The committed projection rows of a store, read without waiting. */
export interface RecordSource {
  /**
   * The row's value, parsed, or null when no row exists. Throws (a coded
   * error) when the store cannot be read, or when it holds entries the state
   * has not applied, whose rows may be ahead of it: a caller fails closed.
   */
  read(kind: TieredKind, id: string): unknown;
}

/**
 * One record table: a `Map` while no source is attached (a rebuild, the
 * CLI, every test of the core), tiered once one is. A tiered table cannot be
 * iterated or sized, because part of it is in the store: a reader that scans
 * it fails loudly instead of silently reading a part. Records are never
 * deleted from it, only evicted.
 */
export class RecordTable<V> extends Map<string, V> {
  readonly kind: TieredKind;
  #source: RecordSource | null = null;
  /** The ids this table evicted, as bits: a `get` of any other id is answered from memory alone. */
  readonly #evicted = new EvictedIds();
  /** Ids read back from the source since the last `evictLoaded`: they leave again unless a batch in flight changed them. */
  #loaded: string[] = [];

  constructor(kind: TieredKind) {
    super();
    this.kind = kind;
  }

  /** Read records no longer held from `source`; from now on the table may evict. */
  attach(source: RecordSource): void {
    this.#source = source;
  }

  get tiered(): boolean {
    return this.#source !== null;
  }

  /** Records held in memory now (what the gateway's metrics report). */
  get held(): number {
    return super.size;
  }

  override get(id: string): V | undefined {
    const held = super.get(id);
    // a record is made in memory and leaves only by eviction: an id never evicted is not in the store
    if (held !== undefined || this.#source === null || !this.#evicted.mayHold(id)) return held;
    const value = this.#source.read(this.kind, id);
    if (value === null || value === undefined) return undefined;
    // held again until the next eviction: a reducer that changes it changes this copy, which its commit then projects
    super.set(id, value as V);
    this.#loaded.push(id);
    return value as V;
  }

  /** The record if it is held in memory, without reading the store. */
  peek(id: string): V | undefined {
    return super.get(id);
  }

  override has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  /** Drop the record from memory; a later `get` reads its row. Only for a record whose changes are all committed. */
  evict(id: string): void {
    if (this.#source === null || !super.delete(id)) return;
    this.#evicted.add(id);
  }

  /** Evict every record read back since the last call, except those `keep` names. */
  evictLoaded(keep: (id: string) => boolean): void {
    const loaded = this.#loaded;
    this.#loaded = [];
    for (const id of loaded) if (!keep(id)) this.evict(id);
  }

  override delete(id: string): boolean {
    this.#whole('delete');
    return super.delete(id);
  }

  override get size(): number {
    this.#whole('size');
    return super.size;
  }

  override keys(): MapIterator<string> {
    this.#whole('keys');
    return super.keys();
  }

  override values(): MapIterator<V> {
    this.#whole('values');
    return super.values();
  }

  override entries(): MapIterator<[string, V]> {
    this.#whole('entries');
    return super.entries();
  }

  override forEach(callback: (value: V, key: string, map: Map<string, V>) => void, thisArg?: unknown): void {
    this.#whole('forEach');
    super.forEach(callback, thisArg);
  }

  override [Symbol.iterator](): MapIterator<[string, V]> {
    this.#whole('iterate');
    return super[Symbol.iterator]();
  }

  #whole(what: string): void {
    if (this.#source !== null) {
      throw new CountersignError('INTERNAL', `cannot ${what} the ${this.kind} table: part of it is in the store (ADR 006); read an index or the projections`);
    }
  }
}

const TIERED_KINDS: readonly TieredKind[] = ['proposal', 'step', 'grant'];

/** Whether rows of `kind` are records a table may evict (what the writer counts in flight). */
export function isTieredKind(kind: string): kind is TieredKind {
  return (TIERED_KINDS as readonly string[]).includes(kind);
}

/**
 * Kept in memory although committed: the step of an open request (its view
 * is read on every wake of a long poll) and a step awaiting its rollback (a
 * bundle activation decides it again). Only how fast they are read depends
 * on this, never what is read.
 */
function pinned(state: AuthorityState, kind: TieredKind, id: string): boolean {
  if (kind !== 'step') return false;
  if (state.index.rollbackSteps.has(id)) return true;
  const request = state.steps.peek(id)?.request ?? null;
  return request !== null && state.index.openRequests.has(request);
}

function tableOf(state: AuthorityState, kind: TieredKind): RecordTable<unknown> {
  return kind === 'proposal' ? state.proposals : kind === 'step' ? state.steps : state.grants;
}

/**
 * After a commit: evict the records of `refs` (the rows it wrote) and those
 * read back from the store since the last eviction, unless `inFlight` says a
 * batch not yet committed changed them (its changes are in memory only) or
 * they are open work. Does nothing on a state without a source.
 */
export function evictCommitted(state: AuthorityState, refs: Iterable<ProjectionRef>, inFlight: (kind: TieredKind, id: string) => boolean): void {
  if (!state.steps.tiered) return;
  const keep = (kind: TieredKind, id: string): boolean => inFlight(kind, id) || pinned(state, kind, id);
  for (const { kind, id } of refs) if (isTieredKind(kind) && !keep(kind, id)) tableOf(state, kind).evict(id);
  for (const kind of TIERED_KINDS) tableOf(state, kind).evictLoaded((id) => keep(kind, id));
}

/**
 * Attach `source` to the three tables and evict every record that is not
 * open work: after a rebuild, which holds the whole committed ledger in
 * memory and nothing in flight.
 */
export function tierState(state: AuthorityState, source: RecordSource): void {
  const ids = TIERED_KINDS.map((kind) => [kind, [...tableOf(state, kind).keys()]] as const);
  for (const kind of TIERED_KINDS) tableOf(state, kind).attach(source);
  for (const [kind, list] of ids) for (const id of list) if (!pinned(state, kind, id)) tableOf(state, kind).evict(id);
}

/**
 * The ids a table evicted, held as bits (a Bloom filter): never a false
 * "no", so a record that left memory is always read back; a false "yes"
 * only costs a read of the store that finds no row. A table creates every
 * record under a fresh id and asks whether it exists first, so without
 * this each new proposal and grant would cost a read. Bits, not strings:
 * nothing for the collector to mark per id, and no limit on their number (a
 * `Set` holds at most 2^24). Filters are added as they fill, each twice the
 * size of the last, at ten bits an id (under 1% false "yes" in each).
 */
class EvictedIds {
  readonly #filters: Uint32Array[] = [];
  /** Ids the newest filter can take before it is full. */
  #room = 0;

  add(id: string): void {
    const [h1, h2] = hashes(id);
    if (this.#holds(h1, h2)) return;
    if (this.#room === 0) {
      const last = this.#filters.at(-1);
      const words = last === undefined ? 1 << 12 : last.length * 2;
      this.#filters.push(new Uint32Array(words));
      this.#room = Math.floor((words * 32) / BITS_PER_ID);
    }
    const filter = this.#filters[this.#filters.length - 1] as Uint32Array;
    const bits = filter.length * 32;
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + i * h2) % bits;
      filter[bit >>> 5] = (filter[bit >>> 5] as number) | (1 << (bit & 31));
    }
    this.#room -= 1;
  }

  mayHold(id: string): boolean {
    if (this.#filters.length === 0) return false;
    const [h1, h2] = hashes(id);
    return this.#holds(h1, h2);
  }

  #holds(h1: number, h2: number): boolean {
    for (const filter of this.#filters) {
      const bits = filter.length * 32;
      let all = true;
      for (let i = 0; i < PROBES && all; i++) {
        const bit = (h1 + i * h2) % bits;
        all = ((filter[bit >>> 5] as number) & (1 << (bit & 31))) !== 0;
      }
      if (all) return true;
    }
    return false;
  }
}

const BITS_PER_ID = 10;
const PROBES = 7;

/** Two independent 32-bit hashes of `id` (FNV-1a with two offsets), the second odd, for double hashing. */
function hashes(id: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return [a >>> 0, (b | 1) >>> 0];
}

/**
 * Whether the ledger store takes writes now, for `/readyz` (issue 12): a
 * replica whose store refuses every write (disk full, files made read-only,
 * a read-only PostgreSQL session) must leave the load balancer's rotation,
 * and come back by itself once writes work again.
 *
 * The last write's outcome is trusted while it is fresh; a failed or stale
 * one is confirmed by one probe write (`store.probeWrite`), shared by every
 * concurrent caller, so readiness costs at most one small write per
 * `freshMs` and nothing while traffic writes.
 */
export class WriteHealth {
  readonly #probe: () => Promise<void>;
  readonly #now: () => number;
  readonly #freshMs: number;
  #ok = true;
  #at = Number.NEGATIVE_INFINITY;
  #probing: Promise<boolean> | null = null;

  constructor(options: { readonly probe: () => Promise<void>; readonly now: () => number; readonly freshMs?: number }) {
    this.#probe = options.probe;
    this.#now = options.now;
    this.#freshMs = options.freshMs ?? 5_000;
  }

  /** A write's outcome: a commit (true) or a store that refused it (false). */
  record(ok: boolean): void {
    this.#ok = ok;
    this.#at = this.#now();
  }

  /** True when the store takes writes: the last outcome if fresh and good, else a probe write's. */
  check(): Promise<boolean> {
    if (this.#ok && this.#now() - this.#at < this.#freshMs) return Promise.resolve(true);
    this.#probing ??= this.#probe()
      .then(
        () => true,
        () => false,
      )
      .then((ok) => {
        this.record(ok);
        this.#probing = null;
        return ok;
      });
    return this.#probing;
  }
}

/**
 * Wakes long polls and event streams when the authority state may have
 * changed, so an agent waiting for a decision is answered at once instead of
 * polling hard.
 *
 * In one process every state change goes through this server's routes, which
 * call `changed()`. With several replicas on one PostgreSQL, a change made by
 * another replica reaches this one's state only when its command sequencer
 * catches up; while anyone waits, `refresh` (the gateway's `sync`, which
 * catches up under the write lock and writes nothing) runs once per
 * `refreshMs` for all waiters together, never once per waiter.
 */
export interface ChangeFeedOptions {
  readonly refresh?: () => Promise<void>;
  readonly refreshMs?: number;
  /** A failed refresh is reported here and otherwise ignored: waiters time out as usual. */
  readonly onError?: (err: unknown) => void;
}

export class ChangeFeed {
  readonly #refresh: (() => Promise<void>) | undefined;
  readonly #refreshMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #waiters = new Set<() => void>();
  #timer: NodeJS.Timeout | null = null;
  #refreshing = false;
  #closed = false;

  constructor(options: ChangeFeedOptions = {}) {
    this.#refresh = options.refresh;
    this.#refreshMs = options.refreshMs ?? 1_000;
    this.#onError = options.onError ?? (() => undefined);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Something changed: wake every waiter to look again. */
  changed(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
    this.#arm();
  }

  /** Resolves at the next change, after `timeoutMs`, or at close; whichever comes first. */
  next(timeoutMs: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      const waiters = this.#waiters;
      function done(): void {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      }
      this.#waiters.add(done);
      this.#arm();
    });
  }

  /** Wake everyone and stop: shutting down answers long polls with what is known now. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.changed();
  }

  #arm(): void {
    if (this.#refresh === undefined || this.#closed || this.#timer !== null || this.#waiters.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#refreshing || this.#refresh === undefined) return this.#arm();
      this.#refreshing = true;
      this.#refresh()
        .then(
          () => this.changed(),
          (err: unknown) => this.#onError(err),
        )
        .finally(() => {
          this.#refreshing = false;
          this.#arm();
        });
    }, this.#refreshMs);
    this.#timer.unref();
  }
}

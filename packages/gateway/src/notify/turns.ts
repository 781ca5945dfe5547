/**
 * Work done in turn, per key (a webhook, a Slack destination): at most `max`
 * pieces under way for one key, the rest waiting in the order they came. A
 * bundle activation can open thousands of approval requests in one commit;
 * without turns each would be a request to the same receiver at once.
 */
export class Turns {
  readonly #max: number;
  /** Per key: places held (a finished piece hands its place straight to the next), and who waits for one. */
  readonly #lanes = new Map<string, { running: number; readonly waiting: (() => void)[] }>();

  constructor(max: number) {
    this.#max = Math.max(1, Math.trunc(max));
  }

  /** `work()`, once fewer than `max` pieces for `key` are under way. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    let lane = this.#lanes.get(key);
    if (lane === undefined) {
      lane = { running: 0, waiting: [] };
      this.#lanes.set(key, lane);
    }
    const held = lane;
    if (held.running < this.#max) held.running += 1;
    else await new Promise<void>((resolve) => held.waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = held.waiting.shift();
      if (next !== undefined) next();
      else held.running -= 1;
    }
  }
}

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { decodeEntry, REJECTION_TYPES, type AuthorityState, type EntryType, type LedgerStore } from '@countersign/core';

/**
 * The gateway's Prometheus metrics (issue 6 §4), all named `countersign_*`.
 *
 * Counters are driven by the ledger entries this process commits, never by
 * what a caller was told: a metric of rejections then counts exactly the
 * `*.rejected` entries, and a scrape can be checked against the ledger. Gauges
 * that describe state (pending requests, active holds) are read from the
 * gateway's authority state on scrape, so after a restart they agree with the
 * ledger the state was rebuilt from. Ledger size and checkpoint age are read
 * from the store on scrape.
 *
 * Every label value comes from the gateway or the policy (entry types, codes,
 * effects, risk classes, reason codes, environments), never from free text an
 * agent sent: cardinality stays bounded by the bundle.
 */

/** The part of an entry the counters read: what a draft and a decoded entry share. */
export interface CountedEntry {
  readonly type: string;
  readonly at: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

/** Read-only view of the live authority state; `Gateway.state` is one. */
export type StateSource = () => Pick<AuthorityState, 'requests' | 'index' | 'proposals' | 'steps' | 'grants'> | null;

export interface LedgerMetricsOptions {
  readonly registry: Registry;
  /** Epoch milliseconds, for the checkpoint age. */
  readonly clock: () => number;
}

interface LedgerReading {
  readonly size: number;
  readonly treeSize: number;
  /** Epoch ms the latest checkpoint was written, as well as this process knows; null without one. */
  readonly checkpointAt: number | null;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
// approvals are human: seconds to hours
const APPROVAL_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** Rejections recorded by their own metric: override denials are counted per gate. */
const OVERRIDE_DENIED: EntryType = 'override.denied';

export class LedgerMetrics {
  readonly decisions: Counter<'effect' | 'risk'>;
  readonly approvalLatency: Histogram;
  readonly overrides: Counter<'outcome'>;
  readonly overrideGateFailures: Counter<'code'>;
  readonly rejections: Counter<'type' | 'code'>;
  readonly executions: Counter<'via'>;
  readonly outcomes: Counter<'outcome'>;
  readonly appendSeconds: Histogram<'operation' | 'outcome'>;
  readonly sequencerAppendSeconds: Histogram<'outcome'>;
  readonly batchEntries: Histogram;
  readonly checkpoints: Counter;
  readonly sequencerErrors: Counter;

  #state: StateSource = () => null;
  #reading: Promise<LedgerReading | null> | null = null;
  #store: LedgerStore | null = null;
  readonly #clock: () => number;
  /** When this process saw each checkpoint written, by tree size: the age of a fresh one is known exactly. */
  readonly #checkpointSeen = new Map<number, number>();
  /** Tree size -> `at` of the last entry it covers, for checkpoints written before this process started. */
  #coveredAt: { treeSize: number; at: number } | null = null;
  /** `request.opened` times seen here: the fallback when no state source is set. */
  readonly #opened = new Map<string, number>();

  constructor(options: LedgerMetricsOptions) {
    const registers = [options.registry];
    this.#clock = options.clock;
    this.decisions = new Counter({
      name: 'countersign_decisions_total',
      help: 'step decisions recorded (step.decided entries), by effect and risk class',
      labelNames: ['effect', 'risk'],
      registers,
    });
    this.approvalLatency = new Histogram({
      name: 'countersign_approval_latency_seconds',
      help: 'time from an approval request opening to its quorum being met, by ledger time',
      buckets: APPROVAL_BUCKETS,
      registers,
    });
    this.overrides = new Counter({
      name: 'countersign_overrides_total',
      help: 'override attempts decided (override.granted and override.denied entries), by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.overrideGateFailures = new Counter({
      name: 'countersign_override_gate_failures_total',
      help: 'failing gates of denied overrides, one per gate code of each denial',
      labelNames: ['code'],
      registers,
    });
    this.rejections = new Counter({
      name: 'countersign_rejections_total',
      help: 'refused attempts recorded in the ledger (every rejection entry but override denials), by entry type and code',
      labelNames: ['type', 'code'],
      registers,
    });
    this.executions = new Counter({
      name: 'countersign_executions_total',
      help: 'executions started, by what authorized them (grant, lease, rollback)',
      labelNames: ['via'],
      registers,
    });
    this.outcomes = new Counter({
      name: 'countersign_execution_outcomes_total',
      help: 'execution outcomes reported, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.appendSeconds = new Histogram({
      name: 'countersign_ledger_append_seconds',
      help: 'duration of one ledger store write transaction',
      labelNames: ['operation', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.sequencerAppendSeconds = new Histogram({
      name: 'countersign_sequencer_append_seconds',
      help: 'latency of one append through the group-commit sequencer, queueing included',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.batchEntries = new Histogram({
      name: 'countersign_sequencer_batch_entries',
      help: 'entries committed per sequencer transaction',
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.checkpoints = new Counter({ name: 'countersign_ledger_checkpoints_total', help: 'signed checkpoints written by this process', registers });
    this.sequencerErrors = new Counter({
      name: 'countersign_sequencer_errors_total',
      help: 'sequencer failures no caller waited on (checkpoint writing, catching up); entries stay durable',
      registers,
    });

    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client calls collect() with the gauge as `this`
    const self = this;
    new Gauge({
      name: 'countersign_requests_pending',
      help: 'approval requests open in the authority state',
      registers,
      collect() {
        const state = self.#state();
        if (state) this.set(state.index.openRequests.size);
      },
    });
    new Gauge({
      name: 'countersign_holds_active',
      help: 'holds open in the authority state',
      registers,
      collect() {
        const state = self.#state();
        if (state) this.set(state.index.openHolds.size);
      },
    });
    new Gauge({
      name: 'countersign_halts_active',
      help: 'halts in force in the authority state',
      registers,
      collect() {
        const state = self.#state();
        if (state) this.set(state.index.activeHalts.size);
      },
    });
    new Gauge({
      name: 'countersign_leases_live',
      help: 'override leases live in the authority state',
      registers,
      collect() {
        const state = self.#state();
        if (state) this.set(state.index.liveLeases.size);
      },
    });
    new Gauge({
      name: 'countersign_records_in_memory',
      help: 'proposals, steps and grants held in memory; on SQLite committed ones leave it and are read back from their rows (ADR 006)',
      labelNames: ['kind'],
      registers,
      collect() {
        const state = self.#state();
        if (!state) return;
        this.set({ kind: 'proposal' }, state.proposals.held);
        this.set({ kind: 'step' }, state.steps.held);
        this.set({ kind: 'grant' }, state.grants.held);
      },
    });
    new Gauge({
      name: 'countersign_ledger_entries',
      help: 'entries in the ledger, read from the store',
      registers,
      async collect() {
        const read = await self.#readLedger();
        if (read) this.set(read.size);
      },
    });
    new Gauge({
      name: 'countersign_ledger_checkpoint_tree_size',
      help: 'entries covered by the latest signed checkpoint',
      registers,
      async collect() {
        const read = await self.#readLedger();
        if (read) this.set(read.treeSize);
      },
    });
    new Gauge({
      name: 'countersign_ledger_uncovered_entries',
      help: 'entries not yet covered by a signed checkpoint',
      registers,
      async collect() {
        const read = await self.#readLedger();
        if (read) this.set(Math.max(0, read.size - read.treeSize));
      },
    });
    new Gauge({
      name: 'countersign_ledger_last_checkpoint_age_seconds',
      help: 'seconds since the latest signed checkpoint was written (for one written before this process started, or signed by another replica: since the last entry it covers); NaN without a checkpoint',
      registers,
      async collect() {
        const read = await self.#readLedger();
        if (read) this.set(read.checkpointAt === null ? Number.NaN : Math.max(0, (self.#clock() - read.checkpointAt) / 1_000));
      },
    });
  }

  /**
   * One read of the store per scrape: prom-client collects all metrics
   * concurrently, so the gauges that start together share this promise.
   */
  #readLedger(): Promise<LedgerReading | null> {
    const store = this.#store;
    if (store === null) return Promise.resolve(null);
    if (this.#reading === null) {
      this.#reading = (async () => {
        const [head, checkpoint] = await Promise.all([store.head(), store.latestCheckpoint()]);
        const treeSize = checkpoint?.treeSize ?? 0;
        return { size: head.size, treeSize, checkpointAt: checkpoint === null ? null : await this.#checkpointTime(store, treeSize) };
      })().finally(() => {
        this.#reading = null;
      });
    }
    return this.#reading;
  }

  /** Where state gauges read from; the latest call wins. */
  setStateSource(source: StateSource): void {
    this.#state = source;
  }

  /** The store whose size and checkpoints are reported on scrape. */
  setStore(store: LedgerStore): void {
    this.#store = store;
  }

  /** Count committed entries. Call only after the transaction holding them committed. */
  count(entries: readonly CountedEntry[]): void {
    for (const entry of entries) this.#countOne(entry);
  }

  /** A checkpoint of `treeSize` entries was just stored by this process. */
  checkpointWritten(treeSize: number): void {
    this.checkpoints.inc();
    this.#checkpointSeen.clear();
    this.#checkpointSeen.set(treeSize, this.#clock());
  }

  #countOne(entry: CountedEntry): void {
    const p = entry.payload;
    switch (entry.type) {
      case 'step.decided':
        this.decisions.inc({ effect: label(p['effect']), risk: label(p['risk']) });
        return;
      case 'request.opened':
        // with a state source the request record has its opening time; bounded either way
        if (typeof p['request'] === 'string' && this.#state() === null && this.#opened.size < 100_000) this.#opened.set(p['request'], Date.parse(entry.at));
        return;
      case 'request.approved':
        this.#approved(entry);
        return;
      case 'request.denied':
      case 'request.expired':
      case 'request.voided':
        if (typeof p['request'] === 'string') this.#opened.delete(p['request']);
        return;
      case 'override.granted':
        this.overrides.inc({ outcome: 'granted' });
        return;
      case 'override.denied':
        this.overrides.inc({ outcome: 'denied' });
        for (const code of Array.isArray(p['codes']) ? p['codes'] : []) this.overrideGateFailures.inc({ code: label(code) });
        return;
      case 'grant.consumed':
        this.executions.inc({ via: 'grant' });
        return;
      case 'lease.used':
        this.executions.inc({ via: 'lease' });
        return;
      case 'step.executed':
        this.executions.inc({ via: 'direct' });
        return;
      case 'rollback.executed':
        this.executions.inc({ via: 'rollback' });
        return;
      case 'execution.outcome':
        this.outcomes.inc({ outcome: label(p['outcome']) });
        return;
      default:
        if (entry.type !== OVERRIDE_DENIED && REJECTION_TYPES.has(entry.type as EntryType)) {
          this.rejections.inc({ type: entry.type, code: label(p['code']) });
        }
    }
  }

  #approved(entry: CountedEntry): void {
    const id = entry.payload['request'];
    if (typeof id !== 'string') return;
    const record = this.#state()?.requests.get(id);
    const opened = record ? Date.parse(record.opened_at) : this.#opened.get(id);
    this.#opened.delete(id);
    const met = Date.parse(entry.at);
    if (opened === undefined || !Number.isFinite(opened) || !Number.isFinite(met)) return;
    this.approvalLatency.observe(Math.max(0, (met - opened) / 1_000));
  }

  async #checkpointTime(store: LedgerStore, treeSize: number): Promise<number | null> {
    if (treeSize <= 0) return null;
    const seen = this.#checkpointSeen.get(treeSize);
    if (seen !== undefined) return seen;
    if (this.#coveredAt?.treeSize === treeSize) return this.#coveredAt.at;
    // C2SP checkpoints carry no time: the last entry they cover is the closest the ledger knows
    for await (const sealed of store.read(treeSize - 1, treeSize)) {
      const at = Date.parse(decodeEntry(sealed.bytes).at);
      if (!Number.isFinite(at)) return null;
      this.#coveredAt = { treeSize, at };
      return at;
    }
    return null;
  }
}

/** A label value: the string itself, `none` for null or absent. */
function label(value: unknown): string {
  return typeof value === 'string' && value.length > 0 ? value : 'none';
}

import type { KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { signStatement, type ApprovalStatement } from '../../packages/core/src/approval/statement.js';
import type { LedgerEntry } from '../../packages/core/src/ledger/entry.js';
import { decodeEntry } from '../../packages/core/src/ledger/entry.js';
import type { TransactionalLedgerStore } from '../../packages/core/src/ledger/store.js';
import type { CompiledPolicy } from '../../packages/core/src/policy/compile.js';
import { signOverride, type OverrideSignature, type SignerRole } from '../../packages/core/src/override/evidence.js';
import type { OverrideBody } from '../../packages/core/src/override/body.js';
import type { ProposalStep } from '../../packages/core/src/decision/proposal.js';
import type { ApprovalResult } from '../../packages/core/src/state/approve.js';
import type { Caller, Refusal } from '../../packages/core/src/state/command.js';
import type { CommandCode } from '../../packages/core/src/state/codes.js';
import { REJECTION_TYPES, type EntryType } from '../../packages/core/src/state/entries.js';
import type { ExecutionResult } from '../../packages/core/src/state/execute.js';
import { counterIds } from '../../packages/core/src/state/machine.js';
import type { ProposeResult } from '../../packages/core/src/state/propose.js';
import type { ActivateBundleResult } from '../../packages/core/src/state/bundle.js';
import type { ApproveReleaseResult, ProposeReleaseResult } from '../../packages/core/src/state/release.js';
import { Gateway, type AttestationInput, type GatewayResult, type Success } from '../../packages/gateway/src/service/gateway.js';
import { SqliteLedgerStore } from '../../packages/gateway/src/store/sqlite.js';
import { signGrantToken } from '../../packages/gateway/src/service/grant-token.js';
import type { GrantClaims } from '../../packages/core/src/grant/claims.js';
import { COPILOT, caller, PASSING_GOLDEN, privateKeyOf, T0 } from '../scenario/world.js';
import { GATEWAY_ORIGIN, gatewayKey, ManualClock } from './gateway-replay.js';

/**
 * A Gateway over a SQLite file in a temp dir, with a hand-driven clock,
 * counter ids and the example principals' fixture keys: the async, durable
 * twin of test/scenario/world.ts. A second connection reads back what each
 * call committed, so a refusal is checked as the ledger holds it.
 */
export class GatewayBench {
  readonly tokens = new Map<string, string>();
  readonly provoked = new Set<string>();
  /** Connections `reopen` opened, closed with the bench. */
  readonly #reopened: SqliteLedgerStore[] = [];

  private constructor(
    readonly dir: string,
    readonly path: string,
    readonly store: SqliteLedgerStore,
    readonly reader: SqliteLedgerStore,
    readonly clock: ManualClock,
    /** The gateway's private key, so a test can sign what only the gateway should. */
    readonly key: KeyObject,
    public gateway: Gateway,
    /** The bundle it was opened with: what a restart is given again. */
    readonly policy: CompiledPolicy,
  ) {}

  static async open(policy: CompiledPolicy, options: { store?: (path: string) => TransactionalLedgerStore } = {}): Promise<GatewayBench> {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-'));
    const path = join(dir, 'ledger.db');
    const store = SqliteLedgerStore.open(path);
    const clock = new ManualClock(T0);
    const key = gatewayKey();
    const gateway = await Gateway.open({ store: options.store?.(path) ?? store, policy, key, origin: GATEWAY_ORIGIN, clock: clock.read, ids: counterIds() });
    return new GatewayBench(dir, path, store, SqliteLedgerStore.open(path), clock, key, gateway, policy);
  }

  /**
   * Close the gateway and open another on a fresh connection to the same
   * file, as a restarted process would; it becomes `gateway`. Its store is
   * closed with the bench.
   */
  async reopen(): Promise<SqliteLedgerStore> {
    await this.gateway.close();
    const store = SqliteLedgerStore.open(this.path);
    this.#reopened.push(store);
    this.gateway = await Gateway.open({ store, policy: this.policy, key: this.key, origin: GATEWAY_ORIGIN, clock: this.clock.read, ids: counterIds() });
    return store;
  }

  get now(): number {
    return this.clock.now;
  }

  advance(ms: number): this {
    this.clock.now += ms;
    return this;
  }

  async close(): Promise<void> {
    await this.gateway.close();
    for (const store of this.#reopened) await store.close();
    await this.store.close();
    await this.reader.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Run a call and note the tokens it returned; the entries it committed, read back through another connection. */
  async call<R extends Success>(work: (g: Gateway) => Promise<GatewayResult<R>>): Promise<{ result: GatewayResult<R>; entries: LedgerEntry[] }> {
    const before = (await this.reader.head()).size;
    const result = await work(this.gateway);
    if (result.ok) for (const [jti, token] of Object.entries(result.tokens)) this.tokens.set(jti, token);
    const entries: LedgerEntry[] = [];
    for await (const sealed of this.reader.read(before)) entries.push(decodeEntry(sealed.bytes));
    return { result, entries };
  }

  async ok<R extends Success>(work: (g: Gateway) => Promise<GatewayResult<R>>): Promise<R & { tokens: Readonly<Record<string, string>> }> {
    const { result } = await this.call(work);
    if (!result.ok) throw new Error(`expected success, got ${result.code}: ${result.message}`);
    return result;
  }

  /** The call was refused with `code`, the refusal was returned and is durably recorded as its last rejection entry. */
  async refused<R extends Success>(code: CommandCode, work: (g: Gateway) => Promise<GatewayResult<R>>, type?: EntryType): Promise<Refusal> {
    const { result, entries } = await this.call(work);
    expect(result.ok, `expected ${code}`).toBe(false);
    const refusal = result as Refusal;
    expect(refusal.codes).toContain(code);
    const recorded = entries.filter((e) => REJECTION_TYPES.has(e.type as EntryType)).at(-1);
    expect(recorded, `${code} is recorded`).toBeDefined();
    if (type) expect(recorded?.type).toBe(type);
    const payload = recorded?.payload as { code?: string; codes?: string[]; credential?: unknown };
    expect(payload.code === code || (payload.codes ?? []).includes(code)).toBe(true);
    expect(typeof payload.credential).toBe('string');
    this.provoked.add(code);
    return refusal;
  }

  propose(steps: ProposalStep[], options: { caller?: Caller; on_behalf_of?: string; incident?: string } = {}): Promise<GatewayResult<ProposeResult>> {
    const who = options.caller ?? COPILOT;
    return this.gateway.propose(who, {
      agent: who.principal,
      on_behalf_of: options.on_behalf_of ?? 'olivia',
      surface: who.surface,
      ...(options.incident === undefined ? {} : { incident: options.incident }),
      steps,
    });
  }

  /** A statement signed with `signer`'s fixture key (the approver's by default), delivered through `surface`. */
  /**
   * A governed release of `policy` through the gateway (issue 13): proposed by
   * priya through the approver console, signed by fatima and sam with their
   * own keys through the signed CLI. Resolves with the activation.
   */
  async activate(policy: CompiledPolicy): Promise<ActivateBundleResult & { tokens: Readonly<Record<string, string>> }> {
    const diff = { replayed: 0, changed: 0, static_changes: 0, digest: `sha256:${'d'.repeat(64)}` };
    const proposed = await this.ok<ProposeReleaseResult>((g) => g.proposeRelease(caller('priya', 'approver-console'), { candidate: policy, golden: PASSING_GOLDEN, goldenFiles: [], diff }));
    let last: (ApproveReleaseResult & { tokens: Readonly<Record<string, string>> }) | null = null;
    for (const signer of ['fatima', 'sam']) {
      const statement: ApprovalStatement = {
        request: proposed.release,
        step_digest: proposed.release_digest,
        bundle_id: proposed.previous_bundle_id ?? '',
        decision: 'approve',
        approver: signer,
        surface: 'signed-cli',
        reason: 'read the diff and the golden result',
        signed_at: new Date(this.now).toISOString(),
      };
      last = await this.ok<ApproveReleaseResult>((g) =>
        g.signRelease(caller(signer, 'signed-cli'), { statement, attestation: { kind: 'key', key_id: `${signer}-2025`, signature: signStatement(statement, privateKeyOf(signer)) } }),
      );
    }
    if (last === null || last.activated === null) throw new Error('the release should have activated');
    return { ...last.activated, tokens: last.tokens };
  }

  approve(
    request: string,
    approver: string,
    surface: string,
    options: { decision?: 'approve' | 'deny'; credential?: string; statement?: Partial<ApprovalStatement>; asCaller?: Caller; signer?: string; attestation?: AttestationInput } = {},
  ): Promise<GatewayResult<ApprovalResult>> {
    const record = this.gateway.state.requests.get(request);
    const statement: ApprovalStatement = {
      request,
      step_digest: record?.digest ?? `sha256:${'0'.repeat(64)}`,
      bundle_id: record?.bundle_id ?? this.gateway.bundleId ?? '',
      decision: options.decision ?? 'approve',
      approver,
      surface,
      reason: 'looked at the digest and the consequence',
      signed_at: new Date(this.now).toISOString(),
      ...options.statement,
    };
    const signer = options.signer ?? approver;
    let signature = 'A'.repeat(86);
    try {
      signature = signStatement(statement, privateKeyOf(signer));
    } catch {
      // principals without fixture keys (agents, strangers) sign nothing that verifies
    }
    const input = { statement, attestation: options.attestation ?? { kind: 'key' as const, key_id: `${approver}-2025`, signature } };
    const who = options.asCaller ?? caller(approver, surface, options.credential);
    return statement.decision === 'approve' ? this.gateway.approve(who, input) : this.gateway.deny(who, input);
  }

  execute(jti: string, options: { caller?: Caller; step?: ProposalStep; token?: string } = {}): Promise<GatewayResult<ExecutionResult>> {
    const token = options.token ?? this.tokens.get(jti);
    if (token === undefined) throw new Error(`no token for grant \`${jti}\``);
    return this.gateway.execute(options.caller ?? COPILOT, { token, ...(options.step === undefined ? {} : { step: options.step }) });
  }

  /** A grant token signed with the gateway's own key, for claims the gateway never issued. */
  tokenFor(claims: GrantClaims): Promise<string> {
    return signGrantToken(claims, this.key, this.gateway.keyId);
  }

  sign(body: OverrideBody, role: SignerRole, signer: string, surface: string, signedAt = this.now): OverrideSignature {
    return signOverride(body, { role, signer, key_id: `${signer}-2025`, surface, signed_at: new Date(signedAt).toISOString() }, privateKeyOf(signer));
  }
}

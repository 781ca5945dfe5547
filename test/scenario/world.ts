import { readFileSync } from 'node:fs';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { signStatement, type ApprovalStatement } from '../../packages/core/src/approval/statement.js';
import { signOverride, type OverrideSignature, type SignerRole } from '../../packages/core/src/override/evidence.js';
import type { OverrideBody } from '../../packages/core/src/override/body.js';
import { compilePolicy, type CompiledPolicy } from '../../packages/core/src/policy/compile.js';
import { loadPolicy } from '../../packages/core/src/policy/load.js';
import { PolicyBundle, type PolicyBundleInput } from '../../packages/core/src/policy/schema.js';
import { policyBundleId } from '../../packages/core/src/policy/bundle-id.js';
import type { ProposalStep } from '../../packages/core/src/decision/proposal.js';
import type { Caller, Refusal } from '../../packages/core/src/state/command.js';
import type { Command, CommandResult } from '../../packages/core/src/state/commands.js';
import { AuthorityMachine, type MachineStep } from '../../packages/core/src/state/machine.js';
import type { ProposeResult } from '../../packages/core/src/state/propose.js';
import type { ApprovalResult } from '../../packages/core/src/state/approve.js';
import type { ApproveReleaseResult, ProposeReleaseResult } from '../../packages/core/src/state/release.js';
import { canonicalDigest } from '../../packages/core/src/digest.js';
import { restartOverrideAt, type OverrideDraft } from './override-draft.js';

export type { OverrideDraft } from './override-draft.js';

/**
 * In-process fixtures for the authority state machine: the example payments
 * policy with the real fixture keys of its principals, a permissive bundle,
 * and a machine with a hand-driven clock. Pure core only, no stores.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const T0 = Date.parse('2025-06-01T09:12:00.000Z');
export const MINUTE = 60_000;

export function examplePolicy(): CompiledPolicy {
  const file = `${ROOT}examples/payments/policy.yaml`;
  const loaded = loadPolicy(readFileSync(file, 'utf8'), file);
  return compilePolicy(loaded.bundle, loaded.bundleId);
}

export function compileBundle(input: PolicyBundleInput): CompiledPolicy {
  const bundle = PolicyBundle.parse(input);
  return compilePolicy(bundle, policyBundleId(bundle));
}

const keys = new Map<string, KeyObject>();
/** The fixture private key of an example principal (test/fixtures/keys/<principal>.key). */
export function privateKeyOf(principal: string): KeyObject {
  let key = keys.get(principal);
  if (!key) {
    key = createPrivateKey(readFileSync(`${ROOT}test/fixtures/keys/${principal}.key`, 'utf8'));
    keys.set(principal, key);
  }
  return key;
}

export function caller(principal: string, surface: string, credential = `cred-${principal}-${surface}`): Caller {
  return { principal, surface, credential };
}

export const COPILOT = caller('payments-copilot', 'copilot-console');

export function restartStep(overrides: Partial<ProposalStep> = {}): ProposalStep {
  return {
    action: 'workers.restart_pool',
    environment: 'prod',
    target: 'payments-worker',
    params: { strategy: 'rolling' },
    rationale: 'workers stuck; restart should drain the backlog',
    expected_consequence: 'in-flight jobs are retried',
    ...overrides,
  };
}

export function clearStep(overrides: Partial<ProposalStep> = {}): ProposalStep {
  return {
    action: 'queue.clear_shard',
    environment: 'prod',
    target: 'payments-queue/shard-7',
    params: {},
    rationale: 'clear the stuck shard if the backlog does not drain',
    expected_consequence: 'messages in the shard are deleted',
    ...overrides,
  };
}

export function snapshotStep(overrides: Partial<ProposalStep> = {}): ProposalStep {
  return { action: 'queue.snapshot_shard', environment: 'prod', target: 'payments-queue/shard-7', params: {}, ...overrides };
}

export function inspectStep(overrides: Partial<ProposalStep> = {}): ProposalStep {
  return { action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7', params: {}, ...overrides };
}

export function ok<R>(step: MachineStep<R>): R {
  if (!(step.result as { ok: boolean }).ok) {
    const refusal = step.result as Refusal;
    throw new Error(`expected success, got ${refusal.code}: ${refusal.message}`);
  }
  return step.result as R;
}

export function refused<R>(step: MachineStep<R>): Refusal {
  if ((step.result as { ok: boolean }).ok) throw new Error('expected a refusal, got success');
  return step.result as Refusal;
}

/** A machine with a clock that only moves when told to. */
/** A golden result that passes: the release rules require one by default (issue 13); the scenario world does not run cases. */
export const PASSING_GOLDEN = { cases: 1, failed: 0, failures: [], coverage_percent: 100, digest: canonicalDigest({ golden: 'not run in the scenario world' }) } as const;

export class World {
  readonly machine = new AuthorityMachine();
  now = T0;

  constructor(policy: CompiledPolicy, activator: Caller | null = null) {
    ok(this.machine.run({ kind: 'bundle_activate', caller: activator, policy }, this.now));
  }

  get policy(): CompiledPolicy {
    if (!this.machine.policy) throw new Error('no active policy');
    return this.machine.policy;
  }

  get state() {
    return this.machine.state;
  }

  advance(ms: number): this {
    this.now += ms;
    return this;
  }

  run<R extends CommandResult = CommandResult>(command: Command): MachineStep<R> {
    return this.machine.run<R>(command, this.now);
  }

  propose(steps: ProposalStep[], options: { caller?: Caller; on_behalf_of?: string; incident?: string } = {}): MachineStep<ProposeResult> {
    const who = options.caller ?? COPILOT;
    return this.run<ProposeResult>({
      kind: 'propose',
      caller: who,
      proposal: {
        agent: who.principal,
        on_behalf_of: options.on_behalf_of ?? 'olivia',
        surface: who.surface,
        ...(options.incident === undefined ? {} : { incident: options.incident }),
        steps,
      },
    });
  }

  /** A statement signed with the approver's own fixture key, delivered through `surface`. */
  approve(
    request: string,
    approver: string,
    surface: string,
    options: { decision?: 'approve' | 'deny'; credential?: string; statement?: Partial<ApprovalStatement>; verified?: boolean; asCaller?: Caller; passkey?: string } = {},
  ): MachineStep<ApprovalResult> {
    const record = this.state.requests.get(request);
    const statement: ApprovalStatement = {
      request,
      step_digest: record?.digest ?? `sha256:${'0'.repeat(64)}`,
      bundle_id: record?.bundle_id ?? this.policy.bundleId,
      decision: options.decision ?? 'approve',
      approver,
      surface,
      reason: 'looked at the digest and the consequence',
      signed_at: new Date(this.now).toISOString(),
      ...options.statement,
    };
    let signature = 'A'.repeat(86);
    try {
      signature = signStatement(statement, privateKeyOf(approver));
    } catch {
      // principals without fixture keys (agents) sign nothing
    }
    return this.run<ApprovalResult>({
      kind: 'approval',
      caller: options.asCaller ?? caller(approver, surface, options.credential),
      statement,
      // with `passkey`, signed by that registered passkey (the WebAuthn bytes are stand-ins: the gateway verifies, the command reads its verdict)
      attestation:
        options.passkey === undefined
          ? { kind: 'key', key_id: `${approver}-2025`, signature }
          : { kind: 'passkey', credential_id: options.passkey, authenticator_data: 'YXV0aGRhdGE', client_data_json: 'Y2xpZW50ZGF0YQ', signature: 'c2lnbmF0dXJl' },
      signature_verified: options.verified ?? true,
    });
  }

  /** An override signature by an example principal over `body`. */
  sign(body: OverrideBody, role: SignerRole, signer: string, surface: string, signedAt = this.now): OverrideSignature {
    return signOverride(body, { role, signer, key_id: `${signer}-2025`, surface, signed_at: new Date(signedAt).toISOString() }, privateKeyOf(signer));
  }

  /**
   * A governed release of `policy` (issue 13): proposed by priya through the
   * approver console, signed by fatima and sam through the signed CLI, two
   * independent key holders outside priya's reporting line. Returns the last
   * signature's step: the activation, unless a signature was refused.
   */
  activate(policy: CompiledPolicy, options: { proposer?: Caller; signers?: readonly string[]; surface?: string } = {}): MachineStep<ApproveReleaseResult> {
    const proposed = ok(
      this.run<ProposeReleaseResult>({
        kind: 'release_propose',
        caller: options.proposer ?? caller('priya', 'approver-console'),
        candidate: policy,
        golden: PASSING_GOLDEN,
        diff: { replayed: 0, changed: 0, static_changes: 0, digest: canonicalDigest({ diff: 'not computed in the scenario world' }) },
      }),
    );
    let last: MachineStep<ApproveReleaseResult> | null = null;
    for (const signer of options.signers ?? ['fatima', 'sam']) last = this.signRelease(proposed.release, signer, options.surface ?? 'signed-cli');
    if (last === null) throw new Error('a release needs signers');
    return last;
  }

  /** A release statement signed with the signer's own fixture key, delivered through `surface`. */
  signRelease(release: string, signer: string, surface: string, decision: 'approve' | 'deny' = 'approve'): MachineStep<ApproveReleaseResult> {
    const record = this.state.releases.get(release);
    const statement: ApprovalStatement = {
      request: release,
      step_digest: record?.release_digest ?? `sha256:${'0'.repeat(64)}`,
      bundle_id: record?.previous_bundle_id ?? this.policy.bundleId,
      decision,
      approver: signer,
      surface,
      reason: 'read the diff and the golden result',
      signed_at: new Date(this.now).toISOString(),
    };
    return this.run<ApproveReleaseResult>({
      kind: 'release_approve',
      caller: caller(signer, surface),
      statement,
      attestation: { kind: 'key', key_id: `${signer}-2025`, signature: signStatement(statement, privateKeyOf(signer)) },
      signature_verified: true,
    });
  }

  /** Every entry type in ledger order. */
  types(): string[] {
    return this.machine.entries.map((e) => e.type);
  }
}

/**
 * The bundle of the reference incident as it was actually run: every action
 * low risk and allowed, no holds, no rollback requirement, no prerequisites,
 * overrides open to the operators from any surface. Governance on paper only.
 */
export function permissivePolicy(): CompiledPolicy {
  const example = examplePolicy().bundle;
  return compileBundle({
    version: 1,
    name: 'payments-permissive',
    description: 'the payments bundle as it was run during the reference incident',
    environments: ['dev', 'staging', 'prod'],
    surfaces: example.surfaces,
    roles: example.roles,
    principals: example.principals,
    risk_classes: [{ id: 'low', effect: 'allow' }],
    actions: example.actions.map((a) => ({
      id: a.id,
      class: a.class,
      risk: { dev: 'low', staging: 'low', prod: 'low' },
      ...(a.target_pattern === undefined ? {} : { target_pattern: a.target_pattern }),
      ...(a.params === undefined ? {} : { params: a.params }),
    })),
    overrides: {
      signer_a_roles: ['oncall-operator', 'incident-lead'],
      signer_b_roles: ['oncall-operator', 'incident-lead', 'payments-owner', 'finance-delegate'],
      surfaces: ['copilot-console', 'approver-console', 'signed-cli'],
      reason_codes: ['APPROVER_UNAVAILABLE'],
      max_duration: { default: '4h' },
    },
    holds: { trip_gates: [{ id: 'K1', description: 'evidence at risk' }], open_roles: ['oncall-operator', 'incident-lead'], lift_roles: ['oncall-operator', 'incident-lead'] },
    rollback: { roles: ['oncall-operator', 'incident-lead'], environments: ['prod'] },
    halt: { roles: ['oncall-operator', 'incident-lead'], environments: ['prod'] },
  });
}

/** A passkey as the gateway hands it to `passkey_register` after the WebAuthn ceremony (the key is a stand-in). */
export const SAMPLE_PASSKEY = {
  credential_id: 'cred-lena-phone',
  public_key: { kty: 'EC', crv: 'P-256', x: 'eA', y: 'eQ' },
  algorithm: -7,
  rp_id: 'localhost',
  origin: 'http://localhost:8080',
} as const;

export const EVIDENCE = `sha256:${'e'.repeat(64)}`;
export const EVIDENCE_2 = `sha256:${'f'.repeat(64)}`;

/** An override request for the restart of `payments-worker` in prod, valid for an hour from the world's now. */
export function restartOverride(w: World, hold: string | null, digest: string, artifact: string, over: Partial<OverrideDraft> = {}): OverrideDraft {
  return { ...restartOverrideAt(w.now, hold, hold === null ? null : (w.state.holds.get(hold)?.trip_gate ?? null), digest, artifact), ...over };
}

import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { COMMAND_CODES, type CommandCode } from '../packages/core/src/state/codes.js';
import type { HoldResult } from '../packages/core/src/state/hold.js';
import type { LedgerEntry } from '../packages/core/src/ledger/entry.js';
import type { RequestOverrideResult, SubmitOverrideResult } from '../packages/core/src/state/override.js';
import type { Gateway, GatewayResult } from '../packages/gateway/src/service/gateway.js';
import type { Caller } from '../packages/core/src/state/command.js';
import { replayCheck } from '../packages/gateway/src/service/replay.js';
import { signGrantToken } from '../packages/gateway/src/service/grant-token.js';
import { GatewayBench } from './helpers/gateway-bench.js';
import { softPasskey, type SoftPasskey } from './helpers/soft-passkey.js';
import { passkeyChallenge, type PasskeyAssertion } from '../packages/core/src/approval/passkey.js';
import { gatewayKey } from './helpers/gateway-replay.js';
import { caller, clearStep, compileBundle, COPILOT, EVIDENCE, EVIDENCE_2, examplePolicy, inspectStep, MINUTE, restartStep, snapshotStep } from './scenario/world.js';
import { restartOverrideAt, type OverrideDraft } from './scenario/override-draft.js';

/**
 * Every refusal code of the authority workflow, provoked through the durable
 * Gateway on SQLite: returned to the caller with its code and, read back
 * through another connection, recorded in the ledger. The core tests
 * (packages/core/src/state/commands.test.ts) cover the rules; these show the
 * gateway wires them, verifies signatures itself, and loses no refusal.
 */

const provoked = new Set<string>();
const benches: GatewayBench[] = [];

async function bench(policy = examplePolicy()): Promise<GatewayBench> {
  const b = await GatewayBench.open(policy);
  benches.push(b);
  return b;
}

afterEach(async () => {
  for (const b of benches.splice(0)) {
    for (const code of b.provoked) provoked.add(code);
    // whatever a test did, the stored projections are what the ledger says
    expect((await replayCheck(b.store)).differences).toEqual([]);
    await b.close();
  }
});

const OLIVIA_CONSOLE = caller('olivia', 'approver-console');
const LENA = caller('lena', 'approver-console');
const LENA_CLI = caller('lena', 'signed-cli');
const PRIYA = caller('priya', 'approver-console');
const SAM = caller('sam', 'signed-cli');

async function openedRequest(b: GatewayBench, steps = [restartStep()], on_behalf_of = 'olivia'): Promise<{ request: string; step: string }> {
  const r = await b.ok(() => b.propose(steps, { on_behalf_of }));
  const s = r.steps.find((x) => x.request);
  if (!s?.request) throw new Error('no request');
  return { request: s.request, step: s.step };
}

/** The restart proposed, approved by lena from another surface, its rollback registered: a live grant with its token. */
async function grantedRestart(b: GatewayBench): Promise<{ grant: string; step: string; artifact: string }> {
  const { request, step } = await openedRequest(b);
  const approved = await b.ok(() => b.approve(request, 'lena', 'approver-console'));
  expect(approved.awaiting_rollback).toBe(true);
  const reg = await b.ok((g) => g.registerRollback(OLIVIA_CONSOLE, { step, action: 'workers.rollback_pool', target: 'payments-worker' }));
  if (!reg.grant) throw new Error('registering the rollback should issue the grant');
  expect(typeof reg.tokens[reg.grant.jti]).toBe('string');
  return { grant: reg.grant.jti, step, artifact: reg.artifact };
}

/** The snapshot run and reported, so the queue clear may be decided. */
async function snapshotTaken(b: GatewayBench): Promise<void> {
  const snap = await b.ok(() => b.propose([snapshotStep()]));
  const jti = snap.steps[0]?.grant?.jti ?? '';
  const run = await b.ok(() => b.execute(jti));
  await b.ok((g) => g.reportOutcome(COPILOT, { execution: run.execution, outcome: 'succeeded' }));
}

async function heldRestart(b: GatewayBench): Promise<{ hold: string; step: string; digest: string; artifact: string }> {
  const hold = (await b.ok((g) => g.openHold(LENA, { trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE }))).hold;
  const s = (await b.ok(() => b.propose([restartStep()]))).steps[0];
  if (!s?.digest) throw new Error('restart should have a digest');
  expect(s.effect).toBe('held');
  const artifact = (await b.ok((g) => g.registerRollback(OLIVIA_CONSOLE, { step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' }))).artifact;
  return { hold, step: s.step, digest: s.digest, artifact };
}

function overrideDraft(b: GatewayBench, hold: string | null, digest: string, artifact: string, over: Partial<OverrideDraft> = {}): OverrideDraft {
  return { ...restartOverrideAt(b.now, hold, hold === null ? null : (b.gateway.state.holds.get(hold)?.trip_gate ?? null), digest, artifact), ...over };
}

/** Request an override as olivia and submit it signed by lena (A) and fatima (B) through the signed CLI. */
async function override(b: GatewayBench, draft: OverrideDraft, signers: { extra?: string; requester?: Caller } = {}): Promise<{ result: GatewayResult<SubmitOverrideResult>; entries: LedgerEntry[] }> {
  const requested = await b.ok<RequestOverrideResult>((g) => g.requestOverride(signers.requester ?? OLIVIA_CONSOLE, draft));
  const signatures = [b.sign(requested.body, 'a', 'lena', 'signed-cli'), b.sign(requested.body, 'b', 'fatima', 'signed-cli')];
  if (signers.extra) signatures.push(b.sign(requested.body, 'extra', signers.extra, 'signed-cli'));
  return b.call((g) => g.submitOverride(LENA_CLI, { override: requested.override, signatures }));
}

function leaseOf(result: GatewayResult<SubmitOverrideResult>): string {
  if (!result.ok) throw new Error(`override refused: ${result.code}`);
  return result.lease;
}

describe('proposals through the gateway', () => {
  it('decides each step on its own and hands out a signed token for each grant', async () => {
    const b = await bench();
    const r = await b.ok(() => b.propose([inspectStep(), restartStep(), clearStep()]));
    expect(r.steps.map((s) => s.effect)).toEqual(['allow', 'require_approval', 'deny']);
    const jti = r.steps[0]?.grant?.jti ?? '';
    expect(Object.keys(r.tokens)).toEqual([jti]);
    const claims = await b.gateway.verifyGrant(r.tokens[jti] ?? '');
    expect(claims).toMatchObject({ jti, step_digest: r.steps[0]?.digest, environment: 'prod', target: 'payments-queue/shard-7', bundle_id: b.gateway.bundleId, request_id: null });
  });

  it('refuses a proposal naming another agent: PROPOSER_MISMATCH', async () => {
    const b = await bench();
    await b.refused('PROPOSER_MISMATCH', (g) => g.propose(caller('olivia', 'copilot-console'), { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [inspectStep()] }), 'authority.rejected');
  });

  it('refuses a malformed proposal with a typed error and records nothing', async () => {
    const b = await bench();
    const before = b.gateway.size;
    await expect(b.gateway.propose(COPILOT, { agent: 'payments-copilot', steps: 'rm -rf /' })).rejects.toMatchObject({ code: 'PROPOSAL_INVALID' });
    expect(b.gateway.size).toBe(before);
  });
});

describe('approvals through the gateway', () => {
  it('verifies the approver key itself: a statement signed by someone else is BAD_SIGNATURE', async () => {
    const b = await bench();
    const { request } = await openedRequest(b);
    const refusal = await b.refused('BAD_SIGNATURE', () => b.approve(request, 'lena', 'approver-console', { signer: 'leo' }), 'approval.rejected');
    expect(refusal.code).toBe('BAD_SIGNATURE');
    const { result } = await b.call(() => b.approve(request, 'lena', 'approver-console'));
    expect(result.ok).toBe(true);
  });

  it('attests a console session itself, and verifies a gateway attestation it is handed', async () => {
    const b = await bench();
    const { request } = await openedRequest(b);
    const approved = await b.ok(() => b.approve(request, 'lena', 'approver-console', { attestation: { kind: 'gateway' } }));
    expect(approved.quorum_met).toBe(true);
    const accepted = b.gateway.state.requests.get(request)?.approvals[0];
    expect(accepted).toMatchObject({ approver: 'lena', attestation: 'gateway', credential: 'cred-lena-approver-console' });
    const other = await openedRequest(b);
    await b.refused('BAD_SIGNATURE', () => b.approve(other.request, 'lena', 'approver-console', { attestation: { kind: 'gateway', signature: 'A'.repeat(86) } }));
  });

  it('refuses a gateway attestation where the class wants a key: ATTESTATION_REQUIRED', async () => {
    const b = await bench();
    await snapshotTaken(b);
    const { request } = await openedRequest(b, [clearStep()]);
    await b.refused('ATTESTATION_REQUIRED', () => b.approve(request, 'lena', 'approver-console', { attestation: { kind: 'gateway' } }));
  });

  it('refuses the independence breaches, each with its code', async () => {
    const b = await bench();
    const { request } = await openedRequest(b);
    await b.refused('AGENT_CANNOT_APPROVE', () => b.approve(request, 'payments-copilot', 'approver-console'), 'approval.rejected');
    await b.refused('SELF_APPROVAL', () => b.approve(request, 'olivia', 'approver-console'));
    await b.refused('SURFACE_NOT_ALLOWED', () => b.approve(request, 'lena', 'copilot-console'));
    await b.refused('CREDENTIAL_REUSED', () => b.approve(request, 'lena', 'approver-console', { credential: COPILOT.credential }));
    await b.refused('ROLE_NOT_ELIGIBLE', () => b.approve(request, 'fatima', 'approver-console'));
    await b.refused('STATEMENT_MISMATCH', () => b.approve(request, 'lena', 'approver-console', { asCaller: caller('leo', 'approver-console') }));
    await b.refused('BUNDLE_CHANGED', () => b.approve(request, 'lena', 'approver-console', { statement: { bundle_id: 'sha256:other' } }));
    await b.refused('DIGEST_MISMATCH', () => b.approve(request, 'lena', 'approver-console', { statement: { step_digest: `sha256:${'1'.repeat(64)}` } }));
    // a stranger has no roster key: only a console session gets that far
    await b.refused('UNKNOWN_APPROVER', () => b.approve(request, 'mallory', 'approver-console', { attestation: { kind: 'gateway' } }));
    await b.refused('REQUEST_UNKNOWN', () => b.approve('request-404', 'lena', 'approver-console'));
    const forLena = await openedRequest(b, [restartStep()], 'lena');
    await b.refused('REPORTS_TO_REQUESTER', () => b.approve(forLena.request, 'olivia', 'approver-console'));
  });

  it('refuses a second signature by the same approver: DUPLICATE_APPROVER', async () => {
    const b = await bench();
    await snapshotTaken(b);
    const { request } = await openedRequest(b, [clearStep()]);
    await b.ok(() => b.approve(request, 'lena', 'signed-cli'));
    await b.refused('DUPLICATE_APPROVER', () => b.approve(request, 'lena', 'approver-console'));
  });

  it('closes a request on one eligible denial, and records an expiry: REQUEST_CLOSED, REQUEST_EXPIRED', async () => {
    const b = await bench();
    const { request } = await openedRequest(b);
    const denied = await b.ok(() => b.approve(request, 'leo', 'approver-console', { decision: 'deny' }));
    expect(denied.status).toBe('denied');
    await b.refused('REQUEST_CLOSED', () => b.approve(request, 'lena', 'approver-console'));
    const late = await openedRequest(b);
    b.advance(16 * MINUTE);
    const { entries } = await b.call(() => b.approve(late.request, 'lena', 'approver-console'));
    expect(entries.map((e) => e.type)).toEqual(['approval.rejected', 'request.expired']);
    b.provoked.add('REQUEST_EXPIRED');
    expect(b.gateway.state.requests.get(late.request)?.status).toBe('expired');
  });

  it('refuses deny() with a statement that approves, before recording anything', async () => {
    const b = await bench();
    const { request } = await openedRequest(b);
    const before = b.gateway.size;
    const statement = { request, step_digest: `sha256:${'0'.repeat(64)}`, bundle_id: 'b', decision: 'approve', approver: 'lena', surface: 'approver-console', reason: '', signed_at: '2025-06-01T09:12:00.000Z' };
    await expect(b.gateway.deny(LENA, { statement, attestation: { kind: 'gateway' } })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(b.gateway.approve(LENA, { statement: { ...statement, extra: 1 }, attestation: { kind: 'gateway' } })).rejects.toMatchObject({ code: 'STATEMENT_INVALID' });
    expect(b.gateway.size).toBe(before);
  });

  it('expires open requests from the timer', async () => {
    const b = await bench();
    const { request } = await openedRequest(b);
    expect((await b.ok((g) => g.expire())).expired_requests).toEqual([]);
    b.advance(15 * MINUTE);
    expect((await b.ok((g) => g.expire())).expired_requests).toEqual([request]);
  });
});

describe('grants as JWS', () => {
  it('consumes once; the same JWS again is GRANT_USED', async () => {
    const b = await bench();
    const { grant, step } = await grantedRestart(b);
    const first = await b.ok(() => b.execute(grant, { step: restartStep() }));
    expect(b.gateway.state.executions.get(first.execution)?.step).toBe(step);
    await b.refused('GRANT_USED', () => b.execute(grant), 'grant.rejected');
  });

  it('refuses a tampered token before reading a claim: BAD_SIGNATURE, and the grant stays unused', async () => {
    const b = await bench();
    const { grant } = await grantedRestart(b);
    const token = b.tokens.get(grant) ?? '';
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, target: 'ledger-worker' })).toString('base64url');
    await b.refused('BAD_SIGNATURE', () => b.execute(grant, { token: `${header}.${forged}.${signature}` }), 'authority.rejected');
    // a flipped signature bit, `alg: none`, garbage, and a token signed by another key
    const flipped = signature.startsWith('A') ? `B${signature.slice(1)}` : `A${signature.slice(1)}`;
    await b.refused('BAD_SIGNATURE', () => b.execute(grant, { token: `${header}.${payload}.${flipped}` }));
    const none = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    await b.refused('BAD_SIGNATURE', () => b.execute(grant, { token: `${none}.${payload}.` }));
    await b.refused('BAD_SIGNATURE', () => b.execute(grant, { token: 'not a token' }));
    await b.refused('BAD_SIGNATURE', () => b.execute(grant, { token: 'x'.repeat(10_000) }));
    const stranger = await signGrantToken(claims as never, gatewayKey(), b.gateway.keyId);
    await b.refused('BAD_SIGNATURE', () => b.execute(grant, { token: stranger }));
    expect(b.gateway.state.grants.get(grant)?.status).toBe('issued');
    await b.ok(() => b.execute(grant));
  });

  it('re-checks at execution: DIGEST_MISMATCH, GRANT_EXPIRED, HOLD_ACTIVE, GRANT_REVOKED, HALT_ACTIVE, BUNDLE_CHANGED', async () => {
    const b = await bench();
    const { grant } = await grantedRestart(b);
    await b.refused('DIGEST_MISMATCH', () => b.execute(grant, { step: restartStep({ params: { strategy: 'immediate' } }) }));
    const hold = (await b.ok<HoldResult>((g) => g.openHold(LENA, { trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE }))).hold;
    await b.refused('HOLD_ACTIVE', () => b.execute(grant));
    await b.ok((g) => g.liftHold(PRIYA, { hold }));
    b.advance(10 * MINUTE);
    await b.refused('GRANT_EXPIRED', () => b.execute(grant));

    const second = await grantedRestart(b);
    const halted = await b.ok((g) => g.halt(SAM, { scope: { kind: 'environment', environment: 'prod' }, reason: 'stop everything' }));
    expect(halted.revoked_grants).toEqual([second.grant]);
    await b.refused('GRANT_REVOKED', () => b.execute(second.grant));
    const snap = (await b.ok(() => b.propose([snapshotStep()]))).steps[0]?.grant?.jti ?? '';
    await b.refused('HALT_ACTIVE', () => b.execute(snap));
    await b.ok((g) => g.liftHalt(SAM, { halt: halted.halt }));

    const third = await grantedRestart(b);
    const next = compileBundle({ ...examplePolicy().bundle, description: 'next version' });
    const activated = await b.activate(next);
    // the snapshot granted during the halt is still unused, and goes with it
    expect(activated.revoked_grants).toEqual([snap, third.grant]);
    await b.refused('BUNDLE_CHANGED', () => b.execute(third.grant));
  });

  it('refuses a token for a grant this ledger never issued: GRANT_UNKNOWN', async () => {
    const b = await bench();
    const { grant } = await grantedRestart(b);
    const claims = await b.gateway.verifyGrant(b.tokens.get(grant) ?? '');
    if (claims === null) throw new Error('the gateway must verify its own token');
    const token = await b.tokenFor({ ...claims, jti: 'grant-404' });
    await b.refused('GRANT_UNKNOWN', (g) => g.execute(COPILOT, { token }), 'grant.rejected');
  });

  it('accepts one outcome, from the executor: EXECUTION_UNKNOWN, NOT_EXECUTOR, OUTCOME_ALREADY_REPORTED', async () => {
    const b = await bench();
    const { grant } = await grantedRestart(b);
    const { execution } = await b.ok(() => b.execute(grant));
    await b.refused('EXECUTION_UNKNOWN', (g) => g.reportOutcome(COPILOT, { execution: 'execution-404', outcome: 'succeeded' }), 'authority.rejected');
    await b.refused('NOT_EXECUTOR', (g) => g.reportOutcome(LENA, { execution, outcome: 'succeeded' }));
    await b.ok((g) => g.reportOutcome(COPILOT, { execution, outcome: 'ambiguous', detail: 'pool restarted, backlog unchanged' }));
    await b.refused('OUTCOME_ALREADY_REPORTED', (g) => g.reportOutcome(COPILOT, { execution, outcome: 'succeeded' }));
  });
});

describe('holds through the gateway', () => {
  it('only roles the policy names open and lift holds; agents never', async () => {
    const b = await bench();
    const open = { trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE };
    await b.refused('AGENT_CANNOT_HOLD', (g) => g.openHold(COPILOT, open), 'hold.rejected');
    await b.refused('UNKNOWN_PRINCIPAL', (g) => g.openHold(caller('mallory', 'signed-cli'), open));
    await b.refused('ROLE_NOT_ELIGIBLE', (g) => g.openHold(caller('fatima', 'signed-cli'), open));
    await b.refused('UNKNOWN_TRIP_GATE', (g) => g.openHold(LENA, { ...open, trip_gate: 'K9' }));
    await b.refused('HOLD_SCOPE_INVALID', (g) => g.openHold(LENA, { ...open, scope: { environments: ['Prod'] } }));
    // a wildcard would be matched literally and hold nothing: refused, not accepted
    await b.refused('HOLD_SCOPE_INVALID', (g) => g.openHold(LENA, { ...open, scope: { environments: ['prod'], targets: ['payments-queue/shard-*'] } }), 'hold.rejected');
    await b.refused('EVIDENCE_INVALID', (g) => g.openHold(LENA, { ...open, evidence_hash: 'sha256:short' }));
    const hold = (await b.ok((g) => g.openHold(caller('olivia', 'copilot-console'), open))).hold;
    await b.refused('HOLD_UNKNOWN', (g) => g.addEvidence(LENA, { hold: 'hold-404', evidence_hash: EVIDENCE_2 }));
    await b.ok((g) => g.liftHold(PRIYA, { hold }));
    await b.refused('HOLD_NOT_OPEN', (g) => g.liftHold(PRIYA, { hold }));
  });

  it('holds mutations at decision time and keeps read-only diagnosis running', async () => {
    const b = await bench();
    await b.ok((g) => g.openHold(LENA, { trip_gate: 'K2', scope: { environments: ['prod'], classes: ['write', 'destructive'] }, evidence_hash: EVIDENCE }));
    const r = await b.ok(() => b.propose([restartStep(), inspectStep(), snapshotStep()]));
    expect(r.steps.map((s) => s.effect)).toEqual(['held', 'allow', 'held']);
    await b.ok(() => b.execute(r.steps[1]?.grant?.jti ?? ''));
  });
});

describe('a step runs at most once through the gateway (issue 17)', () => {
  /** The restart proposed with its rollback registered; its request is open. */
  async function openRestart(b: GatewayBench): Promise<{ request: string; step: string; digest: string; artifact: string }> {
    const s = (await b.ok(() => b.propose([restartStep()]))).steps[0];
    if (!s?.request || !s.digest) throw new Error('the restart in prod needs approval');
    const artifact = (await b.ok((g) => g.registerRollback(OLIVIA_CONSOLE, { step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' }))).artifact;
    return { request: s.request, step: s.step, digest: s.digest, artifact };
  }

  it('way 1: a lease runs the step while its request is open; the request is voided, the approval refused, no second run', async () => {
    const b = await bench();
    const r = await openRestart(b);
    const lease = leaseOf((await override(b, overrideDraft(b, null, r.digest, r.artifact))).result);
    const { result, entries } = await b.call((g) => g.executeWithLease(COPILOT, { lease, step: r.step }));
    expect(result.ok).toBe(true);
    expect(entries.map((e) => e.type)).toEqual(['lease.used', 'request.voided']);
    await b.refused('REQUEST_CLOSED', () => b.approve(r.request, 'fatima', 'approver-console'), 'approval.rejected');
    expect(b.gateway.state.steps.get(r.step)?.executions).toHaveLength(1);
  });

  it('way 1, approved first: the lease revokes the live grant in its commit; the grant token is then refused', async () => {
    const b = await bench();
    const r = await openRestart(b);
    const approved = await b.ok(() => b.approve(r.request, 'lena', 'approver-console'));
    const jti = approved.grant?.jti ?? '';
    const lease = leaseOf((await override(b, overrideDraft(b, null, r.digest, r.artifact))).result);
    const used = await b.call((g) => g.executeWithLease(COPILOT, { lease, step: r.step }));
    expect(used.entries.map((e) => e.type)).toEqual(['lease.used', 'grant.revoked']);
    await b.refused('STEP_ALREADY_EXECUTED', () => b.execute(jti), 'grant.rejected');
    expect(b.gateway.state.steps.get(r.step)?.executions).toHaveLength(1);
  });

  it('way 2: grant live, hold opened, lease used, hold lifted: the grant is refused', async () => {
    const b = await bench();
    const r = await openRestart(b);
    const jti = (await b.ok(() => b.approve(r.request, 'lena', 'approver-console'))).grant?.jti ?? '';
    const hold = (await b.ok((g) => g.openHold(LENA, { trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE }))).hold;
    const lease = leaseOf((await override(b, overrideDraft(b, hold, r.digest, r.artifact))).result);
    await b.ok((g) => g.executeWithLease(COPILOT, { lease, step: r.step }));
    await b.ok((g) => g.liftHold(PRIYA, { hold }));
    await b.refused('STEP_ALREADY_EXECUTED', () => b.execute(jti), 'grant.rejected');
    expect(b.gateway.state.steps.get(r.step)?.executions).toHaveLength(1);
  });

  it('a lease cannot re-run a step its grant ran: the lease entry is retired in the grant\'s commit', async () => {
    const b = await bench();
    const r = await openRestart(b);
    const jti = (await b.ok(() => b.approve(r.request, 'lena', 'approver-console'))).grant?.jti ?? '';
    const lease = leaseOf((await override(b, overrideDraft(b, null, r.digest, r.artifact))).result);
    const ran = await b.call(() => b.execute(jti));
    expect(ran.entries.map((e) => e.type)).toEqual(['grant.consumed', 'lease.step_retired']);
    await b.refused('STEP_ALREADY_EXECUTED', (g) => g.executeWithLease(COPILOT, { lease, step: r.step }), 'lease.rejected');
  });

  it('a lease is usable until one millisecond before valid_to: at valid_to and after it is O3_CLOCK_BREACH', async () => {
    const b = await bench();
    const first = await openRestart(b);
    const s2 = (await b.ok(() => b.propose([restartStep({ target: 'ledger-worker' })]))).steps[0];
    if (!s2?.digest) throw new Error('second restart');
    const a2 = (await b.ok((g) => g.registerRollback(OLIVIA_CONSOLE, { step: s2.step, action: 'workers.rollback_pool', target: 'ledger-worker' }))).artifact;
    const draft1 = overrideDraft(b, null, first.digest, first.artifact);
    const lease1 = leaseOf((await override(b, draft1)).result);
    const draft2 = overrideDraft(b, null, s2.digest, a2, { scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['ledger-worker'] } });
    const lease2 = leaseOf((await override(b, draft2)).result);
    const validTo = Date.parse(draft1.valid_to);
    expect(Date.parse(draft2.valid_to)).toBe(validTo);

    b.advance(validTo - 1 - b.now);
    await b.ok((g) => g.executeWithLease(COPILOT, { lease: lease1, step: first.step }));
    b.advance(1);
    expect(b.now).toBe(validTo);
    const atEnd = await b.call((g) => g.executeWithLease(COPILOT, { lease: lease2, step: s2.step }));
    expect(atEnd.result).toMatchObject({ ok: false, code: 'O3_CLOCK_BREACH' });
    expect(atEnd.entries.at(-1)).toMatchObject({ type: 'lease.clock_breach', payload: { attempted_at: draft1.valid_to, incident_flag: true } });
    b.advance(1);
    const after = await b.call((g) => g.executeWithLease(COPILOT, { lease: lease2, step: s2.step }));
    expect(after.result).toMatchObject({ ok: false, code: 'O3_CLOCK_BREACH' });
    expect(b.gateway.state.steps.get(s2.step)?.executions).toEqual([]);
  });

  it('a hold scoped to one target stops grants and leases for that target at execution, and not for another', async () => {
    const b = await bench();
    // two granted restarts, one per target, and a lease for each
    const inside = await grantedRestart(b);
    const { request, step } = await openedRequest(b, [restartStep({ target: 'ledger-worker' })]);
    await b.ok(() => b.approve(request, 'lena', 'approver-console'));
    const outsideGrant = (await b.ok((g) => g.registerRollback(OLIVIA_CONSOLE, { step, action: 'workers.rollback_pool', target: 'ledger-worker' }))).grant?.jti ?? '';
    const hold = await b.ok((g) => g.openHold(LENA, { trip_gate: 'K1', scope: { environments: ['prod'], targets: ['payments-worker'] }, evidence_hash: EVIDENCE }));
    await b.refused('HOLD_ACTIVE', () => b.execute(inside.grant), 'grant.rejected');
    await b.ok(() => b.execute(outsideGrant));
    await b.ok((g) => g.liftHold(PRIYA, { hold: hold.hold }));

    // leases: a second pair of steps, unlocked without a hold, then a target hold opened
    const s1 = await openRestart(b);
    const s2 = (await b.ok(() => b.propose([restartStep({ target: 'ledger-worker' })]))).steps[0];
    if (!s2?.digest) throw new Error('second restart');
    const a2 = (await b.ok((g) => g.registerRollback(OLIVIA_CONSOLE, { step: s2.step, action: 'workers.rollback_pool', target: 'ledger-worker' }))).artifact;
    const l1 = leaseOf((await override(b, overrideDraft(b, null, s1.digest, s1.artifact), { extra: 'priya' })).result);
    const l2 = leaseOf((await override(b, overrideDraft(b, null, s2.digest, a2, { scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['ledger-worker'] } }), { extra: 'priya' })).result);
    await b.ok((g) => g.openHold(LENA, { trip_gate: 'K1', scope: { environments: ['prod'], targets: ['payments-worker'] }, evidence_hash: EVIDENCE_2 }));
    await b.refused('HOLD_ACTIVE', (g) => g.executeWithLease(COPILOT, { lease: l1, step: s1.step }), 'lease.rejected');
    await b.ok((g) => g.executeWithLease(COPILOT, { lease: l2, step: s2.step }));
  });
});

describe('override leases through the gateway', () => {
  it('grants a lease to two independent signers; it runs its step once, inside its window', async () => {
    const b = await bench();
    const held = await heldRestart(b);
    const { result } = await override(b, overrideDraft(b, held.hold, held.digest, held.artifact));
    if (!result.ok) throw new Error(`override refused: ${result.code}`);
    const lease = result.lease;
    b.advance(MINUTE);
    await b.ok((g) => g.executeWithLease(COPILOT, { lease, step: held.step, presented: restartStep() }));
    await b.refused('STEP_ALREADY_EXECUTED', (g) => g.executeWithLease(COPILOT, { lease, step: held.step }), 'lease.rejected');
    // the same restart proposed again is another step with the same digest: the lease unlocks each digest once
    const again = (await b.ok(() => b.propose([restartStep()]))).steps[0];
    expect(again?.digest).toBe(held.digest);
    await b.refused('LEASE_STEP_USED', (g) => g.executeWithLease(COPILOT, { lease, step: again?.step ?? '' }), 'lease.rejected');
    await b.refused('LEASE_UNKNOWN', (g) => g.executeWithLease(COPILOT, { lease: 'lease-404', step: held.step }));
  });

  it('refuses every gate, each recorded: O1 to O7, BAD_SIGNATURE, OVERRIDE_*', async () => {
    const b = await bench();
    const held = await heldRestart(b);
    const base = overrideDraft(b, held.hold, held.digest, held.artifact);
    const requested = await b.ok<RequestOverrideResult>((g) => g.requestOverride(caller('olivia', 'copilot-console'), base));
    await b.refused('O1_IDENTITY_COLLISION', (g) =>
      g.submitOverride(caller('olivia', 'copilot-console'), {
        override: requested.override,
        signatures: [b.sign(requested.body, 'a', 'olivia', 'copilot-console'), b.sign(requested.body, 'b', 'fatima', 'signed-cli')],
      }), 'override.denied');
    const expectGate = async (code: CommandCode, draft: OverrideDraft): Promise<void> => {
      const req = await b.ok<RequestOverrideResult>((g) => g.requestOverride(OLIVIA_CONSOLE, draft));
      await b.refused(code, (g) => g.submitOverride(LENA_CLI, { override: req.override, signatures: [b.sign(req.body, 'a', 'lena', 'signed-cli'), b.sign(req.body, 'b', 'fatima', 'signed-cli')] }), 'override.denied');
    };
    // O2 needs no signature to decide: refused when requested, before anyone signs
    await b.refused('O2_SCOPE_CREEP', (g) => g.requestOverride(OLIVIA_CONSOLE, { ...base, scope: { ...base.scope, targets: ['*'] } }), 'authority.rejected');
    await expectGate('O3_CLOCK_BREACH', { ...base, valid_from: new Date(b.now - 120 * MINUTE).toISOString(), valid_to: new Date(b.now - 60 * MINUTE).toISOString() });
    await expectGate('O4_MISSING_ROLLBACK', { ...base, rollback_artifact: 'artifact-404' });
    // a reason code the policy does not list: refused when requested too
    await b.refused('O5_NOT_ELIGIBLE', (g) => g.requestOverride(OLIVIA_CONSOLE, { ...base, reason_code: 'BECAUSE_I_SAID_SO' }), 'authority.rejected');
    await expectGate('O6_GATE_ACK_MISMATCH', { ...base, trip_gate_ack: 'K2' });
    await expectGate('O7_DURATION_EXCEEDED', { ...base, valid_to: new Date(b.now + 5 * 60 * MINUTE).toISOString() });
    // signer B's signature is signer A's: the gateway's gates verify each against its own signer's key
    const forged = await b.ok<RequestOverrideResult>((g) => g.requestOverride(OLIVIA_CONSOLE, base));
    const sigA = b.sign(forged.body, 'a', 'lena', 'signed-cli');
    const sigB = { ...b.sign(forged.body, 'b', 'fatima', 'signed-cli'), signature: sigA.signature };
    await b.refused('BAD_SIGNATURE', (g) => g.submitOverride(LENA_CLI, { override: forged.override, signatures: [sigA, sigB] }));
    await b.refused('OVERRIDE_CLOSED', (g) => g.submitOverride(LENA_CLI, { override: forged.override, signatures: [sigA, sigB] }), 'authority.rejected');
    await b.refused('OVERRIDE_UNKNOWN', (g) => g.submitOverride(LENA_CLI, { override: 'override-404', signatures: [] }));
    await b.refused('OVERRIDE_INVALID', (g) => g.requestOverride(OLIVIA_CONSOLE, { ...base, valid_from: 'yesterday' }));
    await b.refused('AGENT_CANNOT_OVERRIDE', (g) => g.requestOverride(COPILOT, base));
    expect(b.gateway.state.leases.size).toBe(0);
  });

  it('demands an extra signer once the budget is spent: O8_BUDGET_EXHAUSTED', async () => {
    const b = await bench();
    const held = await heldRestart(b);
    const draft = (): OverrideDraft => overrideDraft(b, held.hold, held.digest, held.artifact);
    expect((await override(b, draft())).result.ok).toBe(true);
    expect((await override(b, draft())).result.ok).toBe(true);
    const { result, entries } = await override(b, draft());
    expect(result.ok).toBe(false);
    expect(entries.at(-1)?.type).toBe('override.denied');
    expect(entries.at(-1)?.payload['codes']).toContain('O8_BUDGET_EXHAUSTED');
    b.provoked.add('O8_BUDGET_EXHAUSTED');
    expect((await override(b, draft(), { extra: 'priya' })).result.ok).toBe(true);
  });

  it('refuses use outside the window and flags it, then is revoked by new evidence: O3_CLOCK_BREACH, O2_SCOPE_CREEP, LEASE_REVOKED', async () => {
    const b = await bench();
    const held = await heldRestart(b);
    const first = await override(b, overrideDraft(b, held.hold, held.digest, held.artifact));
    const lease = leaseOf(first.result);
    await b.refused('O2_SCOPE_CREEP', (g) => g.executeWithLease(COPILOT, { lease, step: held.step, presented: restartStep({ target: 'ledger-worker' }) }));
    b.advance(61 * MINUTE);
    const { entries } = await b.call((g) => g.executeWithLease(COPILOT, { lease, step: held.step }));
    expect(entries.at(-1)).toMatchObject({ type: 'lease.clock_breach', payload: { code: 'O3_CLOCK_BREACH', incident_flag: true } });
    const second = await override(b, overrideDraft(b, held.hold, held.digest, held.artifact));
    const lease2 = leaseOf(second.result);
    const evidence = await b.ok((g) => g.addEvidence(LENA, { hold: held.hold, evidence_hash: EVIDENCE_2 }));
    // the breached lease was still live: new evidence revokes both
    expect(evidence.revoked_leases).toEqual([lease, lease2]);
    await b.refused('LEASE_REVOKED', (g) => g.executeWithLease(COPILOT, { lease: lease2, step: held.step }));
  });

  it('re-checks prerequisites when a lease is used: PREREQUISITE_MISSING', async () => {
    const example = examplePolicy().bundle;
    const b = await bench(compileBundle({ ...example, actions: example.actions.map((a) => (a.id === 'queue.clear_shard' ? { ...a, override: { eligible: true } } : a)) }));
    await snapshotTaken(b);
    const clear = (await b.ok(() => b.propose([clearStep()]))).steps[0];
    if (!clear?.digest) throw new Error('clear');
    const artifact = (await b.ok((g) => g.registerRollback(OLIVIA_CONSOLE, { step: clear.step, action: 'queue.snapshot_shard', target: 'payments-queue/shard-7' }))).artifact;
    const granted = await override(b, { ...overrideDraft(b, null, clear.digest, artifact), scope: { environments: ['prod'], actions: ['queue.clear_shard'], targets: ['payments-queue/shard-7'] } });
    const lease = leaseOf(granted.result);
    b.advance(31 * MINUTE);
    await b.refused('PREREQUISITE_MISSING', (g) => g.executeWithLease(COPILOT, { lease, step: clear.step }));
  });
});

describe('rollback, halt and bundles through the gateway', () => {
  it('rollback authority runs a registered rollback once, without a new quorum', async () => {
    const b = await bench();
    const { grant, artifact } = await grantedRestart(b);
    await b.ok(() => b.execute(grant));
    await b.refused('AGENT_CANNOT_ROLLBACK', (g) => g.runRollback(COPILOT, { artifact }));
    await b.refused('ARTIFACT_UNKNOWN', (g) => g.runRollback(OLIVIA_CONSOLE, { artifact: 'artifact-404' }));
    const run = await b.ok((g) => g.runRollback(OLIVIA_CONSOLE, { artifact }));
    expect(b.gateway.state.executions.get(run.execution)?.via).toBe('rollback');
    await b.refused('ROLLBACK_NOT_READY', (g) => g.runRollback(OLIVIA_CONSOLE, { artifact }));
  });

  it('refuses registrations that cannot be a rollback, and runs outside the rollback environments', async () => {
    const b = await bench();
    const step = (await b.ok(() => b.propose([restartStep({ environment: 'dev' })]))).steps[0]?.step ?? '';
    const register = { step, action: 'workers.rollback_pool', target: 'payments-worker' };
    await b.refused('STEP_UNKNOWN', (g) => g.registerRollback(OLIVIA_CONSOLE, { ...register, step: 'proposal-9.0' }));
    await b.refused('ROLLBACK_INVALID', (g) => g.registerRollback(OLIVIA_CONSOLE, { ...register, action: 'workers.make_it_so' }));
    const { artifact } = await b.ok((g) => g.registerRollback(OLIVIA_CONSOLE, register));
    await b.refused('ENVIRONMENT_NOT_ALLOWED', (g) => g.runRollback(OLIVIA_CONSOLE, { artifact }));
  });

  it('halt needs halt authority; lifting needs an active halt', async () => {
    const b = await bench();
    await b.refused('AGENT_CANNOT_HALT', (g) => g.halt(COPILOT, { scope: { kind: 'all' } }));
    const h = (await b.ok((g) => g.halt(SAM, { scope: { kind: 'incident', incident: 'inc-1' } }))).halt;
    await b.refused('HALT_UNKNOWN', (g) => g.liftHalt(SAM, { halt: 'halt-404' }));
    await b.ok((g) => g.liftHalt(SAM, { halt: h }));
    await b.refused('HALT_NOT_ACTIVE', (g) => g.liftHalt(SAM, { halt: h }));
  });

  it('activation is governed: AGENT_CANNOT_ACTIVATE, BUNDLE_ALREADY_ACTIVE, RELEASE_REQUIRED; a release voids and re-decides pending requests', async () => {
    const b = await bench();
    const { request } = await openedRequest(b);
    const current = examplePolicy();
    await b.refused('AGENT_CANNOT_ACTIVATE', (g) => g.activateBundle(COPILOT, compileBundle({ ...current.bundle, description: 'x' })));
    await b.refused('BUNDLE_ALREADY_ACTIVE', (g) => g.activateBundle(PRIYA, current));
    const next = compileBundle({ ...current.bundle, description: 'next' });
    // the payments owner alone, and the on-call operator alone: refused and recorded
    await b.refused('RELEASE_REQUIRED', (g) => g.activateBundle(PRIYA, next), 'authority.rejected');
    await b.refused('RELEASE_REQUIRED', (g) => g.activateBundle(caller('olivia', 'copilot-console'), next), 'authority.rejected');
    expect(b.gateway.bundleId).toBe(current.bundleId);
    // a release: lena reports to priya, the proposer, so her signature does not count
    const diff = { replayed: 0, changed: 0, static_changes: 0, digest: `sha256:${'d'.repeat(64)}` };
    await b.refused('RELEASE_GOLDEN_FAILED', (g) => g.proposeRelease(PRIYA, { candidate: next, golden: { cases: 2, failed: 1, failures: ['x'], coverage_percent: 50, digest: `sha256:${'9'.repeat(64)}` }, goldenFiles: [], diff }));
    await b.refused('RELEASE_UNKNOWN', (g) => g.signRelease(caller('fatima', 'signed-cli'), { statement: { request: 'release-404', step_digest: `sha256:${'0'.repeat(64)}`, bundle_id: current.bundleId, decision: 'approve', approver: 'fatima', surface: 'signed-cli', reason: 'x', signed_at: new Date(b.now).toISOString() }, attestation: { kind: 'key', key_id: 'fatima-2025', signature: 'A'.repeat(86) } }), 'release.rejected');
    const activated = await b.activate(next);
    expect(activated.voided_requests).toEqual([request]);
    expect(b.gateway.bundleId).toBe(next.bundleId);
    const again = activated.redecided[0]?.request ?? '';
    expect(b.gateway.state.requests.get(again)?.bundle_id).toBe(next.bundleId);
    // the new bundle's request is approved under it, and the grant comes with its token
    await b.ok(() => b.approve(again, 'lena', 'approver-console'));
  });
});

describe('governed release through the gateway (issue 13)', () => {
  it('revokes a live grant by the activation itself, and signs no grant token for a step it decides again: the agent asks through status', async () => {
    const b = await bench();
    const before = await b.ok(() => b.propose([inspectStep()]));
    const old = before.steps[0]?.grant?.jti;
    expect(old).toBeDefined();
    // a status update to customers needs one approver in prod; the candidate lets it through
    const update = { action: 'comms.send_status_update', environment: 'prod', target: 'statuspage', params: { channel: 'statuspage', message: 'payments are delayed' } };
    const pending = await b.ok(() => b.propose([update]));
    expect(pending.steps[0]?.request).toBeTruthy();
    const bundle = b.gateway.policy!.bundle;
    const lowered = bundle.actions.map((a) => (a.id === 'comms.send_status_update' ? { ...a, risk: { ...a.risk, prod: 'low' } } : a));
    const activated = await b.activate(compileBundle({ ...bundle, actions: lowered }));
    expect(activated.revoked_grants).toEqual([old]);
    expect(b.gateway.state.grants.get(old ?? '')).toMatchObject({ status: 'revoked', revoked_reason: 'bundle_change' });
    // the granted step is not decided again (its agent proposes again); the step whose request was voided is
    expect(activated.redecided.map((s) => s.step)).toEqual([pending.steps[0]?.step]);
    const jti = activated.redecided[0]?.grant?.jti;
    expect(jti).toBeDefined();
    // no signature spent on a grant the signer's answer does not show
    expect(activated.tokens).toEqual({});
    // the grant is live under the bundle now in force: the status routes sign its token when the agent asks
    expect(b.gateway.state.grants.get(jti ?? '')).toMatchObject({ status: 'issued', bundle_id: b.gateway.bundleId });
  });

  it('refuses a candidate without golden cases where the release rules require them: RELEASE_GOLDEN_MISSING', async () => {
    const example = examplePolicy().bundle;
    const strict = compileBundle({ ...example, release: { approval: { quorum: [{ roles: ['finance-delegate', 'sre'], count: 2 }], surfaces: ['signed-cli'], attestation: 'key' }, golden: { required: true, min_coverage_percent: 50 } } });
    const b = await bench(strict);
    const diff = { replayed: 0, changed: 0, static_changes: 0, digest: `sha256:${'d'.repeat(64)}` };
    await b.refused('RELEASE_GOLDEN_MISSING', (g) => g.proposeRelease(PRIYA, { candidate: compileBundle({ ...example, description: 'loose' }), golden: null, goldenFiles: [], diff }), 'authority.rejected');
    expect(b.gateway.state.releases.size).toBe(0);
  });
});

describe('passkeys through the gateway (issue 14)', () => {
  /** Lena's statement approving `request`, and a passkey assertion over it by `passkey`. */
  function passkeyApproval(b: GatewayBench, request: string, passkey: SoftPasskey, edit: (signed: PasskeyAssertion) => PasskeyAssertion = (x) => x) {
    const record = b.gateway.state.requests.get(request)!;
    const statement = { request, step_digest: record.digest, bundle_id: record.bundle_id ?? '', decision: 'approve' as const, approver: 'lena', surface: 'approver-console', reason: 'checked', signed_at: new Date(b.now).toISOString() };
    const attestation = edit({ kind: 'passkey', credential_id: passkey.credentialId, ...passkey.assert(passkeyChallenge(statement)) });
    return (g: Gateway) => g.approve(LENA, { statement, attestation });
  }

  it('verifies a passkey signature against the registry: counted as lena’s own key, refused once revoked or forged', async () => {
    const b = await bench();
    const passkey = softPasskey('lena');
    await b.ok((g) => g.registerPasskey(LENA, { ...passkey.key }, null));
    await b.refused('PASSKEY_EXISTS', (g) => g.registerPasskey(PRIYA, { ...passkey.key }, null), 'authority.rejected');
    await b.refused('AGENT_CANNOT_REGISTER', (g) => g.registerPasskey(COPILOT, { ...softPasskey('payments-copilot').key }, null), 'authority.rejected');

    // a key-only class: the passkey fills lena's factor
    await snapshotTaken(b);
    const { request } = await openedRequest(b, [clearStep()]);
    // a signature over another statement than the one sent does not verify
    await b.refused('BAD_SIGNATURE', passkeyApproval(b, request, passkey, (a) => ({ ...a, signature: softPasskey('lena').assert('x').signature })), 'approval.rejected');
    const approved = await b.ok(passkeyApproval(b, request, passkey));
    expect(approved.remaining.length).toBe(1);
    expect(b.gateway.state.requests.get(request)?.approvals.at(-1)).toMatchObject({ approver: 'lena', attestation: 'passkey' });

    await b.refused('PASSKEY_NOT_YOURS', (g) => g.revokePasskey(SAM, passkey.credentialId), 'authority.rejected');
    await b.ok((g) => g.revokePasskey(LENA, passkey.credentialId));
    await b.refused('PASSKEY_UNKNOWN', (g) => g.revokePasskey(LENA, passkey.credentialId), 'authority.rejected');
    const other = await openedRequest(b);
    await b.refused('BAD_SIGNATURE', passkeyApproval(b, other.request, passkey), 'approval.rejected');
  });
});

afterAll(() => {
  // every refusal code was provoked through the gateway, returned and found recorded
  expect(COMMAND_CODES.filter((c) => !provoked.has(c))).toEqual([]);
});

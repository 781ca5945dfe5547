import { describe, expect, it } from 'vitest';
import { caller, clearStep, compileBundle, COPILOT, examplePolicy, ok, restartStep, snapshotStep, World } from '../../../../test/scenario/world.js';
import type { ExecutionResult } from './execute.js';
import { mayApprove } from './approve.js';

/**
 * `mayApprove` answers an inbox: may this caller approve this request now.
 * Its answer must be the approval command's: for every principal of the
 * example roster and every surface, eligible exactly when a statement they
 * sign is accepted, and otherwise led by the code the command refuses with.
 */

const policy = examplePolicy();
const PRINCIPALS = policy.bundle.principals.map((p) => p.id);
const SURFACES = policy.bundle.surfaces.map((s) => s.id);

/** The clear of shard 7 in prod after its snapshot: a lead and an owner or finance delegate, by key. */
function openClear(w: World): string {
  const snap = ok(w.propose([snapshotStep()])).steps[0]?.grant?.jti ?? '';
  const done = ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant: snap }));
  ok(w.run({ kind: 'outcome', caller: COPILOT, execution: done.execution, outcome: 'succeeded' }));
  const request = ok(w.propose([clearStep()])).steps[0]?.request;
  if (!request) throw new Error('the clear in prod needs approval');
  return request;
}

const scenarios: [string, (w: World) => string][] = [
  ['the restart, asked for olivia', (w) => ok(w.propose([restartStep()])).steps[0]?.request ?? ''],
  ['the restart, asked for priya (the leads report to her)', (w) => ok(w.propose([restartStep()], { on_behalf_of: 'priya' })).steps[0]?.request ?? ''],
  ['the clear, after leo approved through the signed CLI', (w) => {
    const request = openClear(w);
    ok(w.approve(request, 'leo', 'signed-cli'));
    return request;
  }],
];

describe('mayApprove', () => {
  for (const [name, open] of scenarios) {
    it(`agrees with the approval command for every principal and surface: ${name}`, () => {
      for (const principal of PRINCIPALS) {
        for (const surface of SURFACES) {
          const w = new World(policy);
          const request = open(w);
          const record = w.state.requests.get(request);
          if (!record) throw new Error('no request');
          const who = caller(principal, surface);
          const verdict = mayApprove(w.state, w.policy, who, record, w.now);
          const step = w.approve(request, principal, surface, { asCaller: who });
          const label = `${principal}@${surface}: ${verdict.reasons.join(', ')}`;
          expect(verdict.eligible, label).toBe(step.result.ok);
          if (!step.result.ok) expect(verdict.reasons[0], label).toBe(step.result.code);
        }
      }
    });
  }

  it('names the reasons a requester has, and says an approver already counted has signed', () => {
    const w = new World(policy);
    const request = openClear(w);
    const record = () => w.state.requests.get(request)!;
    expect(mayApprove(w.state, w.policy, caller('olivia', 'copilot-console'), record(), w.now).reasons).toEqual(['SELF_APPROVAL', 'SURFACE_NOT_ALLOWED', 'ROLE_NOT_ELIGIBLE']);
    ok(w.approve(request, 'leo', 'signed-cli'));
    expect(mayApprove(w.state, w.policy, caller('leo', 'approver-console'), record(), w.now)).toEqual({ eligible: false, reasons: ['DUPLICATE_APPROVER'] });
    expect(mayApprove(w.state, w.policy, caller('fatima', 'signed-cli'), record(), w.now)).toEqual({ eligible: true, reasons: [] });
  });

  it('refuses an agent before anything else, and everyone without the bundle in force', () => {
    const w = new World(policy);
    const request = ok(w.propose([restartStep()])).steps[0]?.request ?? '';
    const record = w.state.requests.get(request)!;
    expect(mayApprove(w.state, w.policy, COPILOT, record, w.now)).toEqual({ eligible: false, reasons: ['AGENT_CANNOT_APPROVE'] });
    expect(mayApprove(w.state, null, caller('leo', 'signed-cli'), record, w.now)).toEqual({ eligible: false, reasons: ['BUNDLE_CHANGED'] });
    expect(mayApprove(w.state, w.policy, caller('leo', 'signed-cli'), record, w.now)).toEqual({ eligible: true, reasons: [] });
  });

  it('refuses an agent before the request’s own state, and everyone under a bundle not in force, with that reason alone', () => {
    const w = new World(policy);
    const request = ok(w.propose([restartStep()])).steps[0]?.request ?? '';
    ok(w.approve(request, 'leo', 'approver-console', { decision: 'deny' }));
    const record = w.state.requests.get(request)!;
    expect(mayApprove(w.state, w.policy, COPILOT, record, w.now)).toEqual({ eligible: false, reasons: ['AGENT_CANNOT_APPROVE'] });
    // the denier is not an approver already counted: the request is closed, nothing more
    expect(mayApprove(w.state, w.policy, caller('leo', 'signed-cli'), record, w.now).reasons).toEqual(['REQUEST_CLOSED']);
    const open = w.state.requests.get(ok(w.propose([restartStep({ target: 'ledger-worker' })])).steps[0]?.request ?? '')!;
    const other = compileBundle({ ...policy.bundle, description: 'not in force' });
    expect(mayApprove(w.state, other, caller('sam', 'signed-cli'), open, w.now)).toEqual({ eligible: false, reasons: ['BUNDLE_CHANGED'] });
  });
});

import type { LedgerEntry } from '../ledger/entry.js';

/**
 * One ledger entry as a line of an authority chain: what happened, in words,
 * and the codes that say why. The words are for people; the codes, rule ids,
 * seq and bundle id are the API.
 */

type Payload = LedgerEntry['payload'];

function str(p: Payload, key: string): string {
  const v = p[key];
  return typeof v === 'string' ? v : v === null || v === undefined ? '-' : JSON.stringify(v);
}

function strings(p: Payload, key: string): string[] {
  const v = p[key];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function list(items: readonly string[]): string {
  return items.length === 0 ? 'none' : items.join(', ');
}

/** `quorum 1 of incident-lead|payments-owner` from a requirements payload. */
function quorumText(requirements: unknown): string {
  if (typeof requirements !== 'object' || requirements === null) return 'no requirements';
  const r = requirements as { quorum?: { roles?: string[]; count?: number }[]; surfaces?: string[] };
  const factors = (r.quorum ?? []).map((f) => `${f.count ?? 0} of ${(f.roles ?? []).join('|')}`);
  if (factors.length === 0) return 'no approval needed';
  return `quorum ${factors.join(' + ')} via ${(r.surfaces ?? []).join('|') || 'no surface'}`;
}

function signerText(signers: unknown): string {
  if (!Array.isArray(signers)) return 'none';
  return (
    signers
      .map((s: { role?: string; principal?: string; surface?: string; signature_verified?: boolean }) => `${s.role ?? '?'}:${s.principal ?? '?'}@${s.surface ?? '?'} (${s.signature_verified ? 'verified' : 'NOT verified'})`)
      .join(', ') || 'none'
  );
}

function scopeText(scope: unknown): string {
  if (typeof scope !== 'object' || scope === null) return 'everything';
  const parts = Object.entries(scope as Record<string, unknown>)
    .filter(([, v]) => Array.isArray(v) && v.length > 0)
    .map(([k, v]) => `${k} ${(v as string[]).join('|')}`);
  return parts.length === 0 ? 'everything' : parts.join(', ');
}

/** The reason codes an entry carries: decision reasons, a refusal code, every failing override gate. */
export function entryCodes(entry: LedgerEntry): string[] {
  const p = entry.payload;
  switch (entry.type) {
    case 'step.decided':
      return strings(p, 'reasons');
    case 'override.denied':
      return strings(p, 'codes');
    default:
      return typeof p['code'] === 'string' ? [p['code']] : [];
  }
}

export function entryRuleIds(entry: LedgerEntry): string[] {
  return strings(entry.payload, 'rule_ids');
}

/** What the entry records, in one line. */
export function describeEntry(entry: LedgerEntry): string {
  const p = entry.payload;
  switch (entry.type) {
    case 'bundle.activated':
      return `bundle ${str(p, 'name')} ${str(p, 'bundle_id')} activated${p['previous_bundle_id'] ? `, replacing ${str(p, 'previous_bundle_id')}` : ''}`;
    case 'proposal.received': {
      const steps = Array.isArray(p['steps']) ? p['steps'].length : 0;
      return `proposal ${str(p, 'proposal')} from ${str(p, 'agent')} on behalf of ${str(p, 'on_behalf_of')} via ${str(p, 'surface')}, ${steps} step${steps === 1 ? '' : 's'}${p['incident'] ? `, incident ${str(p, 'incident')}` : ''}`;
    }
    case 'step.decided':
      return `step ${str(p, 'step')} ${str(p, 'action')}@${str(p, 'environment')} ${str(p, 'target')} decided ${str(p, 'effect')}, risk ${str(p, 'risk')}, class ${str(p, 'class')}${p['redecided'] ? ` (decided again: ${str(p, 'redecided')})` : ''}`;
    case 'request.opened':
      return `request ${str(p, 'request')} opened for step ${str(p, 'step')}: ${quorumText(p['requirements'])}, expires ${str(p, 'expires_at')}`;
    case 'approval.accepted':
      return `${str(p, 'approver')} (${strings(p, 'roles').join('|') || 'no role'}) ${p['decision'] === 'deny' ? 'denies' : 'approves'} ${str(p, 'request')} via ${str(p, 'surface')}, attestation ${str(p, 'attestation')}${p['key_id'] ? ` ${str(p, 'key_id')}` : ''}, signature ${p['signature_verified'] ? 'verified' : 'NOT verified'}`;
    case 'approval.rejected':
      return `${str(p, 'approver')} tried to ${str(p, 'decision')} ${str(p, 'request')} via ${str(p, 'surface')}: refused, signature ${p['signature_verified'] ? 'verified' : 'NOT verified'}`;
    case 'request.approved':
      return `request ${str(p, 'request')} approved by ${list(strings(p, 'approvers'))}`;
    case 'request.denied':
      return `request ${str(p, 'request')} denied by ${str(p, 'denied_by')}: ${str(p, 'reason')}`;
    case 'request.expired':
      return `request ${str(p, 'request')} expired at ${str(p, 'expires_at')}`;
    case 'request.voided':
      return p['reason'] === 'step_executed'
        ? `request ${str(p, 'request')} voided: step ${str(p, 'step')} ran under another authority (execution ${str(p, 'execution')})`
        : `request ${str(p, 'request')} voided by bundle change to ${str(p, 'new_bundle_id')}`;
    case 'grant.issued':
      return `grant ${str(p, 'jti')} issued for step ${str(p, 'step')}${p['request'] ? ` on request ${str(p, 'request')}` : ' without a request'}, expires ${str(p, 'expires_at')}`;
    case 'grant.consumed':
      return `grant ${str(p, 'jti')} consumed: execution ${str(p, 'execution')} of step ${str(p, 'step')} on ${str(p, 'target')}@${str(p, 'environment')}`;
    case 'grant.rejected':
      return `grant ${str(p, 'jti')} presented: refused`;
    case 'grant.revoked':
      return `grant ${str(p, 'jti')} revoked (${str(p, 'reason')} ${str(p, 'cause')})`;
    case 'execution.outcome':
      return `execution ${str(p, 'execution')} ${str(p, 'outcome')}${p['detail'] ? `: ${str(p, 'detail')}` : ''}`;
    case 'hold.opened':
      return `hold ${str(p, 'hold')} opened, trip gate ${str(p, 'trip_gate')}, scope ${scopeText(p['scope'])}: ${str(p, 'reason')}`;
    case 'hold.evidence_added':
      return `hold ${str(p, 'hold')} evidence added ${str(p, 'evidence_hash')}`;
    case 'hold.lifted':
      return `hold ${str(p, 'hold')} lifted: ${str(p, 'reason')}`;
    case 'hold.rejected':
      return `${str(p, 'operation').replace('_', ' ')}${p['hold'] ? ` ${str(p, 'hold')}` : ''}: refused`;
    case 'override.requested': {
      const body = (p['body'] ?? {}) as Payload;
      return `override ${str(p, 'override')} requested for ${strings(p, 'step_digests').length} step(s), reason ${str(body, 'reason_code')}, window ${str(body, 'valid_from')} to ${str(body, 'valid_to')}, rollback ${str(body, 'rollback_ref')}${p['hold'] ? `, hold ${str(p, 'hold')}` : ''}`;
    }
    case 'override.granted':
      return `override ${str(p, 'override')} granted as lease ${str(p, 'lease')}, reason ${str(p, 'reason_code')}, ${str(p, 'valid_from')} to ${str(p, 'valid_to')}, signers ${signerText(p['signers'])}`;
    case 'override.denied':
      return `override ${str(p, 'override')} denied, signers ${signerText(p['signers'])}`;
    case 'lease.used':
      return `lease ${str(p, 'lease')} used: execution ${str(p, 'execution')} of step ${str(p, 'step')}`;
    case 'lease.rejected':
      return `lease ${str(p, 'lease')} presented${p['step'] ? ` for step ${str(p, 'step')}` : ''}: refused`;
    case 'lease.revoked':
      return `lease ${str(p, 'lease')} revoked (${str(p, 'reason')} ${str(p, 'cause')})`;
    case 'lease.step_retired':
      return `lease ${str(p, 'lease')} retired for step ${str(p, 'step')}: it ran under another authority (execution ${str(p, 'execution')})`;
    case 'lease.clock_breach':
      return `lease ${str(p, 'lease')} used at ${str(p, 'attempted_at')} outside ${str(p, 'valid_from')} to ${str(p, 'valid_to')}: refused, flagged for incident review`;
    case 'rollback.registered':
      return `rollback ${str(p, 'artifact')} registered for step ${str(p, 'reverses_step')}: ${str(p, 'action')} on ${str(p, 'target')}@${str(p, 'environment')}`;
    case 'rollback.executed':
      return `rollback ${str(p, 'artifact')} run: execution ${str(p, 'execution')} reverses step ${str(p, 'reverses_step')}`;
    case 'halt.issued':
      return `halt ${str(p, 'halt')} issued, scope ${scopeText(p['scope'])}: ${str(p, 'reason')}`;
    case 'halt.lifted':
      return `halt ${str(p, 'halt')} lifted: ${str(p, 'reason')}`;
    case 'authority.rejected':
      return `${str(p, 'operation').replace('_', ' ')}${p['target_id'] ? ` ${str(p, 'target_id')}` : ''}: refused`;
    default:
      return entry.type;
  }
}

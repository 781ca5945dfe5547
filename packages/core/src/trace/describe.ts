import type { HaltScopeData, HoldScopeData, RequirementsData, SignerData } from '../state/entries.js';
import type { AuthorityEntry } from '../state/parse.js';

/**
 * One ledger entry as a line of an authority chain: what happened, in words,
 * and the codes that say why. The words are for people; the codes, rule ids,
 * seq and bundle id are the API. Entries arrive parsed (state/parse.ts):
 * every field read here is the type the catalog says.
 */

function list(items: readonly string[]): string {
  return items.length === 0 ? 'none' : items.join(', ');
}

/** `-` for a field the entry records as null. */
function orDash(value: string | null): string {
  return value ?? '-';
}

/** `quorum 1 of incident-lead|payments-owner via signed-cli` from a request's requirements. */
function quorumText(r: RequirementsData): string {
  const factors = r.quorum.map((f) => `${f.count} of ${f.roles.join('|')}`);
  if (factors.length === 0) return 'no approval needed';
  return `quorum ${factors.join(' + ')} via ${r.surfaces.join('|') || 'no surface'}`;
}

function signerText(signers: readonly SignerData[]): string {
  return signers.map((s) => `${s.role}:${s.principal}@${s.surface} (${s.signature_verified ? 'verified' : 'NOT verified'})`).join(', ') || 'none';
}

/** The non-empty lists of a hold's scope, in the canonical (sorted) key order the ledger's bytes hold them. */
function scopeText(scope: HoldScopeData): string {
  const parts = (['actions', 'classes', 'environments', 'targets'] as const)
    .map((key) => [key, scope[key]] as const)
    .filter(([, values]) => values.length > 0)
    .map(([key, values]) => `${key} ${values.join('|')}`);
  return parts.length === 0 ? 'everything' : parts.join(', ');
}

/** The grants an activation or a halt revoked by itself (ADR 006 decision 4); nothing for none, or an older entry. */
function revokedText(count: number | undefined): string {
  return count === undefined || count === 0 ? '' : `, revoking the ${count} live grant${count === 1 ? '' : 's'}`;
}

function haltScopeText(scope: HaltScopeData): string {
  switch (scope.kind) {
    case 'all':
      return 'everything';
    case 'environment':
      return `environment ${scope.environment}`;
    case 'incident':
      return `incident ${scope.incident}`;
  }
}

/** The reason codes an entry carries: decision reasons, a refusal code, every failing override gate. */
export function entryCodes(entry: AuthorityEntry): readonly string[] {
  switch (entry.type) {
    case 'step.decided':
      return entry.payload.reasons;
    case 'override.denied':
      return entry.payload.codes;
    case 'release.rejected':
    case 'approval.rejected':
    case 'grant.rejected':
    case 'hold.rejected':
    case 'lease.rejected':
    case 'lease.clock_breach':
    case 'authority.rejected':
      return [entry.payload.code];
    default:
      return [];
  }
}

/**
 * The rule ids that decided an entry; null for the entries that record no
 * authority decision and so cite no rule: a proposal as received, an
 * expiry, a void, an outcome as reported.
 */
export function citedRuleIds(entry: AuthorityEntry): readonly string[] | null {
  switch (entry.type) {
    case 'proposal.received':
    case 'request.expired':
    case 'request.voided':
    case 'execution.outcome':
    case 'passkey.registered':
    case 'passkey.revoked':
      return null;
    default:
      return entry.payload.rule_ids;
  }
}

export function entryRuleIds(entry: AuthorityEntry): readonly string[] {
  return citedRuleIds(entry) ?? [];
}

/** The credential the caller used: the trace field of every payload that records a call. */
export function entryCredential(entry: AuthorityEntry): string | null {
  switch (entry.type) {
    case 'request.opened':
    case 'request.approved':
    case 'request.denied':
    case 'request.expired':
    case 'request.voided':
    case 'grant.issued':
    case 'grant.revoked':
    case 'lease.revoked':
    case 'lease.step_retired':
      return null;
    default:
      return entry.payload.credential;
  }
}

/** What the entry records, in one line. */
export function describeEntry(entry: AuthorityEntry): string {
  switch (entry.type) {
    case 'passkey.registered': {
      const p = entry.payload;
      const who = p.identity === null ? 'a token sign-in' : `${p.identity.subject} at ${p.identity.issuer}`;
      return `${p.principal} registered passkey ${p.credential_id} (COSE alg ${p.algorithm}) for ${p.origin}, signed in as ${who}`;
    }
    case 'passkey.revoked':
      return `passkey ${entry.payload.credential_id} of ${entry.payload.principal} revoked by ${entry.payload.revoked_by}`;
    case 'step.executed': {
      const p = entry.payload;
      return `step ${p.step} allowed and run in one call: execution ${p.execution} on ${p.target}@${p.environment}`;
    }
    case 'release.proposed': {
      const p = entry.payload;
      const golden = p.golden === null ? 'no golden cases' : `golden ${p.golden.cases - p.golden.failed}/${p.golden.cases} passed, coverage ${p.golden.coverage_percent}%`;
      return `release ${p.release} proposed: bundle ${p.name} ${p.candidate} to replace ${p.previous_bundle_id ?? 'none'}; ${golden}; ${p.diff.changed} of ${p.diff.replayed} recorded decisions would change`;
    }
    case 'release.signed': {
      const p = entry.payload;
      return `${p.approver} (${p.roles.join('|') || 'no role'}) ${p.decision === 'deny' ? 'denies' : 'signs'} release ${p.release} via ${p.surface}, attestation ${p.attestation}${p.key_id ? ` ${p.key_id}` : ''}, signature ${p.signature_verified ? 'verified' : 'NOT verified'}`;
    }
    case 'release.rejected': {
      const p = entry.payload;
      return `${p.approver} tried to ${p.decision === 'deny' ? 'deny' : 'sign'} release ${p.release} via ${p.surface}: refused`;
    }
    case 'bundle.activated': {
      const p = entry.payload;
      return `bundle ${p.name} ${p.bundle_id} activated${p.previous_bundle_id ? `, replacing ${p.previous_bundle_id}` : ''}${revokedText(p.grants_revoked)}`;
    }
    case 'proposal.received': {
      const p = entry.payload;
      const steps = p.steps.length;
      return `proposal ${p.proposal} from ${p.agent} on behalf of ${p.on_behalf_of} via ${p.surface}, ${steps} step${steps === 1 ? '' : 's'}${p.incident ? `, incident ${p.incident}` : ''}`;
    }
    case 'step.decided': {
      const p = entry.payload;
      return `step ${p.step} ${p.action}@${p.environment} ${p.target} decided ${p.effect}, risk ${orDash(p.risk)}, class ${orDash(p.class)}${p.redecided ? ` (decided again: ${p.redecided})` : ''}`;
    }
    case 'request.opened': {
      const p = entry.payload;
      return `request ${p.request} opened for step ${p.step}: ${quorumText(p.requirements)}, expires ${p.expires_at}`;
    }
    case 'approval.accepted': {
      const p = entry.payload;
      return `${p.approver} (${p.roles.join('|') || 'no role'}) ${p.decision === 'deny' ? 'denies' : 'approves'} ${p.request} via ${p.surface}, attestation ${p.attestation}${p.key_id ? ` ${p.key_id}` : ''}, signature ${p.signature_verified ? 'verified' : 'NOT verified'}`;
    }
    case 'approval.rejected': {
      const p = entry.payload;
      return `${p.approver} tried to ${p.decision} ${p.request} via ${p.surface}: refused, signature ${p.signature_verified ? 'verified' : 'NOT verified'}`;
    }
    case 'request.approved':
      return `request ${entry.payload.request} approved by ${list(entry.payload.approvers)}`;
    case 'request.denied':
      return `request ${entry.payload.request} denied by ${entry.payload.denied_by}: ${entry.payload.reason}`;
    case 'request.expired':
      return `request ${entry.payload.request} expired at ${entry.payload.expires_at}`;
    case 'request.voided': {
      const p = entry.payload;
      return p.reason === 'step_executed'
        ? `request ${p.request} voided: step ${p.step} ran under another authority (execution ${p.execution})`
        : `request ${p.request} voided by bundle change to ${p.new_bundle_id}`;
    }
    case 'grant.issued': {
      const p = entry.payload;
      return `grant ${p.jti} issued for step ${p.step}${p.request ? ` on request ${p.request}` : ' without a request'}, expires ${p.expires_at}`;
    }
    case 'grant.consumed': {
      const p = entry.payload;
      return `grant ${p.jti} consumed: execution ${p.execution} of step ${p.step} on ${p.target}@${p.environment}`;
    }
    case 'grant.rejected':
      return `grant ${entry.payload.jti} presented: refused`;
    case 'grant.revoked':
      return `grant ${entry.payload.jti} revoked (${entry.payload.reason} ${entry.payload.cause})`;
    case 'execution.outcome': {
      const p = entry.payload;
      return `execution ${p.execution} ${p.outcome}${p.detail ? `: ${p.detail}` : ''}`;
    }
    case 'hold.opened': {
      const p = entry.payload;
      return `hold ${p.hold} opened, trip gate ${p.trip_gate}, scope ${scopeText(p.scope)}: ${p.reason}`;
    }
    case 'hold.evidence_added':
      return `hold ${entry.payload.hold} evidence added ${entry.payload.evidence_hash}`;
    case 'hold.lifted':
      return `hold ${entry.payload.hold} lifted: ${entry.payload.reason}`;
    case 'hold.rejected':
      return `${entry.payload.operation.replace('_', ' ')}${entry.payload.hold ? ` ${entry.payload.hold}` : ''}: refused`;
    case 'override.requested': {
      const p = entry.payload;
      return `override ${p.override} requested for ${p.step_digests.length} step(s), reason ${p.body.reason_code}, window ${p.body.valid_from} to ${p.body.valid_to}, rollback ${p.body.rollback_ref}${p.hold ? `, hold ${p.hold}` : ''}`;
    }
    case 'override.granted': {
      const p = entry.payload;
      return `override ${p.override} granted as lease ${p.lease}, reason ${p.reason_code}, ${p.valid_from} to ${p.valid_to}, signers ${signerText(p.signers)}`;
    }
    case 'override.denied':
      return `override ${entry.payload.override} denied, signers ${signerText(entry.payload.signers)}`;
    case 'lease.used': {
      const p = entry.payload;
      return `lease ${p.lease} used: execution ${p.execution} of step ${p.step}`;
    }
    case 'lease.rejected':
      return `lease ${entry.payload.lease} presented${entry.payload.step ? ` for step ${entry.payload.step}` : ''}: refused`;
    case 'lease.revoked':
      return `lease ${entry.payload.lease} revoked (${entry.payload.reason} ${entry.payload.cause})`;
    case 'lease.step_retired': {
      const p = entry.payload;
      return `lease ${p.lease} retired for step ${p.step}: it ran under another authority (execution ${p.execution})`;
    }
    case 'lease.clock_breach': {
      const p = entry.payload;
      return `lease ${p.lease} used at ${p.attempted_at} outside ${p.valid_from} to ${p.valid_to}: refused, flagged for incident review`;
    }
    case 'rollback.registered': {
      const p = entry.payload;
      return `rollback ${p.artifact} registered for step ${p.reverses_step}: ${p.action} on ${p.target}@${p.environment}`;
    }
    case 'rollback.executed': {
      const p = entry.payload;
      return `rollback ${p.artifact} run: execution ${p.execution} reverses step ${p.reverses_step}`;
    }
    case 'halt.issued':
      return `halt ${entry.payload.halt} issued, scope ${haltScopeText(entry.payload.scope)}${revokedText(entry.payload.grants_revoked)}: ${entry.payload.reason}`;
    case 'halt.lifted':
      return `halt ${entry.payload.halt} lifted: ${entry.payload.reason}`;
    case 'authority.rejected':
      return `${entry.payload.operation.replace('_', ' ')}${entry.payload.target_id ? ` ${entry.payload.target_id}` : ''}: refused`;
  }
}

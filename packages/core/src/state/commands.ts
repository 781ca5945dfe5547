import type { CompiledPolicy } from '../policy/compile.js';
import { approve, type ApprovalCommand, type ApprovalResult } from './approve.js';
import { activateBundle, type ActivateBundleCommand, type ActivateBundleResult } from './bundle.js';
import { draftsFor, openRequests, parseAt, type CommandContext, type CommandOutput } from './command.js';
import { consumeGrant, reportOutcome, useLease, type ConsumeCommand, type ExecutionResult, type OutcomeCommand, type OutcomeResult, type UseLeaseCommand } from './execute.js';
import { halt, liftHalt, type HaltCommand, type HaltResult, type LiftHaltCommand } from './halt.js';
import { addHoldEvidence, liftHold, openHold, type AddEvidenceCommand, type HoldResult, type LiftHoldCommand, type OpenHoldCommand } from './hold.js';
import {
  requestOverride,
  submitOverride,
  type RequestOverrideCommand,
  type RequestOverrideResult,
  type SubmitOverrideCommand,
  type SubmitOverrideResult,
} from './override.js';
import { registerPasskey, revokePasskey, type PasskeyResult, type RegisterPasskeyCommand, type RevokePasskeyCommand } from './passkey.js';
import { propose, type ProposeCommand, type ProposeResult } from './propose.js';
import { approveRelease, proposeRelease, type ApproveReleaseCommand, type ApproveReleaseResult, type ProposeReleaseCommand, type ProposeReleaseResult } from './release.js';
import { registerRollback, runRollback, type RegisterRollbackCommand, type RegisterRollbackResult, type RunRollbackCommand, type RunRollbackResult } from './rollback.js';
import type { AuthorityState, RequestRecord } from './state.js';

/** Close open requests whose approval window has passed; run by the gateway's timer, not by a caller. */
export interface ExpireCommand {
  readonly kind: 'expire';
}

export interface ExpireResult {
  readonly ok: true;
  readonly expired_requests: readonly string[];
}

/** Whether a request's approval window has passed at `now`. An unreadable expiry counts as passed: fail closed. */
export function requestExpired(request: RequestRecord, now: number): boolean {
  const at = parseAt(request.expires_at);
  return !(Number.isFinite(at) && now < at);
}

export function expire(state: AuthorityState, _policy: CompiledPolicy | null, _command: ExpireCommand, ctx: CommandContext): CommandOutput<ExpireResult> {
  const d = draftsFor(state, null, ctx.now);
  const expired: string[] = [];
  for (const request of openRequests(state)) {
    if (!requestExpired(request, ctx.now)) continue;
    const id = request.id;
    d.push('request.expired', { request: id, step: request.step, proposal: request.proposal }, { request: id, step: request.step, expires_at: request.expires_at });
    expired.push(id);
  }
  return { entries: d.list, result: { ok: true, expired_requests: expired } };
}

export type Command =
  | ProposeCommand
  | ApprovalCommand
  | ConsumeCommand
  | UseLeaseCommand
  | OutcomeCommand
  | OpenHoldCommand
  | AddEvidenceCommand
  | LiftHoldCommand
  | RequestOverrideCommand
  | SubmitOverrideCommand
  | RegisterRollbackCommand
  | RunRollbackCommand
  | HaltCommand
  | LiftHaltCommand
  | ActivateBundleCommand
  | ProposeReleaseCommand
  | ApproveReleaseCommand
  | RegisterPasskeyCommand
  | RevokePasskeyCommand
  | ExpireCommand;

export type CommandResult =
  | ProposeResult
  | ApprovalResult
  | ExecutionResult
  | OutcomeResult
  | HoldResult
  | RequestOverrideResult
  | SubmitOverrideResult
  | RegisterRollbackResult
  | RunRollbackResult
  | HaltResult
  | ActivateBundleResult
  | ProposeReleaseResult
  | ApproveReleaseResult
  | PasskeyResult
  | ExpireResult;

/**
 * Evaluate one command against the state (ADR 002 §1). Pure: the state is
 * read, never changed; the caller seals the returned drafts and applies them
 * with `applyEntry` before the next command of the batch.
 */
export function runCommand(state: AuthorityState, policy: CompiledPolicy | null, command: Command, ctx: CommandContext): CommandOutput<CommandResult> {
  switch (command.kind) {
    case 'propose':
      return propose(state, policy, command, ctx);
    case 'approval':
      return approve(state, policy, command, ctx);
    case 'consume':
      return consumeGrant(state, policy, command, ctx);
    case 'use_lease':
      return useLease(state, policy, command, ctx);
    case 'outcome':
      return reportOutcome(state, policy, command, ctx);
    case 'hold_open':
      return openHold(state, policy, command, ctx);
    case 'hold_evidence':
      return addHoldEvidence(state, policy, command, ctx);
    case 'hold_lift':
      return liftHold(state, policy, command, ctx);
    case 'override_request':
      return requestOverride(state, policy, command, ctx);
    case 'override_submit':
      return submitOverride(state, policy, command, ctx);
    case 'rollback_register':
      return registerRollback(state, policy, command, ctx);
    case 'rollback_run':
      return runRollback(state, policy, command, ctx);
    case 'halt':
      return halt(state, policy, command, ctx);
    case 'halt_lift':
      return liftHalt(state, policy, command, ctx);
    case 'bundle_activate':
      return activateBundle(state, policy, command, ctx);
    case 'release_propose':
      return proposeRelease(state, policy, command, ctx);
    case 'release_approve':
      return approveRelease(state, policy, command, ctx);
    case 'passkey_register':
      return registerPasskey(state, policy, command, ctx);
    case 'passkey_revoke':
      return revokePasskey(state, policy, command, ctx);
    case 'expire':
      return expire(state, policy, command, ctx);
  }
}

import type { KeyObject } from 'node:crypto';
import { canonicalJson } from '../../packages/core/src/canonical.js';
import type { LedgerEntry, SealedEntry } from '../../packages/core/src/ledger/entry.js';
import type { TransactionalLedgerStore } from '../../packages/core/src/ledger/store.js';
import { decodeEntry } from '../../packages/core/src/ledger/entry.js';
import { newEd25519KeyPair } from '../../packages/core/src/ledger/key.js';
import type { Command } from '../../packages/core/src/state/commands.js';
import type { CompiledPolicy } from '../../packages/core/src/policy/compile.js';
import { AuthorityMachine, counterIds } from '../../packages/core/src/state/machine.js';
import { projectionRow, projectionRows, type AuthorityState, type ProjectionKind } from '../../packages/core/src/state/state.js';
import { Gateway, type GatewayResult } from '../../packages/gateway/src/service/gateway.js';
import type { IncidentRun } from '../scenario/incident.js';

/**
 * Plays the in-process reference scripts (test/scenario) through the durable
 * Gateway: the script runs once against the pure machine while every command
 * it sends is recorded, then the same commands, at the same clock readings,
 * go through a Gateway over a real store. Same commands, same clock, same
 * counter ids: the durable ledger must be the reference ledger byte for byte.
 */

export interface RecordedCommand {
  readonly command: Command;
  readonly now: number;
  /** What the pure machine answered. */
  readonly result: unknown;
}

export interface Recorded {
  readonly run: IncidentRun;
  readonly commands: readonly RecordedCommand[];
}

/** Run a script against the pure machine, recording each command and the clock it ran at. */
export function recordScript(play: () => IncidentRun): Recorded {
  const original = AuthorityMachine.prototype.run;
  const commands: RecordedCommand[] = [];
  AuthorityMachine.prototype.run = function recorded(this: AuthorityMachine, command: Command, now: number) {
    const step = original.call(this, command, now);
    commands.push({ command, now, result: step.result });
    return step;
  } as typeof original;
  try {
    return { run: play(), commands };
  } finally {
    AuthorityMachine.prototype.run = original;
  }
}

export const GATEWAY_ORIGIN = 'countersign.test/ledger/gateway';

export function gatewayKey(): KeyObject {
  return newEd25519KeyPair().privateKey;
}

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public now: number) {}
  readonly read = (): number => this.now;
}

export interface Replayed {
  readonly gateway: Gateway;
  readonly clock: ManualClock;
  readonly results: readonly GatewayResult[];
  readonly tokens: Map<string, string>;
}

/** Open a Gateway on `store` at the first command's clock (its bundle activation) and send it every later command. */
export async function replayThroughGateway(store: TransactionalLedgerStore, recorded: Recorded, key: KeyObject = gatewayKey()): Promise<Replayed> {
  const [first, ...rest] = recorded.commands;
  if (first?.command.kind !== 'bundle_activate') throw new Error('a script starts by activating its bundle');
  const clock = new ManualClock(first.now);
  const gateway = await Gateway.open({ store, policy: first.command.policy, key, origin: GATEWAY_ORIGIN, clock: clock.read, ids: counterIds() });
  const tokens = new Map<string, string>();
  const results: GatewayResult[] = [];
  for (const { command, now } of rest) {
    clock.now = now;
    const result = await dispatch(gateway, command, tokens);
    if (result.ok) for (const [jti, token] of Object.entries(result.tokens)) tokens.set(jti, token);
    results.push(result);
  }
  return { gateway, clock, results, tokens };
}

/** The Gateway call for a core command, as an HTTP route would make it. */
export async function dispatch(gateway: Gateway, command: Command, tokens: ReadonlyMap<string, string>): Promise<GatewayResult> {
  switch (command.kind) {
    case 'propose':
      return gateway.propose(command.caller, command.proposal);
    case 'approval': {
      const a = command.attestation;
      const attestation =
        a.kind === 'key' ? { kind: 'key' as const, key_id: a.key_id, signature: a.signature } : a.kind === 'passkey' ? { ...a } : { kind: 'gateway' as const, signature: a.signature };
      const input = { statement: command.statement, attestation };
      return command.statement.decision === 'approve' ? gateway.approve(command.caller, input) : gateway.deny(command.caller, input);
    }
    case 'consume': {
      const token = tokens.get(command.grant);
      if (token === undefined) throw new Error(`no token was issued for grant \`${command.grant}\``);
      return gateway.execute(command.caller, { token, ...(command.step === undefined ? {} : { step: command.step }) });
    }
    case 'use_lease': {
      const { kind: _k, caller, ...input } = command;
      return gateway.executeWithLease(caller, input);
    }
    case 'outcome': {
      const { kind: _k, caller, ...input } = command;
      return gateway.reportOutcome(caller, input);
    }
    case 'hold_open': {
      const { kind: _k, caller, ...input } = command;
      return gateway.openHold(caller, input);
    }
    case 'hold_evidence': {
      const { kind: _k, caller, ...input } = command;
      return gateway.addEvidence(caller, input);
    }
    case 'hold_lift': {
      const { kind: _k, caller, ...input } = command;
      return gateway.liftHold(caller, input);
    }
    case 'override_request': {
      const { kind: _k, caller, ...input } = command;
      return gateway.requestOverride(caller, input);
    }
    case 'override_submit': {
      const { kind: _k, caller, ...input } = command;
      return gateway.submitOverride(caller, input);
    }
    case 'rollback_register': {
      const { kind: _k, caller, ...input } = command;
      return gateway.registerRollback(caller, input);
    }
    case 'rollback_run': {
      const { kind: _k, caller, ...input } = command;
      return gateway.runRollback(caller, input);
    }
    case 'halt': {
      const { kind: _k, caller, ...input } = command;
      return gateway.halt(caller, input);
    }
    case 'halt_lift': {
      const { kind: _k, caller, ...input } = command;
      return gateway.liftHalt(caller, input);
    }
    case 'bundle_activate':
      if (command.caller === null) throw new Error('only the gateway itself activates without a caller');
      return gateway.activateBundle(command.caller, command.policy as CompiledPolicy);
    case 'release_propose':
      return gateway.proposeRelease(command.caller, { candidate: command.candidate, golden: command.golden, goldenFiles: command.golden_files ?? [], diff: command.diff });
    case 'release_approve': {
      const a = command.attestation;
      return gateway.signRelease(command.caller, { statement: command.statement, attestation: a.kind === 'key' ? { kind: 'key', key_id: a.key_id, signature: a.signature } : { kind: 'gateway', signature: a.signature } });
    }
    case 'passkey_register':
      return gateway.registerPasskey(command.caller, command.passkey, command.identity);
    case 'passkey_revoke':
      return gateway.revokePasskey(command.caller, command.credential_id);
    case 'expire':
      return gateway.expire();
  }
}

export async function readEntries(store: TransactionalLedgerStore): Promise<{ sealed: SealedEntry[]; entries: LedgerEntry[] }> {
  const sealed: SealedEntry[] = [];
  for await (const entry of store.read(0)) sealed.push(entry);
  return { sealed, entries: sealed.map((e) => decodeEntry(e.bytes)) };
}

/**
 * Projection rows as canonical text, keyed `kind/id`: equal maps mean equal
 * states. A state whose committed records left memory (ADR 006 decision 1)
 * cannot be scanned: its rows are those the store holds, each read through
 * the state (which reads back what it evicted), so `store` is needed then.
 */
export async function rowsOf(state: AuthorityState, store?: TransactionalLedgerStore): Promise<Map<string, string>> {
  if (!state.steps.tiered) return new Map(projectionRows(state).map((r) => [`${r.kind}/${r.id}`, canonicalJson(r.value)]));
  if (store === undefined) throw new Error('a state that reads records back from its store needs that store to list its rows');
  const rows = new Map<string, string>();
  for await (const stored of store.readProjections()) {
    const value = projectionRow(state, { kind: stored.kind as ProjectionKind, id: stored.id });
    if (value !== null) rows.set(`${stored.kind}/${stored.id}`, canonicalJson(value));
  }
  return rows;
}

/** Drop the tokens a Gateway result adds, to compare it with the pure machine's result. */
export function withoutTokens(result: GatewayResult): unknown {
  if (!result.ok) return result;
  const { tokens: _tokens, ...rest } = result;
  return rest;
}

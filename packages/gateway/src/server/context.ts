import type { KeyObject } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { buildRoster, compilePolicy, type Caller, type CompiledPolicy, type LoadedPolicy, type Refusal, type Roster, type TransactionalLedgerStore } from '@countersign/core';
import { callerOf } from '../auth/credentials.js';
import { identityOf } from '../auth/hook.js';
import type { Gateway, GatewayResult, Success } from '../service/gateway.js';
import { ApiError } from './app.js';
import type { ChangeFeed } from './change-feed.js';
import type { ViewContext } from './views.js';

/** The Gateway's operations as routes call them: the Gateway itself, or an instrumented wrapper of it. */
export type GatewayPort = Pick<
  Gateway,
  | 'propose'
  | 'proposeAndExecute'
  | 'approve'
  | 'deny'
  | 'execute'
  | 'executeWithLease'
  | 'reportOutcome'
  | 'openHold'
  | 'addEvidence'
  | 'liftHold'
  | 'requestOverride'
  | 'submitOverride'
  | 'registerRollback'
  | 'registerPasskey'
  | 'revokePasskey'
  | 'runRollback'
  | 'halt'
  | 'liftHalt'
  | 'activateBundle'
  | 'proposeRelease'
  | 'signRelease'
  | 'expire'
  | 'sync'
  | 'recordRefusal'
  | 'close'
>;

/** A bundle as loaded from YAML (or from the text the ledger holds) and compiled once. */
export interface ServedPolicy {
  readonly loaded: Pick<LoadedPolicy, 'bundle' | 'bundleId'>;
  readonly compiled: CompiledPolicy;
  /** What authorization reads: the principals with their reporting chains, and the declared surfaces. */
  readonly roster: Roster;
  readonly surfaces: ReadonlySet<string>;
}

export function servedPolicy(loaded: Pick<LoadedPolicy, 'bundle' | 'bundleId'>): ServedPolicy {
  return {
    loaded,
    compiled: compilePolicy(loaded.bundle, loaded.bundleId),
    roster: buildRoster(loaded.bundle),
    surfaces: new Set(loaded.bundle.surfaces.map((s) => s.id)),
  };
}

/** What routes ask of the checkpointer. */
export interface CheckpointPort {
  prove(seq: number): ReturnType<Gateway['prove']>;
  /** Cover every committed entry with a checkpoint now. */
  flush(): Promise<unknown>;
  /** Throws when the gateway key cannot sign. */
  probe(): void;
}

/** Everything a route needs, built once by `startGateway`. */
export interface ServerContext {
  /** Where commands go (possibly instrumented). */
  readonly gateway: GatewayPort;
  /** The Gateway itself, for reads of its live state and key id. */
  readonly reader: Gateway;
  readonly store: TransactionalLedgerStore;
  readonly key: KeyObject;
  readonly origin: string;
  readonly clock: () => number;
  readonly feed: ChangeFeed;
  /** Proofs, an export's closing checkpoint and the key probe: the Gateway's one checkpointer (ADR 002, issue 12). */
  readonly checkpoints: CheckpointPort;
  /** Bundles this process has loaded, by id: the one served at start and those activated over HTTP. */
  readonly policies: Map<string, ServedPolicy>;
  /** Tell approvers (webhooks) that these requests wait for them. */
  requestsOpened(requestIds: readonly string[]): void;
}

/** Principal, surface and credential of the call: the token's, never the body's. */
export function callerFrom(request: FastifyRequest): Caller {
  return callerOf(identityOf(request));
}

export function viewContext(ctx: ServerContext): ViewContext {
  return { state: ctx.reader.state, key: ctx.key, keyId: ctx.reader.keyId };
}

/**
 * The bundle in force: one this process served, or the text the ledger holds
 * for it (a release activated on any replica, issue 13), compiled once.
 * Null only for a ledger whose active bundle has no recorded text.
 */
export function activePolicy(ctx: ServerContext): ServedPolicy | null {
  const id = ctx.reader.bundleId;
  if (id === null) return null;
  const known = ctx.policies.get(id);
  if (known !== undefined) return known;
  const compiled = ctx.reader.policy;
  if (compiled === null || compiled.bundleId !== id) return null;
  const served = servedPolicy({ bundle: compiled.bundle, bundleId: compiled.bundleId });
  ctx.policies.set(id, served);
  return served;
}

/**
 * Run one Gateway operation and wake waiters. A refusal is already in the
 * ledger (the Gateway recorded it); here it becomes the HTTP error with the
 * same code, every failing gate in `details.codes`.
 */
export async function run<R extends Success>(ctx: ServerContext, call: () => Promise<GatewayResult<R>>): Promise<R & { readonly tokens: Readonly<Record<string, string>> }> {
  let result: GatewayResult<R>;
  try {
    result = await call();
  } finally {
    ctx.feed.changed();
  }
  if (!result.ok) throw refusalError(result);
  return result;
}

export function refusalError(refusal: Refusal): ApiError {
  return new ApiError(refusal.code, refusal.message, { ...refusal.details, codes: [...refusal.codes], recorded: true });
}

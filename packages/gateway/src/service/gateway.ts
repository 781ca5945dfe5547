import type { KeyObject } from 'node:crypto';
import {
  attestStatement,
  buildRoster,
  compilePolicy,
  ed25519Signer,
  grantTokenClaims,
  KEY_ROTATED,
  noteKeyId,
  parseProposal,
  parseStatement,
  rawPublicKey,
  signCheckpoint,
  runCommand,
  signKeyRotation,
  toDraft,
  verifyAttestation,
  verifyPasskeyAssertion,
  verifyStatement,
  type ActivateBundleResult,
  type ApproveReleaseResult,
  type DiffSummaryData,
  type GoldenSummaryData,
  type ProposeReleaseResult,
  type AddEvidenceCommand,
  type ApprovalAttestation,
  type ApprovalStatement,
  type ApprovalResult,
  type AuthorityState,
  type Caller,
  type Command,
  type Operation as EntryOperation,
  type CommandCode,
  type CommandOutput,
  type CompiledPolicy,
  type ConsumeCommand,
  type ExecutionResult,
  type ExpireResult,
  type GrantClaims,
  type HaltCommand,
  type HaltResult,
  type HoldResult,
  type IdGenerator,
  type IssuedGrant,
  type LedgerEntry,
  type LiftHaltCommand,
  type LiftHoldCommand,
  type LoadedPolicy,
  type NoteVerifierKey,
  type OpenHoldCommand,
  type OutcomeCommand,
  type OutcomeResult,
  type ProposeResult,
  type Refusal,
  type RegisterRollbackCommand,
  type RegisterRollbackResult,
  type RequestOverrideCommand,
  type RequestOverrideResult,
  type Roster,
  type RunRollbackCommand,
  type RunRollbackResult,
  type SubmitOverrideCommand,
  type Signer,
  type SubmitOverrideResult,
  type TransactionalLedgerStore,
  type UseLeaseCommand,
  type PasskeyResult,
  type RegisterPasskeyCommand,
} from '@countersign/core';
import { GatewayError } from '../errors.js';
import type { EntryProof } from '../ledger/checkpointer.js';
import { signedCheckpoints } from '../ledger/checkpoint-scheduler.js';
import { WriteHealth } from './write-health.js';
import { CommandSequencer, type CommandSequencerObserver, type Committed, type Evaluate } from './command-sequencer.js';
import { publicKeyFor, signGrantToken, verifyGrantToken } from './grant-token.js';
import { randomIds } from './ids.js';

export interface GatewayOptions {
  readonly store: TransactionalLedgerStore;
  /**
   * The bundle this process was given (a `LoadedPolicy` or a `CompiledPolicy`).
   * On an empty ledger it is recorded as the first bundle, text included. On
   * a ledger with an active bundle it must be that bundle (POLICY_MISMATCH
   * otherwise: rules change only by a governed release, never by restarting
   * a replica with another file); omit it to run the bundle the ledger holds.
   */
  readonly policy?: PolicyInput;
  /** The gateway's Ed25519 private key: signs grants and console attestations. */
  readonly key: KeyObject;
  /** Names this ledger (the checkpoint origin); with the key it gives the grants' `kid`. */
  readonly origin: string;
  /** Epoch milliseconds; injected so tests and replays control time. */
  readonly clock: () => number;
  readonly ids?: IdGenerator;
  /** Largest number of commands in one store transaction. */
  readonly maxBatch?: number;
  /** Keep every record in memory even on SQLite (ADR 006 decision 1 off): for comparisons. */
  readonly keepRecords?: boolean;
  /**
   * Signed C2SP checkpoints over the ledger, by the gateway key named `origin`:
   * after `every` entries or `intervalMs` (defaults 1000 and 1000 ms), and on
   * close. `false` writes none.
   */
  readonly checkpoints?: { readonly every?: number; readonly intervalMs?: number } | false;
  /** Monotonic milliseconds for the checkpoint interval; defaults to `clock`. */
  readonly monotonic?: () => number;
  readonly observer?: CommandSequencerObserver;
  /**
   * Follow entries other writers commit (PostgreSQL LISTEN/NOTIFY; other
   * stores on the same SQLite file in this process) into the state at once,
   * and call `onFollowed` with them. Default true.
   */
  readonly follow?: boolean;
  readonly onFollowed?: (entries: readonly LedgerEntry[]) => void;
  /**
   * `false` opens a ledger with no bundle in force, or one whose bundle is not
   * loaded here, for a write that reads no policy (`keys rotate`): commands
   * that need one are refused BUNDLE_NOT_LOADED. Default true.
   */
  readonly requireBundle?: boolean;
}

/**
 * Everything a successful call returns: the command's result, plus the compact
 * JWS of every grant it issued, by `jti`. Refusals carry their code and are
 * already recorded in the ledger.
 */
export type GatewayResult<R extends Success = Success> = (R & { readonly tokens: Readonly<Record<string, string>> }) | Refusal;

/** What every successful command result has. */
export interface Success {
  readonly ok: true;
}

/** How an approval is vouched for: the approver's own key, or the gateway for an authenticated console session. */
export type AttestationInput =
  | { readonly kind: 'key'; readonly key_id: string; readonly signature: string }
  /** Without `signature` the gateway attests the statement itself, naming the caller's credential. */
  | { readonly kind: 'gateway'; readonly signature?: string }
  /** Signed by a passkey registered to the caller's principal (issue 14): WebAuthn's bytes, base64url. */
  | { readonly kind: 'passkey'; readonly credential_id: string; readonly authenticator_data: string; readonly client_data_json: string; readonly signature: string };

export interface ApprovalInput {
  /** The statement as received; validated here (`parseStatement`). */
  readonly statement: unknown;
  readonly attestation: AttestationInput;
}

export interface ExecuteInput {
  /** The grant's compact JWS, exactly as issued. */
  readonly token: string;
  /** The step the executor is about to run; compared by digest with the step granted. */
  readonly step?: ConsumeCommand['step'];
}

type Input<C> = Omit<C, 'kind' | 'caller'>;

/** A validated bundle and its id: what `loadPolicy` returns, or a compiled policy. */
export type PolicyInput = Pick<LoadedPolicy, 'bundle' | 'bundleId'>;

const RULE_GRANT_SIGNATURE = 'grant:signature';

/**
 * The stateful gateway of issue 4: the durable version of core's
 * `AuthorityMachine`. Every operation is a core command run through the
 * command sequencer (ADR 002): evaluated against the live state inside the
 * store's write transaction, its entries sealed, applied and committed with
 * their projection rows before the caller hears back. Signatures are checked
 * here, before the command, because the gateway holds the keys the core
 * trusts it to have checked with.
 *
 * Inputs and results are plain JSON-able values, so an HTTP route maps onto
 * each method one to one. The `caller` of every method is what the
 * credential says (principal, surface, credential id), never what a body says.
 */
export class Gateway {
  readonly origin: string;
  /** The `kid` of every grant JWS: the signed-note key id of the gateway key under `origin`. */
  readonly keyId: string;
  readonly publicKey: KeyObject;
  readonly #key: KeyObject;
  readonly #sequencer: CommandSequencer;
  readonly #health: WriteHealth;
  readonly #rosters = new WeakMap<CompiledPolicy, Roster>();
  #closed: Promise<void> | null = null;

  private constructor(options: GatewayOptions, sequencer: CommandSequencer, health: WriteHealth) {
    this.origin = options.origin;
    this.#health = health;
    this.#key = options.key;
    this.publicKey = publicKeyFor(options.key);
    this.keyId = noteKeyId(options.origin, rawPublicKey(this.publicKey));
    this.#sequencer = sequencer;
  }

  /**
   * Rebuild the state by streaming the ledger through `applyEntry`, then make
   * the given bundle the active one, recording `bundle.activated` (and what it
   * voids and revokes) if the ledger says another is active.
   */
  static async open(options: GatewayOptions): Promise<Gateway> {
    if (options.key.type !== 'private' || options.key.asymmetricKeyType !== 'ed25519') {
      throw new GatewayError('KEY_INVALID', 'the gateway key is not an ed25519 private key');
    }
    const compiled = options.policy === undefined ? null : compilePolicy(options.policy.bundle, options.policy.bundleId);
    const checkpoints = options.checkpoints === false ? undefined : signedCheckpoints(options.origin, ed25519Signer(options.origin, options.key), options.checkpoints ?? {});
    const health = new WriteHealth({ probe: () => options.store.probeWrite(new Date(options.clock()).toISOString()), now: options.monotonic ?? options.clock });
    const sequencer = await CommandSequencer.open(options.store, {
      onWrite: (ok) => health.record(ok),
      ...(options.onFollowed === undefined ? {} : { onFollowed: options.onFollowed }),
      clock: options.clock,
      ids: options.ids ?? randomIds(options.clock),
      policies: compiled === null ? [] : [compiled],
      ...(options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch }),
      ...(options.keepRecords === undefined ? {} : { keepRecords: options.keepRecords }),
      ...(checkpoints === undefined ? {} : { checkpoints }),
      ...(options.monotonic === undefined ? {} : { now: options.monotonic }),
      ...(options.observer === undefined ? {} : { observer: options.observer }),
    });
    const gateway = new Gateway(options, sequencer, health);
    if (options.follow ?? true) await sequencer.follow();
    const active = sequencer.state.bundle.bundle_id;
    const requireBundle = options.requireBundle ?? true;
    if (active === null) {
      if (compiled === null && !requireBundle) return gateway;
      if (compiled === null) throw new GatewayError('USAGE', 'the ledger is empty: give its first policy bundle (`--policy FILE`)');
      const result = await gateway.#run<ActivateBundleResult>({ kind: 'bundle_activate', caller: null, policy: compiled }, { activates: compiled, signTokens: false });
      if (!result.ok) throw new GatewayError('STORE_CONFLICT', `bundle \`${compiled.bundleId}\` could not be activated: ${result.code}`);
    } else if (compiled !== null && compiled.bundleId !== active) {
      await sequencer.close();
      throw new GatewayError(
        'POLICY_MISMATCH',
        `the policy given is bundle \`${compiled.bundleId}\` but the ledger's active bundle is \`${active}\`: a bundle changes only by a governed release (\`countersign policy propose\`, then its quorum signs); start without \`--policy\` to run the active one`,
        { given: compiled.bundleId, active },
      );
    } else if (sequencer.policy === null && requireBundle) {
      await sequencer.close();
      throw new GatewayError('BUNDLE_NOT_LOADED', `the ledger's active bundle \`${active}\` has no text in the ledger (recorded before bundle texts were): start with \`--policy\` naming it`, { active });
    }
    return gateway;
  }

  /** The live authority state as of the last batch this process ran. Read-only. */
  get state(): AuthorityState {
    return this.#sequencer.state;
  }

  /** Entries this process has applied. */
  get size(): number {
    return this.#sequencer.size;
  }

  get bundleId(): string | null {
    return this.#sequencer.state.bundle.bundle_id;
  }

  /** The compiled bundle in force, or null when the ledger holds no text for it and this process was not given it. */
  get policy(): CompiledPolicy | null {
    return this.#sequencer.policy;
  }

  /** An agent proposes; each step is decided, granted, sent for approval, denied or held on its own. */
  async propose(caller: Caller, proposal: unknown): Promise<GatewayResult<ProposeResult>> {
    // the proposal arrives from an agent: attacker-controlled, parsed before anything reads it
    const parsed = parseProposal(proposal);
    return this.#run({ kind: 'propose', caller, proposal: parsed });
  }

  /**
   * The one-call path (issue 15): propose, and execute at once every step
   * decided `allow` that needs no rollback artifact first, in one commit,
   * without a grant token. Other steps are settled as `propose` settles them.
   * The executor reports outcomes as for any execution.
   */
  async proposeAndExecute(caller: Caller, proposal: unknown): Promise<GatewayResult<ProposeResult>> {
    // the proposal arrives from an agent: attacker-controlled, parsed before anything reads it
    const parsed = parseProposal(proposal);
    return this.#run({ kind: 'propose', caller, proposal: parsed, execute: true });
  }

  /** An approval statement with `decision: approve`. */
  approve(caller: Caller, input: ApprovalInput): Promise<GatewayResult<ApprovalResult>> {
    return this.#approval(caller, input, 'approve');
  }

  /** An approval statement with `decision: deny`: one eligible denial closes the request. */
  deny(caller: Caller, input: ApprovalInput): Promise<GatewayResult<ApprovalResult>> {
    return this.#approval(caller, input, 'deny');
  }
  /** Register a passkey to the caller's principal (issue 14), after the gateway verified the WebAuthn registration. */
  registerPasskey(caller: Caller, passkey: RegisterPasskeyCommand['passkey'], identity: RegisterPasskeyCommand['identity']): Promise<GatewayResult<PasskeyResult>> {
    return this.#run({ kind: 'passkey_register', caller, passkey, identity });
  }

  /** Revoke a passkey: its own principal, or a token administrator. */
  revokePasskey(caller: Caller, credentialId: string): Promise<GatewayResult<PasskeyResult>> {
    return this.#run({ kind: 'passkey_revoke', caller, credential_id: credentialId });
  }


  /**
   * Consume a grant: its JWS signature is verified against the gateway key
   * first; a token that fails is refused (BAD_SIGNATURE) and recorded without
   * reading a claim. Then the consumption re-checks holds, halts, bundle,
   * expiry and prerequisites inside the write transaction.
   */
  async execute(caller: Caller, input: ExecuteInput): Promise<GatewayResult<ExecutionResult>> {
    const claims = await verifyGrantToken(input.token, this.publicKey);
    if (claims === null) return this.#refuse(caller, 'consume', 'BAD_SIGNATURE', 'the grant signature is not valid', RULE_GRANT_SIGNATURE);
    return this.#run({ kind: 'consume', caller, grant: claims.jti, claims, ...(input.step === undefined ? {} : { step: input.step }) });
  }

  /** Run one step listed by an override lease, inside its window, once. */
  executeWithLease(caller: Caller, input: Input<UseLeaseCommand>): Promise<GatewayResult<ExecutionResult>> {
    return this.#run({ kind: 'use_lease', caller, ...input });
  }

  reportOutcome(caller: Caller, input: Input<OutcomeCommand>): Promise<GatewayResult<OutcomeResult>> {
    return this.#run({ kind: 'outcome', caller, ...input });
  }

  openHold(caller: Caller, input: Input<OpenHoldCommand>): Promise<GatewayResult<HoldResult>> {
    return this.#run({ kind: 'hold_open', caller, ...input });
  }

  addEvidence(caller: Caller, input: Input<AddEvidenceCommand>): Promise<GatewayResult<HoldResult>> {
    return this.#run({ kind: 'hold_evidence', caller, ...input });
  }

  liftHold(caller: Caller, input: Input<LiftHoldCommand>): Promise<GatewayResult<HoldResult>> {
    return this.#run({ kind: 'hold_lift', caller, ...input });
  }

  /** Open an override: the result carries the canonical body both signers sign. */
  requestOverride(caller: Caller, input: Input<RequestOverrideCommand>): Promise<GatewayResult<RequestOverrideResult>> {
    return this.#run({ kind: 'override_request', caller, ...input });
  }

  /**
   * Submit the signatures of an override. Each signature is verified against
   * its signer's roster key, or a passkey registered to the signer and not
   * revoked, by the override gates (core `submitOverride` calls
   * `verifyOverrideSignature`, in ledger order); a signature that fails
   * denies the lease.
   */
  submitOverride(caller: Caller, input: Input<SubmitOverrideCommand>): Promise<GatewayResult<SubmitOverrideResult>> {
    return this.#run({ kind: 'override_submit', caller, ...input });
  }

  registerRollback(caller: Caller, input: Input<RegisterRollbackCommand>): Promise<GatewayResult<RegisterRollbackResult>> {
    return this.#run({ kind: 'rollback_register', caller, ...input });
  }

  runRollback(caller: Caller, input: Input<RunRollbackCommand>): Promise<GatewayResult<RunRollbackResult>> {
    return this.#run({ kind: 'rollback_run', caller, ...input });
  }

  halt(caller: Caller, input: Input<HaltCommand>): Promise<GatewayResult<HaltResult>> {
    return this.#run({ kind: 'halt', caller, ...input });
  }

  liftHalt(caller: Caller, input: Input<LiftHaltCommand>): Promise<GatewayResult<HaltResult>> {
    return this.#run({ kind: 'halt_lift', caller, ...input });
  }

  /**
   * A lone activation: refused and recorded (RELEASE_REQUIRED; an agent's is
   * AGENT_CANNOT_ACTIVATE), whoever asks. Bundles change by `proposeRelease`
   * and the quorum's `signRelease` (DESIGN invariant 8).
   */
  async activateBundle(caller: Caller, policy: PolicyInput): Promise<GatewayResult<ActivateBundleResult>> {
    const compiled = compilePolicy(policy.bundle, policy.bundleId);
    return this.#run({ kind: 'bundle_activate', caller, policy: compiled }, { signTokens: false });
  }

  /**
   * Propose a candidate bundle for release, with what the caller found
   * running its golden sets and diffing it against recorded traffic
   * (`server/release.ts` computes both): recorded with its full text.
   */
  proposeRelease(
    caller: Caller,
    input: { readonly candidate: PolicyInput; readonly golden: GoldenSummaryData | null; readonly goldenFiles: readonly { readonly name: string; readonly text: string }[]; readonly diff: DiffSummaryData },
  ): Promise<GatewayResult<ProposeReleaseResult>> {
    const candidate = compilePolicy(input.candidate.bundle, input.candidate.bundleId);
    return this.#run({ kind: 'release_propose', caller, candidate, golden: input.golden, golden_files: input.goldenFiles, diff: input.diff });
  }

  /**
   * A release signer's statement (`request`: the release id, `step_digest`:
   * its release digest, `bundle_id`: the bundle in force), verified against
   * the signer's key in the bundle in force. On quorum the candidate is the
   * bundle in force, on every replica, from the text the ledger holds.
   */
  async signRelease(caller: Caller, input: ApprovalInput): Promise<GatewayResult<ApproveReleaseResult>> {
    const statement = parseStatement(input.statement);
    if (input.attestation.kind === 'passkey') throw new GatewayError('USAGE', 'a release is signed with a roster key (`countersign policy approve`), not a passkey');
    // a console session's click is gateway attestation, which a key-only release quorum refuses
    const { attestation, verified } = this.#attest(caller, statement, input.attestation);
    // the quorum's signature may activate: a grant for a step it decides again goes to its agent through status, not to the signer
    return this.#run({ kind: 'release_approve', caller, statement, attestation, signature_verified: verified }, { signTokens: false });
  }

  /** Close approval requests whose window has passed; for the server's timer. */
  expire(): Promise<GatewayResult<ExpireResult>> {
    return this.#run({ kind: 'expire' });
  }

  /** Whether the ledger store takes writes now: the last write's outcome, or a probe write when that failed or is old. */
  writable(): Promise<boolean> {
    return this.#health.check();
  }

  /**
   * Read and apply what other replicas committed, now, outside the write
   * lock: the follower does this on every notification; this is for a caller
   * that must not depend on one (the change feed's slow fallback).
   */
  sync(): Promise<void> {
    return this.#sequencer.catchUp();
  }

  /**
   * RFC 9162 inclusion proof of entry `seq` against the latest signed
   * checkpoint, from the leaves the one writer committed or followed.
   * GatewayError `NO_CHECKPOINT` / `NOT_CHECKPOINTED` when none covers it.
   */
  prove(seq: number): Promise<EntryProof> {
    return this.#sequencer.prove(seq);
  }

  /** Cover every entry committed so far with a signed checkpoint now; false when this Gateway writes none (`checkpoints: false`). */
  checkpoint(): Promise<boolean> {
    return this.#sequencer.checkpoint();
  }

  /** Sign a test note with the gateway key: proves the key is usable, for readiness. */
  probeKey(): void {
    signCheckpoint({ origin: this.origin, treeSize: 0, rootHash: new Uint8Array(32) }, ed25519Signer(this.origin, this.#key));
  }

  /**
   * The claims of a grant token if its signature is the gateway's, else null.
   * Offline only: whether the grant is still unused is known at consumption.
   */
  verifyGrant(token: string): Promise<GrantClaims | null> {
    return verifyGrantToken(token, this.publicKey);
  }

  /** Settle queued commands, write a last checkpoint, and stop. Leaves the store open: whoever opened it closes it. */
  close(): Promise<void> {
    this.#closed ??= this.#sequencer.close();
    return this.#closed;
  }

  async #approval(caller: Caller, input: ApprovalInput, decision: 'approve' | 'deny'): Promise<GatewayResult<ApprovalResult>> {
    const statement = parseStatement(input.statement);
    if (statement.decision !== decision) {
      throw new GatewayError('USAGE', `the statement says \`${statement.decision}\`, not \`${decision}\``);
    }
    const given = input.attestation;
    if (given.kind === 'passkey') {
      // checked against the registry as this replica holds it; the command checks again, in order, that it is still registered
      const key = this.#sequencer.state.passkeys.get(given.credential_id);
      const attestation = { ...given, kind: 'passkey' as const };
      const verified = key !== undefined && key.revoked_at === null && verifyPasskeyAssertion(statement, attestation, key);
      return this.#run({ kind: 'approval', caller, statement, attestation, signature_verified: verified });
    }
    const { attestation, verified } = this.#attest(caller, statement, given);
    return this.#run({ kind: 'approval', caller, statement, attestation, signature_verified: verified });
  }

  /**
   * How a statement (an approval's or a release's) is vouched for, and whether
   * that checks out: the signer's own key from the roster of the bundle in
   * force, and only theirs; or, for an authenticated console session, the
   * gateway's own attestation.
   */
  #attest(
    caller: Caller,
    statement: ApprovalStatement,
    given: Exclude<AttestationInput, { readonly kind: 'passkey' }>,
  ): { readonly attestation: Extract<ApprovalAttestation, { readonly kind: 'key' | 'gateway' }>; readonly verified: boolean } {
    if (given.kind === 'key') {
      const policy = this.#sequencer.policy;
      const verified = policy !== null && verifyStatement(statement, given.signature, this.#roster(policy), given.key_id).verified;
      return { attestation: { kind: 'key', key_id: given.key_id, signature: given.signature }, verified };
    }
    if (given.signature === undefined) {
      // an authenticated console session: the gateway vouches for the statement with its own key
      return { attestation: { kind: 'gateway', credential_id: caller.credential, signature: attestStatement(statement, this.#key) }, verified: true };
    }
    return { attestation: { kind: 'gateway', credential_id: caller.credential, signature: given.signature }, verified: verifyAttestation(statement, given.signature, this.publicKey) };
  }

  #roster(policy: CompiledPolicy): Roster {
    let roster = this.#rosters.get(policy);
    if (!roster) {
      roster = buildRoster(policy.bundle);
      this.#rosters.set(policy, roster);
    }
    return roster;
  }

  /**
   * `signTokens: false` for a command whose answer shows no grant token: an
   * activation issues a grant for each step it decides again that the new
   * bundle allows (the steps of the requests it voids, and those awaiting a
   * rollback), and signing them would only delay the answer.
   */
  async #run<R extends Success>(command: Command, options: { readonly activates?: CompiledPolicy; readonly signTokens?: boolean } = {}): Promise<GatewayResult<R>> {
    const evaluate: Evaluate = (state, policy, ctx) => runCommand(state, policy, command, ctx);
    const { activates } = options;
    const committed = await this.#sequencer.submit(activates === undefined ? { evaluate } : { evaluate, activates });
    return this.#withTokens<R>(committed, options.signTokens ?? true);
  }

  /**
   * Record a refusal decided outside the core's commands (the auth layer's
   * 403, a grant token whose signature fails) as `authority.rejected`,
   * through the one writer like every other entry (ADR 002 §1). Resolves once
   * the entry is durable; rejects when it could not be recorded, and then the
   * refusal must not be answered as if it were (DESIGN invariant 7: 503).
   */
  async recordRefusal(caller: Caller, refused: RefusalRecord): Promise<void> {
    await this.#sequencer.submit({ evaluate: refusalEntry(caller, refused) });
  }

  /**
   * Record `key.rotated` (core `ledger/rotation.ts`): `oldSigner`, the key in
   * force, signs the hand-over to `newKey` for the seq the entry takes,
   * through the one writer like every other entry (ADR 002, issue 12).
   * Checkpoints covering it must be signed by the new key: open this Gateway
   * with the new key so its closing checkpoint is.
   */
  async recordKeyRotation(oldSigner: Signer, newKey: NoteVerifierKey): Promise<{ readonly seq: number }> {
    let at = -1;
    const evaluate: Evaluate = (_state, _policy, ctx, seq) => {
      // INVARIANT: the statement names the entry's own seq, so it cannot be replayed elsewhere; a stale batch signs again
      at = seq;
      return {
        // outside the authority entry catalog: the reducer skips it, verifiers read it
        entries: [
          {
            at: new Date(ctx.now).toISOString(),
            type: KEY_ROTATED,
            actor: null,
            surface: 'signed-cli',
            bundle_id: null,
            subjects: {},
            payload: signKeyRotation({ origin: this.origin, seq }, oldSigner, newKey),
          },
        ],
        result: null,
      };
    };
    const committed = await this.#sequencer.submit({ evaluate, withoutPolicy: true });
    return { seq: committed.entries[0]?.seq ?? at };
  }

  /**
   * Record a console sign-in, a refused one, or a sign-out (issue 14):
   * `session.opened`, `session.refused`, `session.closed`. Outside the
   * authority entry catalog, like `key.rotated`: the reducer skips them, the
   * trace and an auditor read them. Through the one writer, like everything.
   */
  async recordSession(event: SessionEvent): Promise<void> {
    await this.#notice({
      type: `session.${event.kind}`,
      actor: event.kind === 'refused' ? null : event.principal,
      surface: event.surface,
      subjects: event.kind === 'refused' ? {} : { principal: event.principal, credential: event.credential },
      payload: sessionPayload(event),
    });
  }

  /**
   * Record a token issued or revoked over the API (issue 16):
   * `credential.issued`, `credential.revoked`, with who did it. Never the
   * secret. Outside the authority catalog, like the session entries.
   */
  async recordCredential(event: CredentialEvent): Promise<void> {
    await this.#notice({
      type: `credential.${event.kind}`,
      actor: event.by.principal,
      surface: event.by.surface,
      subjects: { principal: event.principal, credential: event.credential },
      payload: {
        credential: event.credential,
        principal: event.principal,
        surface: event.surface,
        ...(event.kind === 'issued' ? { expires_at: event.expires_at } : {}),
        by: event.by.principal,
        by_credential: event.by.credential,
      },
    });
  }

  /**
   * Record one webhook delivery attempt, or a skip (issue 16):
   * `notification.delivered` or `notification.failed`, with the webhook, the
   * event, the request, the attempt and its status or error. Never the body's
   * signature or the secret. A delivery never blocks or allows anything: this
   * entry is written after the fact, beside the authority entries.
   */
  async recordDelivery(delivery: {
    readonly webhook: string;
    readonly event: string;
    readonly request_id: string | null;
    readonly delivery_id: string;
    readonly attempt: number;
    readonly ok: boolean;
    readonly final: boolean;
    readonly status?: number;
    readonly error?: string;
  }): Promise<void> {
    await this.#notice({
      type: delivery.ok ? 'notification.delivered' : 'notification.failed',
      actor: null,
      surface: 'gateway',
      subjects: delivery.request_id === null ? {} : { request: delivery.request_id },
      payload: {
        webhook: delivery.webhook,
        event: delivery.event,
        request: delivery.request_id,
        delivery: delivery.delivery_id,
        attempt: String(delivery.attempt),
        final: delivery.final ? 'true' : 'false',
        status: delivery.status === undefined ? null : String(delivery.status),
        error: delivery.error ?? null,
      },
    });
  }

  /** One entry outside the authority catalog, through the one writer. */
  async #notice(entry: { type: string; actor: string | null; surface: string; subjects: Record<string, string>; payload: Record<string, string | null> }): Promise<void> {
    const evaluate: Evaluate = (_state, policy, ctx) => ({
      entries: [{ at: new Date(ctx.now).toISOString(), type: entry.type, actor: entry.actor, surface: entry.surface, bundle_id: policy?.bundleId ?? null, subjects: entry.subjects, payload: entry.payload }],
      result: null,
    });
    await this.#sequencer.submit({ evaluate, withoutPolicy: true });
  }

  /** A refusal the gateway decides before any command (a grant token that does not verify), recorded like any other. */
  async #refuse<R extends Success>(caller: Caller, operation: 'consume', code: CommandCode, message: string, rule: string): Promise<GatewayResult<R>> {
    await this.#sequencer.submit({ evaluate: refusalEntry(caller, { operation, code, rule }) });
    const refusal: Refusal = { ok: false, code, codes: [code], message };
    return refusal;
  }

  /** Sign the grants a command issued, only now that they are durable (none when `sign` is false). */
  async #withTokens<R extends Success>(committed: Committed, sign: boolean): Promise<GatewayResult<R>> {
    const result = committed.result as R | Refusal;
    if (!(result as { ok: boolean }).ok) return result as Refusal;
    const tokens: Record<string, string> = {};
    for (const entry of sign ? committed.entries : []) {
      if (entry.type !== 'grant.issued') continue;
      const grant = entry.payload as unknown as IssuedGrant;
      tokens[grant.jti] = await signGrantToken(grantTokenClaims(grant), this.#key, this.keyId);
    }
    return { ...(result as R), tokens };
  }
}

/** What a refusal decided outside a core command records: the operation refused, its code, the rule that refused it. */
export interface RefusalRecord {
  readonly operation: EntryOperation;
  /** A command code, or an API code such as FORBIDDEN: codes are API either way. */
  readonly code: string;
  readonly rule: string;
}

function refusalEntry(caller: Caller, refused: RefusalRecord): Evaluate {
  return (state, _policy, ctx): CommandOutput<null> => ({
    entries: [
      toDraft({
        at: new Date(ctx.now).toISOString(),
        type: 'authority.rejected',
        actor: caller.principal,
        surface: caller.surface,
        bundle_id: state.bundle.bundle_id,
        subjects: {},
        payload: { operation: refused.operation, code: refused.code, target_id: null, credential: caller.credential, rule_ids: [refused.rule] },
      }),
    ],
    result: null,
  });
}

/** A token issued or revoked over the API, as `recordCredential` writes it. */
export type CredentialEvent = {
  readonly kind: 'issued' | 'revoked';
  readonly credential: string;
  readonly principal: string;
  readonly surface: string;
  readonly expires_at: string | null;
  readonly by: Caller;
};

/** A console session event, as `recordSession` writes it. */
export type SessionEvent =
  | { readonly kind: 'opened'; readonly principal: string; readonly surface: string; readonly credential: string; readonly issuer: string; readonly subject: string; readonly expires_at: string }
  | { readonly kind: 'refused'; readonly surface: string; readonly issuer: string; readonly subject: string; readonly email: string | null; readonly code: string }
  | { readonly kind: 'closed'; readonly principal: string; readonly surface: string; readonly credential: string };

function sessionPayload(event: SessionEvent): Record<string, string | null> {
  switch (event.kind) {
    case 'opened':
      return { principal: event.principal, credential: event.credential, issuer: event.issuer, subject: event.subject, expires_at: event.expires_at };
    case 'refused':
      return { issuer: event.issuer, subject: event.subject, email: event.email, code: event.code };
    case 'closed':
      return { principal: event.principal, credential: event.credential };
  }
}

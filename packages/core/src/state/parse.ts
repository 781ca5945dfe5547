import { z } from 'zod';
import type { CanonicalValue } from '../canonical.js';
import type { LedgerEntry } from '../ledger/entry.js';
import { ENTRY_TYPES, type EntryPayloads, type EntryType, type LeaseScopeData } from './entries.js';

/**
 * The one reader of recorded entries for the analyses (trace, its contract
 * check, the postmortem, the override report): a decoded ledger entry is
 * checked against the catalog of entries.ts before anything reads its
 * payload, so an analysis switches on `type` over typed payloads and never
 * guesses at a field.
 *
 * Three outcomes, as data (nothing throws):
 *
 *   authority  a catalog type whose envelope and payload match their types
 *   other      a well-formed entry of a type outside the catalog (a key
 *              rotation, a test's own type): not an authority entry, and
 *              skipped by the analyses as the reducer skips it
 *   malformed  the first field found wrong, as a JSON pointer (RFC 6901)
 *              into the entry, e.g. `/payload/steps/0/target`
 *
 * INVARIANT (entries.ts): payloads are only ever extended, a field is never
 * reinterpreted, so a schema accepts exactly what its payload type allows,
 * every variant of a union included (`request.voided` before and after
 * issue 17), and accepts fields a later writer added (the checked copy
 * leaves them out: no reader here knows what they mean). Nothing is
 * narrower than the type (no pattern, no length): a short or empty value is
 * the trace contract's finding, not a parse error.
 */

/** The entry without its payload: what every entry carries, whatever its type. */
export type EntryEnvelope = Omit<LedgerEntry, 'payload'>;

/**
 * The override body as `overrideBodyValue` records it (override/body.ts, the
 * form both signers sign). The catalog types it as any canonical object;
 * its one writer gives it these fields, and later ones are kept.
 */
export type OverrideBodyRecord = {
  readonly id: string;
  readonly hold_ref: string | null;
  readonly step_digests: readonly string[];
  readonly trip_gate_ack: string | null;
  readonly valid_from: string;
  readonly valid_to: string;
  readonly scope: LeaseScopeData;
  readonly reason_code: string;
  readonly reason_text: string;
  readonly rollback_ref: string;
  readonly requester: string;
  readonly request_surface: string;
  readonly [key: string]: CanonicalValue;
};

/**
 * The catalog's payloads as the parser hands them out: the same types, with
 * the override body's fields spelled out. Each is assignable to its
 * `EntryPayloads` type, so an `AuthorityEntry` is a `TypedEntry`.
 */
export type AuthorityPayloads = {
  readonly [T in EntryType]: T extends 'override.requested' ? Omit<EntryPayloads[T], 'body'> & { readonly body: OverrideBodyRecord } : EntryPayloads[T];
};

/** A recorded entry of the catalog, checked: its payload matches its type. */
export type AuthorityEntry<T extends EntryType = EntryType> = {
  [K in T]: EntryEnvelope & { readonly type: K; readonly payload: AuthorityPayloads[K] };
}[T];

/** Where an entry first fails its type, and how. */
export interface EntryIssue {
  /** The entry's seq; null when the seq itself is unreadable. */
  readonly seq: number | null;
  /** The entry's type; null when the type itself is unreadable. */
  readonly type: string | null;
  /** RFC 6901 JSON pointer into the entry: `/payload/step`, `/subjects`, `` for the entry itself. */
  readonly pointer: string;
  /** Lower case, no final period: `expected string, found number`, `missing`. */
  readonly problem: string;
}

export type ParsedEntry =
  | { readonly kind: 'authority'; readonly entry: AuthorityEntry }
  | { readonly kind: 'other'; readonly entry: LedgerEntry }
  | {
      readonly kind: 'malformed';
      readonly issue: EntryIssue;
      /** The envelope when only the payload is at fault: where the entry sits and what it names can still be shown. */
      readonly envelope: EntryEnvelope | null;
    };

// --- schemas ---------------------------------------------------------------

const canonical: z.ZodType<CanonicalValue> = z.lazy(() =>
  z.union([z.string(), z.number().int(), z.boolean(), z.null(), z.array(canonical), z.record(z.string(), canonical)]),
);
const canonicalObject = z.record(z.string(), canonical);

const str = z.string();
const strOrNull = z.string().nullable();
const strs = z.array(z.string());
const int = z.number().int();
const credential = strOrNull;

const ENVELOPE = {
  v: z.literal(1),
  seq: int.nonnegative(),
  prev_hash: str,
  at: str,
  type: str,
  actor: strOrNull,
  surface: strOrNull,
  bundle_id: strOrNull,
  subjects: z.record(z.string(), z.string()),
};

const Envelope = z.object(ENVELOPE) satisfies z.ZodType<EntryEnvelope>;
/** An entry outside the catalog: its envelope is the ledger's, its payload any canonical object. */
const OtherEntry = z.object({ ...ENVELOPE, payload: canonicalObject });

const OPERATIONS = z.enum([
  'propose',
  'approve',
  'deny',
  'consume',
  'lease_use',
  'outcome',
  'hold_open',
  'hold_evidence',
  'hold_lift',
  'override_request',
  'override_submit',
  'rollback_register',
  'rollback_run',
  'halt',
  'halt_lift',
  'bundle_activate',
  'release_propose',
  'release_approve',
  'token_admin',
  'passkey_register',
  'passkey_revoke',
  'status',
  'wait',
  'decide',
  'policy_read',
  'ledger_read',
  'checkpoint',
  'prove',
  'trace',
]);

const StepBody = z.object({
  step: str,
  index: int,
  action: str,
  environment: str,
  target: str,
  params: canonicalObject,
  rationale: strOrNull,
  expected_consequence: strOrNull,
});

const Requirements = z.object({
  quorum: z.array(z.object({ roles: strs, count: int })),
  surfaces: strs,
  attestation: z.enum(['key', 'any']),
  approval_expires_at: strOrNull,
  grant_ttl_ms: int,
  rollback_required: z.boolean(),
  prerequisites: z.array(z.object({ action: str, within: str, satisfied_at: str, expires_at: str })),
});

const HoldScope = z.object({ environments: strs, classes: strs, actions: strs, targets: strs });
const LeaseScope = z.object({ environments: strs, actions: strs, targets: strs });

const HaltScope = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('environment'), environment: str }),
  z.object({ kind: z.literal('incident'), incident: str }),
  z.object({ kind: z.literal('all') }),
]);

const Signer = z.object({
  role: z.enum(['a', 'b', 'extra']),
  principal: str,
  key_id: str,
  surface: str,
  signed_at: str,
  body_hash: str,
  signature: str,
  passkey: z.object({ credential_id: str, authenticator_data: str, client_data_json: str }).optional(),
  signature_verified: z.boolean(),
});

const OverrideBody = z
  .object({
    id: str,
    hold_ref: strOrNull,
    step_digests: strs,
    trip_gate_ack: strOrNull,
    valid_from: str,
    valid_to: str,
    scope: LeaseScope,
    reason_code: str,
    reason_text: str,
    rollback_ref: str,
    requester: str,
    request_surface: str,
  })
  .catchall(canonical);

const decision = z.enum(['approve', 'deny']);

const GoldenSummary = z.object({ cases: int, failed: int, failures: strs, coverage_percent: int, digest: str });
const DiffSummary = z.object({ replayed: int, changed: int, static_changes: int, digest: str, through_seq: int.optional() });

/** One schema per catalog type, in the catalog's order; checked both ways against the types below. */
const SCHEMAS = {
  'release.proposed': z.object({
    release: str,
    candidate: str,
    name: str,
    previous_bundle_id: strOrNull,
    bundle: canonical,
    golden: GoldenSummary.nullable(),
    golden_files: z.array(z.object({ name: str, text: str })).optional(),
    diff: DiffSummary,
    release_digest: str,
    requirements: Requirements,
    expires_at: str,
    credential,
    rule_ids: strs,
  }),
  'release.signed': z.object({
    release: str,
    candidate: str,
    release_digest: str,
    decision,
    approver: str,
    roles: strs,
    surface: str,
    credential: str,
    attestation: z.enum(['key', 'gateway']),
    key_id: strOrNull,
    signature: str,
    signature_verified: z.boolean(),
    signed_at: str,
    reason: str,
    counted_for: z.array(int),
    rule_ids: strs,
  }),
  'passkey.registered': z.object({
    credential_id: str,
    principal: str,
    public_key: z.discriminatedUnion('kty', [
      z.object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: str, y: str }),
      z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: str }),
      z.object({ kty: z.literal('RSA'), n: str, e: str }),
    ]),
    algorithm: z.literal([-7, -8, -257]),
    rp_id: str,
    origin: str,
    identity: z.object({ issuer: str, subject: str }).nullable(),
    credential: str,
  }),
  'passkey.revoked': z.object({ credential_id: str, principal: str, revoked_by: str, credential: str }),
  'release.rejected': z.object({
    release: str,
    code: str,
    decision,
    approver: str,
    surface: str,
    credential: str,
    attestation: z.enum(['key', 'gateway']),
    signature_verified: z.boolean(),
    statement_digest: strOrNull,
    rule_ids: strs,
  }),
  'bundle.activated': z.object({
    bundle_id: str,
    name: str,
    previous_bundle_id: strOrNull,
    credential,
    rule_ids: strs,
    release: strOrNull.optional(),
    bundle: canonical.nullable().optional(),
    grants_revoked: int.nonnegative().optional(),
  }),
  'proposal.received': z.object({ proposal: str, agent: str, on_behalf_of: str, surface: str, credential, incident: strOrNull, steps: z.array(StepBody) }),
  'step.decided': z.object({
    step: str,
    proposal: str,
    index: int,
    action: str,
    environment: str,
    target: str,
    effect: z.enum(['allow', 'require_approval', 'deny', 'held']),
    risk: strOrNull,
    class: strOrNull,
    rule_ids: strs,
    reasons: strs,
    digest: strOrNull,
    requirements: Requirements.nullable(),
    redecided: z.literal('bundle_change').nullable(),
    credential,
  }),
  'request.opened': z.object({
    request: str,
    step: str,
    proposal: str,
    digest: str,
    action: str,
    environment: str,
    target: str,
    risk: str,
    agent: str,
    on_behalf_of: str,
    request_surface: str,
    credentials: strs,
    requirements: Requirements,
    expires_at: str,
    rule_ids: strs,
  }),
  'approval.accepted': z.object({
    request: str,
    step: str,
    digest: str,
    decision,
    approver: str,
    roles: strs,
    surface: str,
    credential: str,
    attestation: z.enum(['key', 'gateway', 'passkey']),
    key_id: strOrNull,
    signature: str,
    passkey: z.object({ credential_id: str, authenticator_data: str, client_data_json: str }).optional(),
    signature_verified: z.boolean(),
    signed_at: str,
    reason: str,
    counted_for: z.array(int),
    rule_ids: strs,
  }),
  'approval.rejected': z.object({
    request: str,
    code: str,
    decision,
    approver: str,
    surface: str,
    credential: str,
    attestation: z.enum(['key', 'gateway', 'passkey']),
    signature_verified: z.boolean(),
    statement_digest: strOrNull,
    rule_ids: strs,
  }),
  'request.approved': z.object({ request: str, step: str, digest: str, approvers: strs, rule_ids: strs }),
  'request.denied': z.object({ request: str, step: str, digest: str, denied_by: str, reason: str, rule_ids: strs }),
  'request.expired': z.object({ request: str, step: str, expires_at: str }),
  'request.voided': z.discriminatedUnion('reason', [
    z.object({ request: str, step: str, reason: z.literal('bundle_change'), new_bundle_id: str }),
    z.object({ request: str, step: str, reason: z.literal('step_executed'), execution: str }),
  ]),
  'grant.issued': z.object({
    jti: str,
    step: str,
    proposal: str,
    request: strOrNull,
    digest: str,
    action: str,
    environment: str,
    target: str,
    bundle_id: str,
    incident: strOrNull,
    issued_at: str,
    expires_at: str,
    rule_ids: strs,
  }),
  'grant.consumed': z.object({ jti: str, execution: str, step: str, digest: str, environment: str, target: str, credential, rule_ids: strs }),
  'step.executed': z.object({
    step: str,
    proposal: str,
    execution: str,
    digest: str,
    action: str,
    environment: str,
    target: str,
    credential,
    rule_ids: strs,
  }),
  'grant.rejected': z.object({ jti: str, code: str, credential, rule_ids: strs }),
  'grant.revoked': z.object({ jti: str, reason: z.enum(['halt', 'bundle_change', 'step_executed']), cause: str, rule_ids: strs }),
  'execution.outcome': z.object({ execution: str, outcome: z.enum(['succeeded', 'failed', 'ambiguous']), detail: str, credential }),
  'hold.opened': z.object({ hold: str, trip_gate: str, scope: HoldScope, evidence_hash: str, incident: strOrNull, reason: str, credential, rule_ids: strs }),
  'hold.evidence_added': z.object({ hold: str, evidence_hash: str, credential, rule_ids: strs }),
  'hold.lifted': z.object({ hold: str, reason: str, credential, rule_ids: strs }),
  'hold.rejected': z.object({ operation: z.enum(['hold_open', 'hold_evidence', 'hold_lift']), hold: strOrNull, code: str, credential, rule_ids: strs }),
  'override.requested': z.object({
    override: str,
    body: OverrideBody,
    body_hash: str,
    hold: strOrNull,
    step_digests: strs,
    incident: strOrNull,
    credential,
    rule_ids: strs,
  }),
  'override.granted': z.object({
    override: str,
    lease: str,
    hold: strOrNull,
    step_digests: strs,
    environments: strs,
    scope: LeaseScope,
    trip_gate_ack: strOrNull,
    valid_from: str,
    valid_to: str,
    reason_code: str,
    rollback_artifact: str,
    incident: strOrNull,
    signers: z.array(Signer),
    body_hash: str,
    evidence_hash: str,
    credential,
    rule_ids: strs,
  }),
  'override.denied': z.object({
    override: str,
    codes: strs,
    findings: z.array(z.object({ code: str, detail: str })),
    signers: z.array(Signer),
    body_hash: str,
    evidence_hash: str,
    credential,
    rule_ids: strs,
  }),
  'lease.used': z.object({ lease: str, step: str, digest: str, execution: str, credential, rule_ids: strs }),
  'lease.rejected': z.object({ lease: str, step: strOrNull, code: str, credential, rule_ids: strs }),
  'lease.revoked': z.object({ lease: str, reason: z.enum(['hold_evidence', 'bundle_change', 'rollback', 'halt']), cause: str, rule_ids: strs }),
  'lease.step_retired': z.object({ lease: str, step: str, digest: str, reason: z.literal('step_executed'), execution: str, rule_ids: strs }),
  'lease.clock_breach': z.object({
    lease: str,
    code: z.literal('O3_CLOCK_BREACH'),
    step: strOrNull,
    digest: strOrNull,
    valid_from: str,
    valid_to: str,
    attempted_at: str,
    incident_flag: z.literal(true),
    credential,
    rule_ids: strs,
  }),
  'rollback.registered': z.object({
    artifact: str,
    reverses_step: str,
    action: str,
    environment: str,
    target: str,
    params: canonicalObject,
    digest: str,
    status: z.literal('ready'),
    credential,
    rule_ids: strs,
  }),
  'rollback.executed': z.object({ artifact: str, execution: str, reverses_step: str, reverses_execution: strOrNull, digest: str, credential, rule_ids: strs }),
  'halt.issued': z.object({ halt: str, scope: HaltScope, reason: str, credential, rule_ids: strs, grants_revoked: int.nonnegative().optional() }),
  'halt.lifted': z.object({ halt: str, reason: str, credential, rule_ids: strs }),
  'authority.rejected': z.object({ operation: OPERATIONS, code: str, target_id: strOrNull, credential, rule_ids: strs, golden: GoldenSummary.optional() }),
};

/** zod's outputs are mutable; the catalog's types are readonly. Canonical values are compared as they are. */
type Writable<T> = [CanonicalValue] extends [T]
  ? T
  : T extends readonly (infer U)[]
    ? Writable<U>[]
    : T extends object
      ? { -readonly [K in keyof T]: Writable<T[K]> }
      : T;

/**
 * Both directions, per type: the constraint fails when a schema is missing
 * or lets through what its type does not allow; `never` (and so the
 * assignment below) when a schema refuses what its type allows, such as an
 * enum short of one value or a field missing `null`.
 */
type Exact<S extends { readonly [T in EntryType]: z.ZodType<AuthorityPayloads[T]> }> = {
  readonly [T in EntryType]: Writable<AuthorityPayloads[T]> extends z.output<S[T]> ? S[T] : never;
};

const PAYLOAD_SCHEMAS: Exact<typeof SCHEMAS> = SCHEMAS;

/** By type name, so a type outside the catalog finds none; ENTRY_TYPES is the list `isEntryType` and the reducer go by. */
const ENTRY_SCHEMAS: ReadonlyMap<string, z.ZodType> = new Map(ENTRY_TYPES.map((type) => [type, Envelope.extend({ payload: PAYLOAD_SCHEMAS[type] })]));

// --- parsing ---------------------------------------------------------------

/** RFC 6901 §4: `~` is written `~0` and `/` is written `~1` in a reference token. */
function pointer(path: readonly PropertyKey[]): string {
  return path.map((key) => `/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && !Number.isSafeInteger(value)) return 'non-integer number';
  return typeof value;
}

function problemOf(issue: z.core.$ZodIssue): string {
  // a tagged union reports at its tag with the object holding it as input; anything else, with the value itself
  if (issue.code !== 'invalid_union' && issue.input === undefined) return 'missing';
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected === 'int' ? 'integer' : issue.expected}, found ${kindOf(issue.input)}`;
    case 'invalid_value':
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}, found ${JSON.stringify(issue.input) ?? kindOf(issue.input)}`;
    case 'invalid_union': {
      if (issue.discriminator === undefined || !('options' in issue) || issue.options === undefined) return 'matches none of its variants';
      const found: unknown = typeof issue.input === 'object' && issue.input !== null ? Reflect.get(issue.input, issue.discriminator) : undefined;
      if (found === undefined) return 'missing';
      return `expected ${issue.options.map((v) => JSON.stringify(v)).join(' or ')}, found ${JSON.stringify(found) ?? kindOf(found)}`;
    }
    case 'too_small':
      return `expected at least ${String(issue.minimum)}`;
    default:
      return issue.message.charAt(0).toLowerCase() + issue.message.slice(1);
  }
}

/**
 * Check one decoded entry against the catalog. An authority or other entry
 * is the checked copy (fields no schema names are dropped); the ledger's own
 * object is left as it is.
 */
export function parseEntry(entry: LedgerEntry): ParsedEntry {
  // decoded JSON: typed as an entry, checked as anything (`typeof` looks at the value, not the type)
  const isObject = typeof entry === 'object' && entry !== null;
  const type = isObject && typeof entry.type === 'string' ? entry.type : null;
  const seq = isObject && Number.isSafeInteger(entry.seq) && entry.seq >= 0 ? entry.seq : null;
  const schema = type === null ? undefined : ENTRY_SCHEMAS.get(type);
  if (schema === undefined) {
    const other = OtherEntry.safeParse(entry);
    return other.success ? { kind: 'other', entry: other.data } : malformed(OtherEntry, entry, seq, type);
  }
  const parsed = schema.safeParse(entry);
  // INVARIANT: the schema of `type` accepted it, so its payload is AuthorityPayloads[type]
  // (the one place this is asserted rather than inferred: a schema looked up by name)
  return parsed.success ? { kind: 'authority', entry: parsed.data as AuthorityEntry } : malformed(schema, entry, seq, type);
}

function malformed(schema: z.ZodType, entry: LedgerEntry, seq: number | null, type: string | null): ParsedEntry {
  // again, keeping the offending values for the message: slower, so only on failure
  const again = schema.safeParse(entry, { reportInput: true });
  const first = again.error?.issues[0];
  const issue: EntryIssue = {
    seq,
    type,
    pointer: first === undefined ? '' : pointer(first.path),
    problem: first === undefined ? 'does not match its type' : problemOf(first),
  };
  const envelope = Envelope.safeParse(entry);
  return { kind: 'malformed', issue, envelope: envelope.success ? envelope.data : null };
}

/** `parseEntry` over a ledger, in order. */
export function parseEntries(entries: readonly LedgerEntry[]): ParsedEntry[] {
  return entries.map(parseEntry);
}

/** `` `/payload/step`: expected string, found number ``, for messages. */
export function entryIssueText(issue: EntryIssue): string {
  return `${issue.pointer === '' ? 'the entry' : `\`${issue.pointer}\``}: ${issue.problem}`;
}

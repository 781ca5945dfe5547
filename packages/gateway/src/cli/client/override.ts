import { randomBytes } from 'node:crypto';
import { access, readFile, rename, writeFile } from 'node:fs/promises';
import { overrideBodyHash, parseDuration, parseOverrideBody, signOverride, type OverrideBody, type OverrideSignature, type SignerRole } from '@countersign/core';
import { CountersignClientError, type OverrideRequest } from '@countersign/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { GatewayError } from '../../errors.js';
import { EXIT } from '../exit.js';
import { exitCodesHelp } from '../help.js';
import { clientAction, connect, connectionOptions, EXIT_CODES_HELP, type ConnectionFlags } from './connection.js';
import { collect } from './evidence.js';
import { fields, type Outcome } from './output.js';
import { confirmSigning, resolveSigner, signerOptions, type SignerFlags } from './signer.js';

/**
 * The override file that travels between the requester and the two signers:
 * the canonical body exactly as the gateway recorded it, its hash, and the
 * signatures gathered so far. Each signer adds theirs on their own machine
 * (`override sign`); nothing in it is secret, and any edit to the body breaks
 * every signature over it.
 */
export const OVERRIDE_FILE_FORMAT = 'countersign-override/v1';

const Signature = z.strictObject({
  role: z.enum(['a', 'b', 'extra']),
  signer: z.string(),
  key_id: z.string(),
  surface: z.string(),
  signed_at: z.string(),
  body_hash: z.string(),
  signature: z.string(),
});

const OverrideFile = z.strictObject({
  format: z.literal(OVERRIDE_FILE_FORMAT),
  override: z.string(),
  body: z.unknown(),
  body_hash: z.string(),
  signatures: z.array(Signature).max(8),
});

interface LoadedOverride {
  readonly override: string;
  readonly body: OverrideBody;
  readonly bodyHash: string;
  readonly signatures: OverrideSignature[];
}

const STEP_DIGEST = /^sha256:[0-9a-f]{64}$/;
const ROLES: readonly SignerRole[] = ['a', 'b', 'extra'];

async function loadOverride(path: string): Promise<LoadedOverride> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code !== undefined;
    throw new GatewayError(missing ? 'FILE_NOT_FOUND' : 'USAGE', missing ? `override file \`${path}\` cannot be read` : `override file \`${path}\` is not JSON`, { path });
  }
  const parsed = OverrideFile.safeParse(raw);
  if (!parsed.success) {
    const at = `/${parsed.error.issues[0]?.path.join('/') ?? ''}`;
    throw new GatewayError('USAGE', `override file \`${path}\` is not a ${OVERRIDE_FILE_FORMAT} file (at \`${at}\`)`, { path });
  }
  const body = parseOverrideBody(parsed.data.body);
  const bodyHash = overrideBodyHash(body);
  // the body is what the signers read and what the gateway recorded: a file edited since no longer is
  if (bodyHash !== parsed.data.body_hash || body.id !== parsed.data.override) {
    throw new CountersignClientError('BODY_HASH_MISMATCH', `the body in \`${path}\` is not the body the gateway recorded (hash differs); nothing was signed or sent`);
  }
  return { override: parsed.data.override, body, bodyHash, signatures: parsed.data.signatures };
}

/** Write next to the file and rename over it, so a crash never leaves half a file with a signature in it. */
async function saveOverride(path: string, loaded: LoadedOverride, flag: 'wx' | 'w'): Promise<void> {
  const document = {
    format: OVERRIDE_FILE_FORMAT,
    override: loaded.override,
    body: loaded.body,
    body_hash: loaded.bodyHash,
    signatures: loaded.signatures,
  };
  const textOut = `${JSON.stringify(document, null, 2)}\n`;
  if (flag === 'wx') {
    try {
      await writeFile(path, textOut, { flag: 'wx', mode: 0o644 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new GatewayError('FILE_EXISTS', `\`${path}\` already exists; refusing to overwrite it`, { path });
      throw new GatewayError('FILE_NOT_FOUND', `cannot write \`${path}\``, { path });
    }
    return;
  }
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, textOut, { flag: 'wx', mode: 0o644 });
  await rename(temp, path);
}

export function bodyText(body: OverrideBody, bodyHash: string): string {
  return fields([
    ['override', body.id],
    ['hold', body.hold_ref ?? 'none'],
    ['trip gate ack', body.trip_gate_ack ?? 'none'],
    ['steps unlocked', body.step_digests],
    ['valid from', body.valid_from],
    ['valid to', body.valid_to],
    ['environments', body.scope.environments],
    ['actions', body.scope.actions],
    ['targets', body.scope.targets],
    ['reason code', body.reason_code],
    ['reason', body.reason_text],
    ['rollback artifact', body.rollback_ref],
    ['requested by', `${body.requester} via ${body.request_surface}`],
    ['incident class', body.incident_class],
    ['body hash', bodyHash],
  ]);
}

interface RequestFlags extends ConnectionFlags {
  readonly hold?: string;
  readonly step: string[];
  readonly gateAck?: string;
  readonly validFrom?: string;
  readonly validFor: string;
  readonly scopeEnv: string[];
  readonly scopeAction: string[];
  readonly scopeTarget: string[];
  readonly reasonCode: string;
  readonly reason: string;
  readonly rollback: string;
  readonly incidentClass?: string;
  readonly out: string;
}

function windowOf(flags: RequestFlags): { valid_from: string; valid_to: string } {
  const from = flags.validFrom === undefined ? Date.now() : Date.parse(flags.validFrom);
  if (!Number.isFinite(from) || (flags.validFrom !== undefined && !/^\d{4}-\d{2}-\d{2}T[^Z]*Z$/.test(flags.validFrom))) {
    throw new GatewayError('USAGE', `\`--valid-from\` must be a UTC instant such as \`2026-05-15T09:30:00Z\`; got \`${flags.validFrom ?? ''}\``);
  }
  let ms: number;
  try {
    ms = parseDuration(flags.validFor);
  } catch {
    throw new GatewayError('USAGE', `\`--valid-for\` must be a duration such as \`30m\` or \`1h\`; got \`${flags.validFor}\``);
  }
  return { valid_from: new Date(from).toISOString(), valid_to: new Date(from + ms).toISOString() };
}

/**
 * The gateway builds the body (it adds the id, the requester and the request
 * surface from the credential); everything else must be what was asked, or
 * the signers would sign something the requester never wrote.
 */
function checkEcho(body: OverrideBody, asked: OverrideRequest): void {
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  const instant = (a: string, b: unknown): boolean => typeof b === 'string' && Date.parse(a) === Date.parse(b);
  const echoes: [string, boolean][] = [
    ['hold_ref', same(body.hold_ref, asked['hold'])],
    ['step_digests', same(body.step_digests, asked['step_digests'])],
    ['trip_gate_ack', same(body.trip_gate_ack, asked['trip_gate_ack'])],
    ['valid_from', instant(body.valid_from, asked['valid_from'])],
    ['valid_to', instant(body.valid_to, asked['valid_to'])],
    ['scope', same(body.scope, asked['scope'])],
    ['reason_code', body.reason_code === asked['reason_code']],
    ['reason_text', body.reason_text.normalize('NFC') === String(asked['reason_text']).normalize('NFC')],
    ['rollback_ref', body.rollback_ref === asked['rollback_artifact']],
    ['incident_class', body.incident_class === asked['incident_class']],
  ];
  const differing = echoes.filter(([, ok]) => !ok).map(([field]) => field);
  if (differing.length > 0) {
    throw new CountersignClientError('BAD_RESPONSE', `the gateway's override body differs from the request at \`${differing.join('`, `')}\`; nothing was written`);
  }
}

export function register(program: Command): void {
  const override = program
    .command('override')
    .description('request, sign and submit an override lease: dual-signed, scoped, time-boxed, bound to a ready rollback')
    .addHelpText(
      'after',
      `
An override is rarer, slower and louder than an approval. The flow:
  1. the requester:  countersign override request ... --out override.json
     (the gateway records the request and returns the canonical body)
  2. signer A, on their machine:  countersign override sign override.json --key a.key --as a --policy policy.yaml
  3. signer B, on theirs:         countersign override sign override.json --key b.key --as b --policy policy.yaml
     (an extra signer, --as extra, when the environment's override budget is spent)
  4. anyone:         countersign override submit override.json
Neither signer may be the requester or report to them, nor sign through the
request's surface (O1). The gateway checks every gate (O1-O8) at submit and
records every attempt, granted or denied.
${EXIT_CODES_HELP}

Examples:
  countersign override request --hold hold-3 --gate-ack K1 --step STEP_DIGEST --scope-env prod --scope-action workers.restart_pool --scope-target payments-worker --reason-code CUSTOMER_IMPACT --reason 'settlements failing' --rollback artifact-1 --out override.json
  countersign override sign override.json --key cs/keys/fatima-2025.key --as a --policy cs/policy.yaml
  countersign override submit override.json`,
    );

  connectionOptions(
    override
      .command('request')
      .description('record an override request and write its canonical body to a file for the signers')
      .requiredOption('--step <digest>', 'step digest the lease unlocks (repeat for more); nothing else is unlocked', collect, [])
      .option('--hold <id>', 'the hold being overridden (omit when no hold applies and approvers are unavailable)')
      .option('--gate-ack <id>', "the hold's trip gate, echoed (e.g. K1); required with --hold")
      .option('--valid-from <instant>', 'start of the window, UTC (default now)')
      .option('--valid-for <duration>', 'length of the window; the policy caps it (4h default, less per class)', '1h')
      .option('--scope-env <env>', 'environment allowed (repeat; no wildcards)', collect, [])
      .option('--scope-action <action>', 'action allowed (repeat; no wildcards)', collect, [])
      .option('--scope-target <target>', 'target allowed (repeat; no wildcards)', collect, [])
      .requiredOption('--reason-code <code>', "one of the policy's overrides.reason_codes")
      .requiredOption('--reason <text>', 'why, in words')
      .requiredOption('--rollback <artifact>', 'rollback artifact id; it must exist and be ready')
      .option('--incident-class <class>', 'incident class, when the policy restricts eligibility by class')
      .requiredOption('--out <file>', 'where to write the override file (never overwritten)'),
  )
    .addHelpText(
      'after',
      `
Exit status: 0 when the request is recorded and the file written; 1 when refused.
${EXIT_CODES_HELP}

Examples:
  countersign override request --hold hold-3 --gate-ack K1 --step STEP_DIGEST --valid-for 1h --scope-env prod --scope-action workers.restart_pool --scope-target payments-worker --reason-code CUSTOMER_IMPACT --reason 'settlements failing' --rollback artifact-1 --out override.json
  countersign override request --step STEP_DIGEST --scope-env prod --scope-action workers.restart_pool --scope-target payments-worker --reason-code APPROVER_UNAVAILABLE --reason 'no approver reachable' --rollback artifact-1 --out override.json`,
    )
    .action(
      clientAction(async (opts: RequestFlags): Promise<Outcome> => {
        if (opts.step.length === 0) throw new GatewayError('USAGE', 'name at least one step digest with `--step`');
        const bad = opts.step.find((d) => !STEP_DIGEST.test(d));
        if (bad !== undefined) throw new GatewayError('USAGE', `\`--step\` takes a step digest (\`sha256:\` and 64 hex digits); got \`${bad}\``);
        if (opts.hold !== undefined && opts.gateAck === undefined) throw new GatewayError('USAGE', "`--hold` needs `--gate-ack`, echoing the hold's trip gate");
        // before the gateway records anything: a request whose file cannot be written is a request nobody can sign
        if (await access(opts.out).then(() => true, () => false)) throw new GatewayError('FILE_EXISTS', `\`${opts.out}\` already exists; refusing to overwrite it`, { path: opts.out });
        const asked: OverrideRequest = {
          hold: opts.hold ?? null,
          step_digests: opts.step,
          trip_gate_ack: opts.gateAck ?? null,
          ...windowOf(opts),
          scope: { environments: opts.scopeEnv, actions: opts.scopeAction, targets: opts.scopeTarget },
          reason_code: opts.reasonCode,
          reason_text: opts.reason,
          rollback_artifact: opts.rollback,
          ...(opts.incidentClass === undefined ? {} : { incident_class: opts.incidentClass }),
        };
        const answer = await connect(opts).requestOverride(asked);
        const id = answer.id;
        let body: OverrideBody;
        try {
          body = parseOverrideBody(answer.body);
        } catch {
          throw new CountersignClientError('BAD_RESPONSE', 'the override body the gateway returned is not valid; nothing was written');
        }
        const bodyHash = overrideBodyHash(body);
        if (body.id !== id || answer.body_hash !== bodyHash) {
          throw new CountersignClientError('BAD_RESPONSE', 'the override body the gateway returned does not match its id or hash; nothing was written');
        }
        checkEcho(body, asked);
        await saveOverride(opts.out, { override: id, body, bodyHash, signatures: [] }, 'wx');
        return {
          data: { override: id, file: opts.out, body, body_hash: bodyHash },
          text: `requested override ${id}; wrote ${opts.out}\n${bodyText(body, bodyHash)}`,
          exit: EXIT.OK,
          note: `next: signers A and B each run \`countersign override sign ${opts.out} --key KEY --as a|b\` on their own machine, then \`countersign override submit ${opts.out}\``,
        };
      }),
    );

  signerOptions(
    override
      .command('sign')
      .description("add your signature and signing time to an override file, with your key, on this machine (no network)")
      .argument('<file>', 'override file written by `override request`')
      .requiredOption('--as <role>', `your seat: ${ROLES.join(', ')} (extra: when the override budget is spent)`)
      .option('--json', 'print the signature added as JSON'),
  )
    .addHelpText(
      'after',
      `
Shows the body (steps, window, scope, reason, rollback, body hash) on stderr
and asks for confirmation (--yes to skip; required without a terminal), then
signs the override id, the body hash and your claim (role, principal, key id,
surface, signing time) and writes the file back with your signature added.
The key never leaves this machine and nothing is sent.
${exitCodesHelp({
  ok: 'signed: the file now holds your signature',
  negative: "a negative answer: the file's body no longer matches its hash (BODY_HASH_MISMATCH), or you answered no (DECLINED)",
  usage: 'usage or input: the seat is already signed, bad flags, an unreadable or malformed override file',
  environment: 'environment: the key file is unusable (KEY_INVALID)',
})}

Examples:
  countersign override sign override.json --key cs/keys/fatima-2025.key --as a --policy cs/policy.yaml
  countersign override sign override.json --key cs/keys/sam-2025.key --as b --policy cs/policy.yaml --yes`,
    )
    .action(
      clientAction(async (file: string, opts: SignerFlags & { as: string; json?: boolean }): Promise<Outcome> => {
        if (!(ROLES as readonly string[]).includes(opts.as)) throw new GatewayError('USAGE', `\`--as\` must be ${ROLES.map((r) => `\`${r}\``).join(', ')}; got \`${opts.as}\``);
        const role = opts.as as SignerRole;
        const signer = resolveSigner(opts);
        const loaded = await loadOverride(file);
        if (loaded.signatures.some((s) => s.role === role)) throw new GatewayError('USAGE', `seat \`${role}\` of override \`${loaded.override}\` is already signed`);
        if (loaded.signatures.some((s) => s.signer === signer.principal)) throw new GatewayError('USAGE', `\`${signer.principal}\` has already signed override \`${loaded.override}\``);
        process.stderr.write(`You are about to SIGN this override as signer ${role}:\n${bodyText(loaded.body, loaded.bodyHash)}${fields([['signed as', `${signer.principal} (key ${signer.keyId}) via ${signer.surface}`]])}`);
        await confirmSigning(`Sign override ${loaded.override} as signer ${role}?`, opts.yes);
        const signature = signOverride(loaded.body, { role, signer: signer.principal, key_id: signer.keyId, surface: signer.surface, signed_at: new Date().toISOString() }, signer.key);
        const signatures = [...loaded.signatures, signature];
        await saveOverride(file, { ...loaded, signatures }, 'w');
        return {
          data: signature,
          text: `signed override ${loaded.override} as ${signer.principal} (key ${signer.keyId}), seat ${role}, via ${signer.surface}\n${fields([['seats signed', signatures.map((s) => `${s.role}: ${s.signer}`)]])}`,
          exit: EXIT.OK,
        };
      }),
    );

  connectionOptions(
    override
      .command('submit')
      .description('send the override body id and its signatures; the gateway checks every gate and grants the lease or refuses with codes')
      .argument('<file>', 'override file with the signatures'),
  )
    .addHelpText(
      'after',
      `
Exit status: 0 when the lease is granted; 1 when refused (O1_IDENTITY_COLLISION,
O2_SCOPE_CREEP, O3_CLOCK_BREACH, O4_MISSING_ROLLBACK, O5_NOT_ELIGIBLE,
O6_GATE_ACK_MISMATCH, O7_DURATION_EXCEEDED, O8_BUDGET_EXHAUSTED: every failing
gate is listed on stderr).
${EXIT_CODES_HELP}

Examples:
  countersign override submit override.json
  countersign override submit override.json --json | jq -r .lease`,
    )
    .action(
      clientAction(async (file: string, opts: ConnectionFlags): Promise<Outcome> => {
        const loaded = await loadOverride(file);
        if (loaded.signatures.length === 0) throw new GatewayError('USAGE', `override file \`${file}\` has no signatures yet: run \`countersign override sign\` first`);
        const answer = await connect(opts).submitOverride(loaded.override, loaded.signatures);
        return {
          data: answer,
          text: `granted lease ${answer.lease} for override ${loaded.override}\n${fields([
            ['valid from', answer.valid_from],
            ['valid to', answer.valid_to],
            ['steps unlocked', answer.step_digests],
            ['evidence hash', answer.evidence_hash],
          ])}`,
          exit: EXIT.OK,
        };
      }),
    );
}

import { parseStatement, signStatement, stepDigest, type ApprovalStatement, type CanonicalValue } from '@countersign/core';
import { CountersignClientError, type RequestView, type SignedStatement } from '@countersign/client';
import type { Command } from 'commander';
import { EXIT } from '../exit.js';
import { clientAction, connect, connectionOptions, EXIT_CODES_HELP, type ConnectionFlags } from './connection.js';
import { fields, show, type Outcome } from './output.js';
import { confirmSigning, resolveSigner, signerOptions, type SignerFlags } from './signer.js';

type Decision = ApprovalStatement['decision'];

interface DecideFlags extends ConnectionFlags, SignerFlags {
  readonly reason?: string;
}

/** What the approver is shown: everything the signature binds, and the prose that explains it. */
interface Shown {
  readonly view: RequestView;
  readonly bundleId: string;
  readonly params: { readonly [key: string]: CanonicalValue };
}

function isPlainObject(value: unknown): value is { readonly [key: string]: CanonicalValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Check the request before anything is signed. The digest is recomputed here
 * from the action, environment, target, parameters and bundle shown, so what
 * the approver reads is provably what the signature covers (DESIGN.md
 * invariant 3): a gateway that shows one step and asks a signature for
 * another is refused. Missing fields fail closed.
 */
function checkRequest(id: string, view: RequestView): Shown {
  if (view.id !== id) throw new CountersignClientError('BAD_RESPONSE', `asked for request \`${id}\`, the gateway answered with \`${view.id}\``);
  const bundleId = view.bundle_id;
  if (bundleId === null) throw new CountersignClientError('BAD_RESPONSE', `the gateway did not say which policy bundle request \`${id}\` is under; nothing was signed`);
  const params = view.params;
  if (!isPlainObject(params)) throw new CountersignClientError('BAD_RESPONSE', `the gateway did not send the parameters of request \`${id}\`, so its digest cannot be checked; nothing was signed`);
  let digest: string;
  try {
    digest = stepDigest({ action: view.action, environment: view.environment, target: view.target, params }, bundleId);
  } catch {
    throw new CountersignClientError('BAD_RESPONSE', `the step of request \`${id}\` cannot be hashed canonically; nothing was signed`);
  }
  if (digest !== view.digest) {
    throw new CountersignClientError('DIGEST_MISMATCH', `the step shown for request \`${id}\` does not hash to the digest it asks you to sign; nothing was signed`, {
      details: { shown: digest, requested: view.digest },
    });
  }
  if (view.status !== 'open') {
    throw new CountersignClientError('REQUEST_CLOSED', `request \`${id}\` is ${view.status}: there is nothing to sign`, { details: { status: view.status } });
  }
  return { view, bundleId, params };
}

export function signingSummary(decision: Decision, shown: Shown, signer: { principal: string; keyId: string; surface: string }): string {
  const { view } = shown;
  return (
    `You are about to ${decision === 'approve' ? 'APPROVE' : 'DENY'} this step:\n` +
    fields([
      ['request', view.id],
      ['action', view.action],
      ['environment', view.environment],
      ['target', view.target],
      ['params', show(shown.params)],
      ['risk', view.risk],
      ['class', view.class],
      ['expected consequence', view.expected_consequence ?? 'not stated'],
      ['rationale', view.rationale],
      ['rollback plan', view.rollback_plan ?? 'none registered'],
      ['proposed by', view.agent],
      ['on behalf of', view.on_behalf_of],
      ['requested via', view.surface],
      ['expires', view.expires_at],
      ['step digest', view.digest],
      ['bundle id', shown.bundleId],
      ['signed as', `${signer.principal} (key ${signer.keyId}) via ${signer.surface}`],
    ])
  );
}

async function decide(decision: Decision, id: string, opts: DecideFlags): Promise<Outcome> {
  // key problems surface before any network call, and the key stays in this process
  const signer = resolveSigner(opts);
  const client = connect(opts);
  const shown = checkRequest(id, await client.status(id));
  process.stderr.write(signingSummary(decision, shown, signer));
  await confirmSigning(`${decision === 'approve' ? 'Approve' : 'Deny'} request ${id}?`, opts.yes);

  const statement = parseStatement({
    request: shown.view.id,
    step_digest: shown.view.digest,
    bundle_id: shown.bundleId,
    decision,
    approver: signer.principal,
    surface: signer.surface,
    reason: opts.reason ?? '',
    signed_at: new Date().toISOString(),
  });
  // only the statement and the signature are sent: never the key
  const signed: SignedStatement = { statement, attestation: { kind: 'key', key_id: signer.keyId, signature: signStatement(statement, signer.key) } };
  const answer = decision === 'approve' ? await client.approve(id, signed) : await client.deny(id, signed);

  const status = answer.status;
  const grant = answer.grant;
  const verb = decision === 'approve' ? 'approved' : 'denied';
  const textOut =
    `${verb} request ${id} as ${signer.principal} (key ${signer.keyId}) via ${signer.surface}\n` +
    fields([
      ['status', status],
      ['quorum met', answer.quorum_met ? 'yes' : 'no'],
      ['still needed', answer.remaining.length > 0 ? answer.remaining : null],
      ['grant', grant],
    ]);
  const note = decision === 'approve' && status === 'open' ? 'the request needs more approvals before a grant is issued' : undefined;
  return { data: { statement, attestation: signed.attestation, result: answer }, text: textOut, exit: EXIT.OK, ...(note ? { note } : {}) };
}

const HELP = (decision: Decision) => `
Fetches the request, checks that the step shown hashes to the digest to be
signed, shows what is being ${decision === 'approve' ? 'approved' : 'denied'} (action, target, environment, risk,
expected consequence, rollback plan, step digest, bundle id) on stderr, asks
for confirmation, then signs the canonical approval statement with your key
on this machine. Only the statement and its signature are sent.

Your principal and key id come from the roster of --policy (the key's public
half is looked up there), or from --principal and --key-id. --surface must be
the surface your token is bound to (default signed-cli).

Exit status: 0 when the gateway accepted the ${decision === 'approve' ? 'approval' : 'denial'}; 1 when it refused it
(SELF_APPROVAL, SURFACE_NOT_ALLOWED, REQUEST_CLOSED, ... on stderr), when the
request is no longer open, or when you answered no.
${EXIT_CODES_HELP}

Examples:
  countersign ${decision} REQUEST_ID --key cs/keys/leo-2025.key --policy cs/policy.yaml --reason ${decision === 'deny' ? "'snapshot first'" : "'right channel'"}
  COUNTERSIGN_TOKEN=$COUNTERSIGN_TOKEN_LEO_SIGNED_CLI countersign ${decision} REQUEST_ID --key cs/keys/leo-2025.key --policy cs/policy.yaml --json`;

export function register(program: Command): void {
  connectionOptions(
    signerOptions(
      program
        .command('approve')
        .description('approve an approval request: show what is signed, sign it with your key locally, submit the signature')
        .argument('<id>', 'request id')
        .option('--reason <text>', 'why, recorded with the approval'),
    ),
  )
    .addHelpText('after', HELP('approve'))
    .action(clientAction((id: string, opts: DecideFlags) => decide('approve', id, opts)));

  connectionOptions(
    signerOptions(
      program
        .command('deny')
        .description('deny an approval request with a reason, signed with your key locally; one eligible denial closes it')
        .argument('<id>', 'request id')
        .requiredOption('--reason <text>', 'why, recorded with the denial'),
    ),
  )
    .addHelpText('after', HELP('deny'))
    .action(clientAction((id: string, opts: DecideFlags) => decide('deny', id, opts)));
}

import { basename } from 'node:path';
import { loadPolicy, parseStatement, releaseDigest, signStatement } from '@countersign/core';
import { CountersignClientError, type Release } from '@countersign/client';
import type { Command } from 'commander';
import { EXIT } from './exit.js';
import { collectCaseFiles, readInputFile } from '../golden/files.js';
import { clientAction, connect, connectionOptions, EXIT_CODES_HELP, type ConnectionFlags } from './client/connection.js';
import { fields, type Outcome } from './client/output.js';
import { confirmSigning, resolveSigner, signerOptions, type SignerFlags } from './client/signer.js';

/**
 * `countersign policy propose|status|approve`: the governed release of a
 * bundle (issue 13, DESIGN invariant 8). Nobody changes the rules alone: a
 * candidate is proposed with its golden cases, the gateway records their
 * result and the replay diff, and signers independent of the proposer sign a
 * statement binding candidate, previous bundle, golden digest and diff digest,
 * each with their own key, on their own machine.
 */

function releaseText(release: Release): string {
  const golden = release.golden;
  return fields([
    ['release', release.id],
    ['status', release.status],
    ['candidate', `${release.name} ${release.candidate}`],
    ['replaces', release.previous_bundle_id ?? 'nothing'],
    ['golden cases', golden === null ? 'none sent' : `${golden.cases - golden.failed}/${golden.cases} passed, coverage ${golden.coverage_percent}% of contracts`],
    ['failing cases', golden !== null && golden.failures.length > 0 ? golden.failures : null],
    ['golden digest', golden?.digest ?? null],
    ['recorded decisions', `${release.diff.replayed} re-decided${release.diff.through_seq === null ? '' : ` (ledger through seq ${release.diff.through_seq})`}, ${release.diff.changed} would change`],
    ['static changes', release.diff.static_changes],
    ['diff digest', release.diff.digest],
    ['quorum', release.requirements.quorum.map((f) => `${f.count} of ${f.roles.join('|')}`).join(' and ')],
    ['surfaces', release.requirements.surfaces],
    ['attestation', release.requirements.attestation === 'key' ? 'roster key signatures only' : 'keys or console sessions'],
    ['signed by', release.signatures.length === 0 ? 'nobody yet' : release.signatures.map((s) => `${s.approver} (${s.decision}, ${s.surface})`)],
    ['proposed by', release.proposer ? `${release.proposer} via ${release.surface ?? '?'}` : null],
    ['expires', release.expires_at],
    ['release digest', release.release_digest],
  ]);
}

/**
 * The statement a signer signs binds what the gateway shows: recompute the
 * release digest from the fields shown, so a gateway that shows one golden
 * result or diff and asks a signature over another is refused before signing.
 */
function checkRelease(id: string, release: Release, candidateFile: string | undefined, candidateText: string | undefined): void {
  if (release.id !== id) throw new CountersignClientError('BAD_RESPONSE', `asked for release \`${id}\`, the gateway answered with \`${release.id}\``);
  const recomputed = releaseDigest(release.candidate, release.previous_bundle_id, release.golden, { ...release.diff, through_seq: release.diff.through_seq ?? undefined });
  if (recomputed !== release.release_digest) {
    throw new CountersignClientError('DIGEST_MISMATCH', `the release shown does not hash to the digest it asks you to sign; nothing was signed`, { details: { shown: recomputed, requested: release.release_digest } });
  }
  if (candidateText !== undefined) {
    const reviewed = loadPolicy(candidateText, candidateFile ?? 'candidate').bundleId;
    if (reviewed !== release.candidate) {
      throw new CountersignClientError('DIGEST_MISMATCH', `\`${candidateFile}\` is bundle \`${reviewed}\`, but release \`${id}\` would activate \`${release.candidate}\`; nothing was signed`);
    }
  }
  if (release.status !== 'open') throw new CountersignClientError('REQUEST_CLOSED', `release \`${id}\` is ${release.status}: there is nothing to sign`, { details: { status: release.status } });
}

async function propose(file: string, opts: ConnectionFlags & { readonly golden?: readonly string[] }): Promise<Outcome> {
  const text = await readInputFile(file, 'policy');
  const golden = [];
  for (const path of await collectCaseFiles(opts.golden ?? [])) golden.push({ name: basename(path), text: await readInputFile(path, 'case file') });
  const release = await connect(opts).proposeRelease(text, golden);
  const out = `proposed release ${release.id}\n${releaseText(release)}\n${diffReport(release.diff_report)}`;
  return {
    data: release,
    text: out,
    exit: EXIT.OK,
    note: `nothing changes until the quorum signs: each signer runs \`countersign policy approve ${release.id} --key KEY --policy POLICY --candidate ${file}\``,
  };
}

/** The per-decision replay diff signers read, or why there is none: never only the counts. */
function diffReport(report: string | null): string {
  if (report === null) return 'replay diff: the gateway could not rebuild it from the ledger (a release recorded before the diff\'s ledger position was)\n';
  return report.endsWith('\n') ? report : `${report}\n`;
}

async function status(id: string, opts: ConnectionFlags): Promise<Outcome> {
  const release = await connect(opts).release(id);
  return { data: release, text: `${releaseText(release)}\n${diffReport(release.diff_report)}`, exit: release.status === 'activated' ? EXIT.OK : EXIT.NEGATIVE };
}

async function shadow(id: string, opts: ConnectionFlags): Promise<Outcome> {
  const report = await connect(opts).releaseShadow(id);
  const replay = report.replay as { counts?: { decisions?: number; changed?: number }; changes?: { step: string; action: string; environment: string; target: string; before: { effect: string }; after: { effect: string } }[] };
  const changes = replay.changes ?? [];
  const out =
    fields([
      ['release', report.release],
      ['candidate', report.candidate],
      ['window', `${report.window.from} to ${report.window.to ?? 'now (open)'}`],
      ['decisions', replay.counts?.decisions ?? 0],
      ['would change', replay.counts?.changed ?? 0],
    ]) + changes.map((c) => `  ${c.step}  ${c.action}@${c.environment} ${c.target}: ${c.before.effect} -> ${c.after.effect}\n`).join('');
  return { data: report, text: out, exit: changes.length === 0 ? EXIT.OK : EXIT.NEGATIVE };
}

interface ApproveFlags extends ConnectionFlags, SignerFlags {
  readonly reason?: string;
  readonly deny?: boolean;
  readonly candidate?: string;
}

async function approve(id: string, opts: ApproveFlags): Promise<Outcome> {
  const signer = resolveSigner(opts);
  const candidateText = opts.candidate === undefined ? undefined : await readInputFile(opts.candidate, 'candidate policy');
  const client = connect(opts);
  const release = await client.release(id);
  checkRelease(id, release, opts.candidate, candidateText);
  const decision = opts.deny ? 'deny' : 'approve';
  // what would change is shown before the signature is asked for: every decision, not only the counts
  process.stderr.write(
    `You are about to ${decision === 'approve' ? 'SIGN' : 'DENY'} this policy release:\n${releaseText(release)}\n${diffReport(release.diff_report)}\nsigned as  ${signer.principal} (key ${signer.keyId}) via ${signer.surface}\n`,
  );
  if (opts.candidate === undefined) process.stderr.write('(pass --candidate FILE to check the bundle you reviewed is the one activated)\n');
  await confirmSigning(`${decision === 'approve' ? 'Sign' : 'Deny'} release ${id}?`, opts.yes);
  const statement = parseStatement({
    request: release.id,
    step_digest: release.release_digest,
    bundle_id: release.previous_bundle_id ?? '',
    decision,
    approver: signer.principal,
    surface: signer.surface,
    reason: opts.reason ?? '',
    signed_at: new Date().toISOString(),
  });
  // only the statement and its signature are sent: never the key
  const answer = await client.signRelease(id, { statement, attestation: { kind: 'key', key_id: signer.keyId, signature: signStatement(statement, signer.key) } });
  const activated = answer.activated;
  const out =
    `${decision === 'approve' ? 'signed' : 'denied'} release ${id} as ${signer.principal} (key ${signer.keyId}) via ${signer.surface}\n` +
    fields([
      ['status', answer.status],
      ['quorum met', answer.quorum_met ? 'yes' : 'no'],
      ['bundle in force', activated === null ? null : activated.bundle_id],
      ['voided requests', activated === null ? null : activated.voided_requests.length],
      ['revoked grants', activated === null ? null : activated.revoked_grants.length],
      ['revoked leases', activated === null ? null : activated.revoked_leases.length],
    ]);
  return { data: answer, text: out, exit: EXIT.OK, ...(decision === 'approve' && !answer.quorum_met ? { note: 'the release needs more signatures before it is activated' } : {}) };
}

export function registerPolicyRelease(policy: Command): void {
  connectionOptions(
    policy
      .command('propose')
      .description('propose a candidate bundle for release: the gateway runs its golden cases and diffs it against recorded traffic; nothing changes until the release quorum signs')
      .argument('<policy>', 'candidate policy bundle (YAML)')
      .option('--golden <path...>', 'golden case files or directories, run against the candidate by the gateway'),
  )
    .addHelpText(
      'after',
      `
The bundle in force declares who may propose (release.propose_roles) and the
quorum that activates (release.approval; absent: two independent humans
signing with their roster keys), judged under the bundle in force and
independent of you. A candidate whose golden cases fail cannot be proposed.
${EXIT_CODES_HELP}

Examples:
  countersign policy propose policy.yaml --golden golden/
  countersign policy propose policy.yaml --golden golden/ --json | jq -r .id`,
    )
    .action(clientAction((file: string, opts: ConnectionFlags & { golden?: string[] }) => propose(file, opts)));

  connectionOptions(policy.command('status').description('show a release: candidate, golden result, diff summary, quorum, signatures').argument('<release>', 'release id'))
    .addHelpText(
      'after',
      `
Exit status: 0 when the release is activated, 1 while it is open, or when it
was denied, expired or superseded.
${EXIT_CODES_HELP}

Examples:
  countersign policy status RELEASE_ID
  countersign policy status RELEASE_ID --json | jq -r .status`,
    )
    .action(clientAction((id: string, opts: ConnectionFlags) => status(id, opts)));

  connectionOptions(
    policy
      .command('shadow-report')
      .description('the shadow run of a release: every decision recorded while it was open, decided again under the candidate; changes nothing')
      .argument('<release>', 'release id'),
  )
    .addHelpText(
      'after',
      `
While a release is open, every decision the bundle in force records is also
decided under the candidate: counted live in the metric
countersign_release_shadow_decisions_total{release,result}, and listed here by
replaying the release's window of the ledger, so any replica gives the same
list. Exit status: 0 when no decision would change, 1 when some would.
${EXIT_CODES_HELP}

Examples:
  countersign policy shadow-report RELEASE_ID
  countersign policy shadow-report RELEASE_ID --json`,
    )
    .action(clientAction((id: string, opts: ConnectionFlags) => shadow(id, opts)));

  connectionOptions(
    signerOptions(
      policy
        .command('approve')
        .description('sign a release with your key, locally: shows what is signed, checks it hashes to the release digest, submits the signature; the last signature of the quorum activates the candidate')
        .argument('<release>', 'release id')
        .option('--candidate <file>', 'the candidate bundle you reviewed: refused unless it is the one the release activates')
        .option('--reason <text>', 'why, recorded with the signature')
        .option('--deny', 'deny the release instead: one eligible denial closes it'),
    ),
  )
    .addHelpText(
      'after',
      `
The statement you sign binds the candidate id, the bundle in force, the
golden result digest and the diff digest; the command recomputes that digest
from what the gateway shows before signing. Your principal and key id come
from the roster of --policy (the bundle in force), or --principal and
--key-id. Your signature counts only if you are independent of the proposer
(not them, not reporting to them) and sign through another surface.

Exit status: 0 when the gateway accepted the signature; 1 when it refused it
(REPORTS_TO_REQUESTER, SELF_APPROVAL, ATTESTATION_REQUIRED, ...), when the
release is closed, or when you answered no.
${EXIT_CODES_HELP}

Examples:
  countersign policy approve RELEASE_ID --key cs/keys/fatima-2025.key --policy cs/policy.yaml --candidate /tmp/candidate.yaml
  countersign policy approve RELEASE_ID --key cs/keys/sam-2025.key --policy cs/policy.yaml --deny --reason 'golden cases do not cover the new rule'`,
    )
    .action(clientAction((id: string, opts: ApproveFlags) => approve(id, opts)));
}

import type { HoldResult } from '@countersign/client';
import type { Command } from 'commander';
import { EXIT } from '../exit.js';
import { clientAction, connect, connectionOptions, EXIT_CODES_HELP, type ConnectionFlags } from './connection.js';
import { collect, evidenceHash, type EvidenceFlags } from './evidence.js';
import { fields, type Outcome } from './output.js';

interface OpenFlags extends ConnectionFlags, EvidenceFlags {
  readonly gate: string;
  readonly scopeEnv: string[];
  readonly scopeClass: string[];
  readonly scopeAction: string[];
  readonly scopeTarget: string[];
  readonly incident?: string;
  readonly reason?: string;
}

function holdText(verb: string, answer: HoldResult): string {
  return `${verb} hold ${answer.hold}\n${fields([['revoked leases', answer.revoked_leases]])}`;
}

function evidenceOptions(command: Command): Command {
  return command
    .option('--evidence <file>', 'file whose SHA-256 is recorded as the evidence (the file itself is not sent)')
    .option('--evidence-hash <hex>', 'the evidence digest, `sha256:` and 64 hex digits, when the file is elsewhere');
}

export function register(program: Command): void {
  const hold = program
    .command('hold')
    .description('open, extend and lift holds (kill switches): matching mutations are held, diagnostics continue')
    .addHelpText(
      'after',
      `
Only roles the policy names may open (holds.open_roles) or lift
(holds.lift_roles) a hold; an agent's token never can. New evidence on a hold
revokes every live override lease granted under it.

Examples:
  countersign hold open --gate K1 --scope-env prod --scope-action queue.clear_shard --evidence backlog.log
  countersign hold evidence hold-3 --evidence dlq-sample.json
  countersign hold lift hold-3 --reason 'snapshot taken, backlog drained'
${EXIT_CODES_HELP}`,
    );

  connectionOptions(
    evidenceOptions(
      hold
        .command('open')
        .description('open a hold: the trip gate that fired, its scope, and the evidence digest')
        .requiredOption('--gate <id>', 'trip gate declared in the policy, e.g. K1')
        .option('--scope-env <env>', 'environment in scope (repeat for more)', collect, [])
        .option('--scope-class <class>', 'action class in scope: read, write or destructive (repeat for more)', collect, [])
        .option('--scope-action <action>', 'action id in scope (repeat for more)', collect, [])
        .option('--scope-target <target>', 'target in scope, named in full: `*` and `?` are refused (repeat for more)', collect, [])
        .option('--incident <id>', 'incident the hold belongs to')
        .option('--reason <text>', 'why, recorded with the hold'),
    ),
  )
    .addHelpText(
      'after',
      `
Exit status: 0 when the hold is open; 1 when refused (ROLE_NOT_ELIGIBLE, UNKNOWN_TRIP_GATE, HOLD_SCOPE_INVALID, ...).
${EXIT_CODES_HELP}

Examples:
  countersign hold open --gate K1 --scope-env prod --scope-action queue.clear_shard --evidence backlog.log
  countersign hold open --gate K1 --scope-env prod --scope-class destructive --incident INC-7 --reason 'dead letters growing' --evidence dlq-sample.json --json`,
    )
    .action(
      clientAction(async (opts: OpenFlags): Promise<Outcome> => {
        const evidence_hash = await evidenceHash(opts);
        const body = {
          trip_gate: opts.gate,
          scope: { environments: opts.scopeEnv, classes: opts.scopeClass, actions: opts.scopeAction, targets: opts.scopeTarget },
          evidence_hash,
          ...(opts.incident === undefined ? {} : { incident: opts.incident }),
          ...(opts.reason === undefined ? {} : { reason: opts.reason }),
        };
        const answer = await connect(opts).openHold(body);
        return { data: answer, text: holdText('opened', answer) + fields([['gate', opts.gate], ['evidence', evidence_hash]]), exit: EXIT.OK };
      }),
    );

  connectionOptions(
    evidenceOptions(hold.command('evidence').description('add evidence to an open hold; revokes the live leases granted under it').argument('<id>', 'hold id')),
  )
    .addHelpText(
      'after',
      `
Exit status: 0 when the evidence is recorded; 1 when refused (HOLD_UNKNOWN, HOLD_NOT_OPEN, ...).
${EXIT_CODES_HELP}

Examples:
  countersign hold evidence hold-3 --evidence dlq-sample.json
  countersign hold evidence hold-3 --evidence-hash "sha256:$(sha256sum dlq-sample.json | cut -d' ' -f1)"`,
    )
    .action(
      clientAction(async (id: string, opts: ConnectionFlags & EvidenceFlags): Promise<Outcome> => {
        const evidence_hash = await evidenceHash(opts);
        const answer = await connect(opts).addEvidence(id, { evidence_hash });
        return { data: answer, text: holdText('added evidence to', answer) + fields([['evidence', evidence_hash]]), exit: EXIT.OK };
      }),
    );

  connectionOptions(
    hold
      .command('lift')
      .description('lift a hold (holds.lift_roles only)')
      .argument('<id>', 'hold id')
      .requiredOption('--reason <text>', 'why it is safe to resume, recorded with the lift'),
  )
    .addHelpText(
      'after',
      `
Exit status: 0 when the hold is lifted; 1 when refused (ROLE_NOT_ELIGIBLE, HOLD_NOT_OPEN, ...).
${EXIT_CODES_HELP}

Examples:
  countersign hold lift hold-3 --reason 'snapshot taken, backlog drained'`,
    )
    .action(
      clientAction(async (id: string, opts: ConnectionFlags & { reason: string }): Promise<Outcome> => {
        const answer = await connect(opts).liftHold(id, { reason: opts.reason });
        return { data: answer, text: holdText('lifted', answer), exit: EXIT.OK };
      }),
    );
}

import { CountersignClient, CountersignClientError, isCountersignClientError } from '@countersign/client';
import { Option, type Command } from 'commander';
import { EXIT, reportError, type ExitCode } from '../exit.js';
import { exitCodesHelp } from '../help.js';
import { printError, printResult, type Outcome } from './output.js';

/**
 * What every command that talks to a gateway shares: where the gateway is,
 * the bearer token, and how an answer becomes output and an exit code.
 *
 * The token comes from `--token` or `COUNTERSIGN_TOKEN`. It goes into the
 * `Authorization` header and nowhere else: never printed, never in an error
 * message, never in `--json` output.
 */
export const DEFAULT_SERVER = 'http://127.0.0.1:8080';
export const SERVER_ENV = 'COUNTERSIGN_SERVER';
export const TOKEN_ENV = 'COUNTERSIGN_TOKEN';

export interface ConnectionFlags {
  readonly server?: string;
  readonly token?: string;
  readonly json?: boolean;
}

/** Exit codes of every client command, for `--help`. */
export const EXIT_CODES_HELP = `${exitCodesHelp({
  ok: 'done: the gateway accepted the call (and, where the command says so, the step is allowed, approved or consumed)',
  negative: 'a negative answer: denied, held, refused with an authority code, or not decided yet',
  usage: 'usage: bad flags or input file; the gateway answered 400, 405, 413 or 415',
  environment: 'environment: the gateway is unreachable or answered 5xx, the token is missing or refused (401), a key file is unusable',
})}
Errors print \`error[CODE]: message\` on stderr; with --json, stdout also gets
{"error": {"code", "message", "details"}}.`;

export function connectionOptions(command: Command): Command {
  return command
    .addOption(new Option('--server <url>', 'gateway base URL').env(SERVER_ENV).default(DEFAULT_SERVER))
    .addOption(new Option('--token <token>', `bearer token; prefer ${TOKEN_ENV}: other users can read a flag in the process list`).env(TOKEN_ENV))
    .option('--json', 'print the result as one JSON document for scripts');
}

/** The client for the gateway the flags name; TOKEN_MISSING when there is no token. */
export function connect(flags: ConnectionFlags): CountersignClient {
  const token = flags.token ?? process.env[TOKEN_ENV];
  if (token === undefined || token.trim() === '') {
    throw new CountersignClientError('TOKEN_MISSING', `no token: set ${TOKEN_ENV} or pass --token (\`countersign token issue\` mints one)`);
  }
  return new CountersignClient({ server: flags.server ?? process.env[SERVER_ENV] ?? DEFAULT_SERVER, token: token.trim() });
}

/**
 * Where a client error lands. No answer, a broken answer, a 5xx or a refused
 * credential say nothing about the request: environment (3). A 4xx about the
 * shape of what was sent is usage (2). Every other answer is the gateway
 * saying no (1): an authority code, an unknown id, a used grant.
 */
export function clientExitCode(err: CountersignClientError): ExitCode {
  switch (err.code) {
    case 'UNREACHABLE':
    case 'BAD_RESPONSE':
    case 'TOKEN_MISSING':
      return EXIT.ENVIRONMENT;
    case 'USAGE':
      return EXIT.USAGE;
    // a route this gateway does not have: another version, or not a gateway at all
    case 'NOT_FOUND':
    case 'METHOD_NOT_ALLOWED':
      return EXIT.ENVIRONMENT;
  }
  const status = err.status;
  if (status === null) return EXIT.NEGATIVE;
  if (status >= 500 || status === 401) return EXIT.ENVIRONMENT;
  if (status === 400 || status === 405 || status === 413 || status === 415) return EXIT.USAGE;
  return EXIT.NEGATIVE;
}

/**
 * Wrap a command's work: print its outcome (human or JSON) and set the exit
 * code; turn client errors into `error[CODE]` with their exit code. Other
 * errors (bad files, unusable keys) are printed here too so that `--json`
 * callers always get a JSON document on stdout.
 */
export function clientAction<A extends unknown[]>(work: (...args: A) => Promise<Outcome>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    // commander calls an action with (...arguments, options, command)
    const options = args[args.length - 2];
    const json = typeof options === 'object' && options !== null && (options as ConnectionFlags).json === true;
    try {
      const outcome = await work(...args);
      printResult(outcome, json);
      process.exitCode = outcome.exit;
    } catch (err) {
      if (isCountersignClientError(err)) {
        printError({ code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) }, json);
        process.exitCode = clientExitCode(err);
        return;
      }
      const code = reportError(err);
      if (json) {
        const { code: errCode, message, details } = err as { code?: unknown; message?: unknown; details?: unknown };
        process.stdout.write(
          `${JSON.stringify({ error: { code: typeof errCode === 'string' && code !== EXIT.INTERNAL ? errCode : 'INTERNAL', message: typeof message === 'string' ? message : String(err), ...(typeof details === 'object' && details !== null ? { details } : {}) } })}\n`,
        );
      }
      process.exitCode = code;
    }
  };
}

import type { KeyObject } from 'node:crypto';
import { createInterface } from 'node:readline/promises';
import { buildRoster, formatPublicKey } from '@countersign/core';
import { CountersignClientError } from '@countersign/client';
import { Option, type Command } from 'commander';
import { GatewayError } from '../../errors.js';
import { loadPrivateKey, publicKeyOf } from '../../keys.js';
import { readPolicyFile } from '../../policy-file.js';

/**
 * Who signs, with which key, through which surface: what an approval
 * statement and an override signature both name. The private key is read
 * here, used to sign here, and never leaves this process.
 */
export const DEFAULT_SIGNING_SURFACE = 'signed-cli';

export interface SignerFlags {
  readonly key: string;
  readonly policy?: string;
  readonly principal?: string;
  readonly keyId?: string;
  readonly surface: string;
  readonly yes?: boolean;
}

export interface Signer {
  readonly key: KeyObject;
  readonly principal: string;
  readonly keyId: string;
  readonly surface: string;
}

export function signerOptions(command: Command): Command {
  return command
    .requiredOption('--key <file>', 'your Ed25519 private key (PKCS#8 PEM, mode 0600); it never leaves this machine')
    .addOption(new Option('--policy <file>', 'policy whose roster holds your public key: finds your principal and key id').env('COUNTERSIGN_POLICY'))
    .addOption(new Option('--principal <id>', 'who you are in the roster (without --policy)').env('COUNTERSIGN_PRINCIPAL'))
    .option('--key-id <id>', 'roster id of your key (without --policy)')
    .addOption(
      new Option('--surface <name>', "the surface you sign through; approve and deny: must be your token's surface")
        .env('COUNTERSIGN_SURFACE')
        .default(DEFAULT_SIGNING_SURFACE),
    )
    .option('--yes', 'sign without asking (required when stdin is not a terminal)');
}

/** Load the key and name its holder: from the roster of `--policy`, or from `--principal` and `--key-id`. */
export function resolveSigner(flags: SignerFlags): Signer {
  const key = loadPrivateKey(flags.key);
  if (flags.policy === undefined) {
    if (flags.principal === undefined || flags.keyId === undefined) {
      throw new GatewayError('USAGE', 'name the signer: `--policy FILE` finds your key in the roster, or pass `--principal ID` and `--key-id ID`');
    }
    return { key, principal: flags.principal, keyId: flags.keyId, surface: flags.surface };
  }
  const roster = buildRoster(readPolicyFile(flags.policy).bundle);
  const mine = formatPublicKey(publicKeyOf(key));
  const entry = [...roster.keys.values()].find((k) => formatPublicKey(k.key) === mine);
  if (entry === undefined) {
    throw new GatewayError('USAGE', `the public half of \`${flags.key}\` is not a key of any principal in policy \`${flags.policy}\``);
  }
  if (flags.principal !== undefined && flags.principal !== entry.principal) {
    throw new GatewayError('USAGE', `\`${flags.key}\` is the key \`${entry.keyId}\` of \`${entry.principal}\`, not of \`${flags.principal}\``);
  }
  if (flags.keyId !== undefined && flags.keyId !== entry.keyId) {
    throw new GatewayError('USAGE', `\`${flags.key}\` is the key \`${entry.keyId}\`, not \`${flags.keyId}\``);
  }
  return { key, principal: entry.principal, keyId: entry.keyId, surface: flags.surface };
}

/**
 * Ask before signing. What is about to be signed has been printed (on stderr)
 * already; without a terminal there is nobody to ask, so `--yes` must say it.
 */
export async function confirmSigning(question: string, yes: boolean | undefined): Promise<void> {
  if (yes === true) return;
  if (!process.stdin.isTTY) {
    throw new GatewayError('USAGE', 'stdin is not a terminal: read what is shown above and pass --yes to sign without a prompt');
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') throw new CountersignClientError('DECLINED', 'nothing was signed or sent');
  } finally {
    rl.close();
  }
}

import type { Command } from 'commander';
import { ed25519Signer, formatPublicKey, Id, signerVerifierKey } from '@countersign/core';
import { GatewayError } from '../errors.js';
import { generateKeyPair, generateRosterKey, loadPrivateKey } from '../keys.js';
import { DEFAULT_LEDGER_ORIGIN } from '../ledger/checkpoint-scheduler.js';
import { Gateway } from '../service/gateway.js';
import { openStore } from '../store/open.js';
import { ENVIRONMENT_STORE, exitCodesHelp, USAGE_INPUT } from './help.js';
import { storeConfig, storeOptions, type StoreFlags } from './store-options.js';

const DEFAULT_KEY_PATH = './countersign.key';
/** The longest delay a Node timer takes (2^31 - 1 ms); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function register(program: Command): void {
  const keys = program
    .command('keys')
    .description('generate, show and rotate the gateway signing key; make approver keys for the roster (Ed25519)')
    .addHelpText(
      'after',
      `${exitCodesHelp({
        ok: 'done: the key was written, printed or rotated',
        usage: 'usage or input: bad flags, an id that is not a lower-case id, an output file that already exists',
        environment: 'environment: a key file is unusable or cannot be written, the store is unreachable',
      })}

Examples:
  countersign keys generate --out cs/gateway-2.key
  countersign keys public --key cs/gateway.key
  countersign keys rotate --key cs/gateway.key --new-key cs/gateway-2.key --db cs/ledger.db
  countersign keys roster --principal lena --out ~/.countersign/lena.key
`,
    );

  keys
    .command('roster')
    .description("make an approver's key pair: the private key to --out (mode 0600), the `ed25519:` public key for the policy's roster to stdout")
    .requiredOption('--principal <id>', 'the principal in the policy whose key this is, e.g. lena')
    .requiredOption('--out <file>', 'private key file (PKCS#8 PEM, mode 0600); keep it on the approver\'s machine')
    .option('--key-id <id>', 'roster id of the key (default: <principal>-<year>)')
    .option('--force', 'replace an existing --out file (its old key is gone for good)')
    .option('--json', 'print {"principal", "key_id", "public_key", "private_key_file"} as JSON')
    .addHelpText(
      'after',
      `
An approver signs approvals, denials and override signatures with their own
key; the policy lists the public half under the principal, in
principals[].keys[], as \`ed25519:\` and the raw 32-byte key in base64url. Run
this on the approver's machine: the private key never needs to leave it. Then
paste the printed lines under the principal, check the policy, and sign with
\`countersign approve ID --key FILE --policy POLICY\`.

Exit status: 0 when the key pair was made and its public key line printed.
${exitCodesHelp({
  ok: 'the key pair was made; the public key line is printed',
  usage: 'usage: an id that is not a lower-case id, --out exists (pass --force to replace it), or its directory does not exist',
  environment: 'environment: --out cannot be written (permissions)',
})}

Examples:
  $ countersign keys roster --principal lena --out lena.key
  wrote private key lena.key (mode 0600); it never goes in the policy
  ed25519:IKT-_YVTJSxv_b8jO_EFNlANT-z7sVkgAk1Ls46HbeQ

  paste under principal \`lena\` in the policy:
      keys:
        - id: lena-2026
          public_key: ed25519:IKT-_YVTJSxv_b8jO_EFNlANT-z7sVkgAk1Ls46HbeQ
  $ countersign keys roster --principal lena --key-id lena-laptop --out lena.key --force
  $ countersign keys roster --principal sam --out sam.key --json | jq -r .public_key
`,
    )
    .action((opts: { principal: string; out: string; keyId?: string; force?: boolean; json?: boolean }) => {
      const keyId = opts.keyId ?? `${opts.principal}-${new Date().getUTCFullYear()}`;
      // ids are checked as the policy will check them, before a key is made for nothing
      for (const [flag, value] of [['--principal', opts.principal], ['--key-id', keyId]] as const) {
        if (!Id.safeParse(value).success) throw new GatewayError('USAGE', `${flag} \`${value}\` is not a lower-case id (a-z, 0-9, \`.\`, \`_\`, \`-\`)`);
      }
      let written: ReturnType<typeof generateRosterKey>;
      try {
        written = generateRosterKey(opts.out, opts.force === true);
      } catch (err) {
        if (err instanceof GatewayError && err.code === 'FILE_EXISTS') {
          throw new GatewayError('FILE_EXISTS', `\`${opts.out}\` already exists; refusing to overwrite a key (pass --force to replace it)`, { path: opts.out });
        }
        throw err;
      }
      const publicKey = formatPublicKey(written.publicKey);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ principal: opts.principal, key_id: keyId, public_key: publicKey, private_key_file: written.path })}\n`);
        return;
      }
      process.stdout.write(
        [
          `wrote private key ${written.path} (mode 0600); it never goes in the policy`,
          publicKey,
          '',
          `paste under principal \`${opts.principal}\` in the policy:`,
          '    keys:',
          `      - id: ${keyId}`,
          `        public_key: ${publicKey}`,
          '',
        ].join('\n'),
      );
    });

  keys
    .command('generate')
    .description('write a new Ed25519 key pair: PATH (PKCS#8 PEM, mode 0600) and PATH.pub; never overwrites')
    .option('--out <path>', 'private key file; the public key goes to <path>.pub', DEFAULT_KEY_PATH)
    .option('--origin <origin>', 'ledger origin, the key name in signed checkpoints', DEFAULT_LEDGER_ORIGIN)
    .addHelpText(
      'after',
      `
Prints the key id and the verifier key; \`serve --key PATH\` signs checkpoints with it.
${exitCodesHelp({
  ok: 'both files were written',
  usage: 'usage: bad flags, PATH or PATH.pub already exists, or its directory does not exist',
  environment: 'environment: PATH cannot be written (permissions)',
})}

Examples:
  countersign keys generate --out gateway.key
  countersign keys generate --out /etc/countersign/gateway.key --origin payments.example.com/ledger
`,
    )
    .action((opts: { out: string; origin: string }) => {
      const written = generateKeyPair(opts.out);
      const vkey = signerVerifierKey(ed25519Signer(opts.origin, written.key));
      process.stdout.write(
        `wrote private key ${written.privateKey} (mode 0600)\nwrote public key ${written.publicKey}\nkey id ${vkey.keyId}\nverifier key ${vkey.text}\n`,
      );
    });

  keys
    .command('public')
    .description('print the verifier key (C2SP vkey: <origin>+<key id>+<base64 key>) and the key id')
    .requiredOption('--key <file>', 'private key file')
    .option('--origin <origin>', 'ledger origin, the key name in signed checkpoints', DEFAULT_LEDGER_ORIGIN)
    .option('--json', 'print {"vkey", "key_id", "name"} as JSON')
    .addHelpText(
      'after',
      `
The first line is what verifiers pass to \`countersign ledger verify --public-key\`.
${exitCodesHelp({
  ok: 'the verifier key and key id are printed',
  usage: 'usage: bad flags, or --key does not exist',
  environment: 'environment: --key is not an Ed25519 PEM private key, or cannot be read',
})}

Examples:
  countersign keys public --key cs/gateway.key
  countersign keys public --key cs/gateway.key | head -1 > countersign.vkey
`,
    )
    .action((opts: { key: string; origin: string; json?: boolean }) => {
      const vkey = signerVerifierKey(ed25519Signer(opts.origin, loadPrivateKey(opts.key)));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ vkey: vkey.text, key_id: vkey.keyId, name: vkey.name })}\n`);
      } else {
        process.stdout.write(`${vkey.text}\nkey id ${vkey.keyId}\n`);
      }
    });

  storeOptions(
    keys
      .command('rotate')
      .description('record a key rotation in the ledger, signed by the old key, and checkpoint it with the new key')
      .requiredOption('--key <file>', 'the key in force (old private key)')
      .requiredOption('--new-key <file>', 'the key that takes over (new private key; create it with `keys generate`)')
      .option('--origin <origin>', 'ledger origin, the key name in signed checkpoints', DEFAULT_LEDGER_ORIGIN)
      .addHelpText(
        'after',
        `
Stop the gateway first: a running gateway would go on signing checkpoints with
the old key. The rotation entry names its own sequence number and is appended
as the next entry, through the same writer as every other entry; a checkpoint
covering it is signed with the new key. Then restart the gateway with --key NEW.
${exitCodesHelp({
  ok: 'the rotation is recorded and checkpointed with the new key',
  usage: `${USAGE_INPUT}; the new key is the key in force`,
  environment: `${ENVIRONMENT_STORE}, or a key file is unusable`,
})}

Examples:
  countersign keys generate --out cs/gateway-2.key
  countersign keys rotate --key cs/gateway.key --new-key cs/gateway-2.key --db cs/ledger.db
`,
      ),
  ).action(async (opts: StoreFlags & { key: string; newKey: string; origin: string }) => {
    const oldSigner = ed25519Signer(opts.origin, loadPrivateKey(opts.key));
    const newKey = loadPrivateKey(opts.newKey);
    const newSigner = ed25519Signer(opts.origin, newKey);
    const newVkey = signerVerifierKey(newSigner);
    if (newVkey.keyId === signerVerifierKey(oldSigner).keyId) {
      throw new GatewayError('USAGE', 'the new key is the key in force');
    }
    const store = await openStore(storeConfig(opts));
    try {
      // one writer (ADR 002, issue 12): the rotation goes through a Gateway's command sequencer like every
      // other entry, under the store's write lock. Opened with the new key, with a schedule that never
      // fires, so the one checkpoint it writes is the closing one, covering the rotation: a checkpoint of
      // a tree that ends before the rotation must not be signed by the new key.
      const gateway = await Gateway.open({
        store,
        key: newKey,
        origin: opts.origin,
        clock: () => Date.now(),
        checkpoints: { every: Number.MAX_SAFE_INTEGER, intervalMs: MAX_TIMER_MS },
        follow: false,
        requireBundle: false,
      });
      let seq: number;
      try {
        ({ seq } = await gateway.recordKeyRotation(oldSigner, newVkey));
      } finally {
        await gateway.close();
      }
      process.stdout.write(`rotated at seq ${seq}: key ${signerVerifierKey(oldSigner).keyId} -> ${newVkey.keyId}\nverifier key ${newVkey.text}\n`);
    } finally {
      await store.close();
    }
  });
}

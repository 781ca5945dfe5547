import type { Command } from 'commander';
import {
  ed25519Signer,
  KEY_ROTATED,
  MerkleFrontier,
  leafHash,
  signCheckpoint,
  signerVerifierKey,
  signKeyRotation,
  type EntryDraft,
} from '@countersign/core';
import { GatewayError } from '../errors.js';
import { generateKeyPair, loadPrivateKey } from '../keys.js';
import { DEFAULT_LEDGER_ORIGIN } from '../ledger/sequencer.js';
import { openStore } from '../store/open.js';
import { storeConfig, storeOptions, type StoreFlags } from './store-options.js';

const DEFAULT_KEY_PATH = './countersign.key';

export function register(program: Command): void {
  const keys = program
    .command('keys')
    .description('generate, show and rotate the gateway signing key (Ed25519)')
    .addHelpText(
      'after',
      `
Examples:
  countersign keys generate --out /etc/countersign/gateway.key
  countersign keys public --key /etc/countersign/gateway.key
  countersign keys rotate --key old.key --new-key new.key --db ledger.db
`,
    );

  keys
    .command('generate')
    .description('write a new Ed25519 key pair: PATH (PKCS#8 PEM, mode 0600) and PATH.pub; never overwrites')
    .option('--out <path>', 'private key file; the public key goes to <path>.pub', DEFAULT_KEY_PATH)
    .option('--origin <origin>', 'ledger origin, the key name in signed checkpoints', DEFAULT_LEDGER_ORIGIN)
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

Example:
  countersign keys public --key countersign.key > countersign.vkey
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
Stop the gateway first: the rotation entry names its own sequence number, and
is appended as the next entry. Then restart the gateway with --key NEW.

Example:
  countersign keys generate --out new.key
  countersign keys rotate --key countersign.key --new-key new.key --db ledger.db
`,
      ),
  ).action(async (opts: StoreFlags & { key: string; newKey: string; origin: string }) => {
    const oldSigner = ed25519Signer(opts.origin, loadPrivateKey(opts.key));
    const newSigner = ed25519Signer(opts.origin, loadPrivateKey(opts.newKey));
    const newVkey = signerVerifierKey(newSigner);
    if (newVkey.keyId === signerVerifierKey(oldSigner).keyId) {
      throw new GatewayError('USAGE', 'the new key is the key in force');
    }
    const store = await openStore(storeConfig(opts));
    try {
      // INVARIANT: the statement the old key signs names the entry's seq, so it cannot be replayed elsewhere
      const { size } = await store.head();
      const draft: EntryDraft = {
        at: new Date().toISOString(),
        type: KEY_ROTATED,
        actor: null,
        surface: 'signed-cli',
        bundle_id: null,
        subjects: {},
        payload: signKeyRotation({ origin: opts.origin, seq: size }, oldSigner, newVkey),
      };
      const [entry] = await store.append([draft]);
      if (entry?.seq !== size) {
        throw new GatewayError('STORE_CONFLICT', `another writer appended while rotating: the rotation landed at seq ${entry?.seq ?? '?'}, not ${size}; stop the gateway and rotate again`);
      }
      // checkpoints covering the rotation are signed by the new key from here on
      const frontier = MerkleFrontier.empty();
      for await (const stored of store.read(0, size + 1)) frontier.push(leafHash(stored.bytes));
      const note = signCheckpoint({ origin: opts.origin, treeSize: frontier.size, rootHash: frontier.root() }, newSigner);
      await store.putCheckpoint({ treeSize: frontier.size, note });
      process.stdout.write(`rotated at seq ${size}: key ${signerVerifierKey(oldSigner).keyId} -> ${newVkey.keyId}\nverifier key ${newVkey.text}\n`);
    } finally {
      await store.close();
    }
  });
}

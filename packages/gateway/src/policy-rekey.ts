import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { isMap, isSeq, parseDocument } from 'yaml';
import { formatPublicKey } from '@countersign/core';
import { GatewayError } from './errors.js';

/** One roster key that was replaced: whose, its id in the policy, and the private half. */
export interface RekeyedKey {
  readonly principal: string;
  readonly keyId: string;
  /** Position among the principal's keys; the first (0) is the one a person signs with by default. */
  readonly index: number;
  readonly privateKey: KeyObject;
}

/**
 * Rewrite a policy's YAML so that every roster key is one `keyFor` supplies,
 * keeping key ids, comments and layout. `init` writes each private half to a
 * 0600 file; `demo` keeps them in memory for one run.
 *
 * INVARIANT: a policy scaffolded for a real gateway never trusts a key whose
 * private half ships in this repository (the example's keys are test fixtures).
 */
export function rekeyPolicy(
  text: string,
  sourceName: string,
  keyFor: (principal: string, keyId: string) => KeyObject,
): { text: string; keys: RekeyedKey[] } {
  const doc = parseDocument(text);
  const principals = doc.get('principals');
  if (!isSeq(principals)) throw new GatewayError('USAGE', `policy \`${sourceName}\` has no principals list`);
  const keys: RekeyedKey[] = [];
  for (const principal of principals.items) {
    if (!isMap(principal)) continue;
    const id = principal.get('id');
    const list = principal.get('keys');
    if (typeof id !== 'string' || !isSeq(list)) continue;
    list.items.forEach((entry, index) => {
      if (!isMap(entry)) return;
      const keyId = entry.get('id');
      if (typeof keyId !== 'string') return;
      const privateKey = keyFor(id, keyId);
      entry.set('public_key', formatPublicKey(createPublicKey(privateKey)));
      keys.push({ principal: id, keyId, index, privateKey });
    });
  }
  return { text: doc.toString(), keys };
}

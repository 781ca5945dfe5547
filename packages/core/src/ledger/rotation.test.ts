import { describe, expect, it } from 'vitest';
import { codeOf } from './code-of.contract.js';
import { ed25519Signer, newEd25519KeyPair, signerVerifierKey } from './key.js';
import { keyRotationStatement, signKeyRotation, verifyKeyRotation } from './rotation.js';

const ORIGIN = 'countersign.test/rotation';
const OLD = ed25519Signer(ORIGIN, newEd25519KeyPair().privateKey);
const NEW = ed25519Signer(ORIGIN, newEd25519KeyPair().privateKey);
const OLD_KEY = signerVerifierKey(OLD);
const NEW_KEY = signerVerifierKey(NEW);

describe('key rotation statements', () => {
  it('signs the canonical statement naming origin, seq and both keys', () => {
    const statement = new TextDecoder().decode(keyRotationStatement({ origin: 'o', seq: 7 }, 'a+00000000+x', 'b+00000000+y'));
    expect(statement).toBe('{"new_key":"b+00000000+y","old_key":"a+00000000+x","origin":"o","seq":7,"statement":"countersign/key-rotation/v1"}');
  });

  it('hands over to the new key when the key in force signed the rotation', () => {
    const payload = signKeyRotation({ origin: ORIGIN, seq: 12 }, OLD, NEW_KEY);
    expect(payload).toMatchObject({ old_key: OLD_KEY.text, new_key: NEW_KEY.text });
    expect(verifyKeyRotation(payload, { origin: ORIGIN, seq: 12 }, [OLD_KEY]).text).toBe(NEW_KEY.text);
  });

  it('refuses a rotation at another seq or origin, by a key not in force, or malformed', () => {
    const payload = signKeyRotation({ origin: ORIGIN, seq: 12 }, OLD, NEW_KEY.text);
    expect(codeOf(() => verifyKeyRotation(payload, { origin: ORIGIN, seq: 13 }, [OLD_KEY]))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => verifyKeyRotation(payload, { origin: 'other', seq: 12 }, [OLD_KEY]))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => verifyKeyRotation(payload, { origin: ORIGIN, seq: 12 }, [NEW_KEY]))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => verifyKeyRotation({ ...payload, new_key: OLD_KEY.text }, { origin: ORIGIN, seq: 12 }, [OLD_KEY]))).toBe(
      'BAD_SIGNATURE',
    );
    expect(codeOf(() => verifyKeyRotation({ old_key: OLD_KEY.text }, { origin: ORIGIN, seq: 12 }, [OLD_KEY]))).toBe('KEY_INVALID');
    expect(codeOf(() => verifyKeyRotation(null, { origin: ORIGIN, seq: 12 }, [OLD_KEY]))).toBe('KEY_INVALID');
  });

  // Buffer.from is lenient with base64: only the one standard encoding of the signature may verify.
  it.each([
    ['without its padding', (sig: string) => sig.replace(/=+$/, '')],
    ['with a line break', (sig: string) => `${sig.slice(0, 40)}\n${sig.slice(40)}`],
  ])('refuses the old key\'s signature %s', (_label, mangle) => {
    const context = { origin: ORIGIN, seq: 12 };
    const payload = signKeyRotation(context, OLD, NEW_KEY);
    const mangled = mangle(payload.signature);
    expect(mangled).not.toBe(payload.signature);
    expect(Buffer.from(mangled, 'base64').equals(Buffer.from(payload.signature, 'base64'))).toBe(true);
    expect(codeOf(() => verifyKeyRotation({ ...payload, signature: mangled }, context, [OLD_KEY]))).toBe('BAD_SIGNATURE');
  });

  it('refuses a signature that is not a string as malformed', () => {
    const payload = signKeyRotation({ origin: ORIGIN, seq: 12 }, OLD, NEW_KEY);
    expect(codeOf(() => verifyKeyRotation({ ...payload, signature: 42 }, { origin: ORIGIN, seq: 12 }, [OLD_KEY]))).toBe('KEY_INVALID');
  });
});

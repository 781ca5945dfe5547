import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { GatewayError } from '../../errors.js';

/** Evidence files are hashed, never uploaded; a hold records only the digest. Large logs are fine. */
const MAX_EVIDENCE_BYTES = 1024 * 1024 * 1024;
const HASH = /^(?:sha256:)?([0-9a-fA-F]{64})$/;

export interface EvidenceFlags {
  readonly evidence?: string;
  readonly evidenceHash?: string;
}

/** `sha256:<hex>` of `--evidence FILE`, or `--evidence-hash` checked and normalised; exactly one of the two. */
export async function evidenceHash(flags: EvidenceFlags): Promise<string> {
  if ((flags.evidence === undefined) === (flags.evidenceHash === undefined)) {
    throw new GatewayError('USAGE', 'give the evidence as `--evidence FILE` (hashed here) or `--evidence-hash sha256:HEX`, one of the two');
  }
  if (flags.evidenceHash !== undefined) {
    const match = HASH.exec(flags.evidenceHash.trim());
    if (!match) throw new GatewayError('USAGE', `\`--evidence-hash\` must be \`sha256:\` and 64 hex digits; got \`${flags.evidenceHash}\``);
    return `sha256:${match[1]!.toLowerCase()}`;
  }
  const path = flags.evidence!;
  try {
    if ((await stat(path)).size > MAX_EVIDENCE_BYTES) throw new GatewayError('USAGE', `evidence \`${path}\` is larger than 1 GiB: hash it yourself and pass --evidence-hash`);
    return `sha256:${createHash('sha256').update(await readFile(path)).digest('hex')}`;
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('FILE_NOT_FOUND', `evidence \`${path}\` cannot be read`, { path });
  }
}

/** Commander collector for a repeatable option. */
export function collect(value: string, previous: readonly string[]): string[] {
  return [...previous, value];
}

import * as nodeCrypto from 'node:crypto';
import { canonicalJson } from '../canonical.js';
import { canonicalDigest } from '../digest.js';
import type { ProposalStep } from './proposal.js';

type DigestedStep = Pick<ProposalStep, 'action' | 'environment' | 'target' | 'params'>;

// crypto.hash (Node >= 20.12) skips the Hash object createHash allocates; it is
// most of a decision's cost, so older Node 20 releases keep the slower path.
const sha256Hex: (text: string) => string =
  typeof nodeCrypto.hash === 'function'
    ? (text) => nodeCrypto.hash('sha256', text, 'hex')
    : (text) => nodeCrypto.createHash('sha256').update(text).digest('hex');

// eslint-disable-next-line no-control-regex -- the ASCII range is the point
const ASCII_KEY = /^[\x00-\x7f]*$/;
// With the `u` flag a well-formed pair is one code point, so this matches only a
// lone surrogate: text RFC 8785 refuses and the general canonicaliser rejects.
const LONE_SURROGATE = /\p{Surrogate}/u;

function fastString(value: unknown): value is string {
  return typeof value === 'string' && !LONE_SURROGATE.test(value);
}

/**
 * RFC 8785 text of flat params (scalar values, ASCII keys), or null when the
 * general canonicaliser must decide. For these values RFC 8785 §3.2.2 and
 * ECMAScript JSON.stringify agree: strings are escaped the same way, safe
 * integers print as integers, and ASCII keys sort by UTF-16 code units as
 * Array#sort does. Equality with canonicalJson is property-tested.
 */
function flatParamsJson(params: DigestedStep['params']): string | null {
  if (Object.getPrototypeOf(params) !== Object.prototype) return null;
  const keys = Object.keys(params).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const value = params[key];
    if (!ASCII_KEY.test(key)) return null;
    if (fastString(value) || typeof value === 'boolean' || value === null || (typeof value === 'number' && Number.isSafeInteger(value))) {
      out += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${JSON.stringify(value)}`;
    } else {
      return null;
    }
  }
  return `${out}}`;
}

/**
 * The digest an approval, a grant and an override bind to (DESIGN invariant 3):
 * `sha256:<hex>` of the RFC 8785 canonical JSON of exactly these five fields.
 * Rationale and expected consequence are prose for humans and stay out, so
 * rewording them never changes what was approved; one byte of action,
 * environment, target, params or bundle does.
 */
export function stepDigest(step: DigestedStep, bundleId: string): string {
  const params = flatParamsJson(step.params);
  if (params === null || !fastString(step.action) || !fastString(step.environment) || !fastString(step.target) || !fastString(bundleId)) {
    return canonicalDigest({ action: step.action, environment: step.environment, target: step.target, params: step.params, bundle_id: bundleId });
  }
  // keys in RFC 8785 order: action, bundle_id, environment, params, target
  const text = `{"action":${JSON.stringify(step.action)},"bundle_id":${JSON.stringify(bundleId)},"environment":${JSON.stringify(step.environment)},"params":${params},"target":${JSON.stringify(step.target)}}`;
  return `sha256:${sha256Hex(text)}`;
}

/** The canonical text stepDigest hashes, through the general canonicaliser: for tests and for explaining a digest. */
export function stepCanonicalJson(step: DigestedStep, bundleId: string): string {
  return canonicalJson({ action: step.action, environment: step.environment, target: step.target, params: step.params, bundle_id: bundleId });
}

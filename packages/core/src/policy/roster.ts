import { createPublicKey, type KeyObject } from 'node:crypto';
import { CountersignError } from '../errors.js';
import type { PolicyBundle, PrincipalKind } from './schema.js';

/** One principal of the bundle, indexed for the authority rules. */
export interface RosterPrincipal {
  readonly id: string;
  readonly kind: PrincipalKind;
  readonly roles: ReadonlySet<string>;
  readonly reportsTo: string | null;
  /**
   * Every manager above this principal, nearest first. `null` when the chain is
   * broken (a cycle or an undeclared manager): such a principal is treated as
   * reporting to everyone, so a broken bundle can only refuse more.
   */
  readonly chain: readonly string[] | null;
  /** Public keys by key id, as node KeyObjects ready for `verify(null, ...)`. */
  readonly keys: ReadonlyMap<string, KeyObject>;
}

export interface RosterKey {
  readonly keyId: string;
  readonly principal: string;
  readonly key: KeyObject;
}

export interface Roster {
  readonly principals: ReadonlyMap<string, RosterPrincipal>;
  /** Every key of every principal by key id; key ids are unique across the roster. */
  readonly keys: ReadonlyMap<string, RosterKey>;
  get(id: string): RosterPrincipal | undefined;
  hasRole(id: string, role: string): boolean;
  /** True when `a` reports to `b` directly or transitively; fails closed on a broken chain. */
  reportsTo(a: string, b: string): boolean;
}

type RosterSource = Pick<PolicyBundle, 'principals'>;

const KEY_PREFIX = 'ed25519:';
const RAW_KEY = /^ed25519:([A-Za-z0-9_-]{43})$/;

// Bundles are re-read often and their keys rarely change; parsing a key is the
// expensive part of a first verification, so KeyObjects are shared by key text.
const keyCache = new Map<string, KeyObject>();

/** `ed25519:<base64url of the 32 raw bytes>` to a KeyObject, cached. */
export function parsePublicKey(text: string): KeyObject {
  const cached = keyCache.get(text);
  if (cached) return cached;
  const match = RAW_KEY.exec(text);
  if (!match || Buffer.from(match[1] as string, 'base64url').length !== 32) {
    throw new CountersignError('POLICY_INVALID', 'public key is not `ed25519:` followed by 32 bytes in base64url');
  }
  let key: KeyObject;
  try {
    // RFC 8037 §2: an Ed25519 public key as an OKP JWK is exactly the raw 32 bytes in `x`.
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: match[1] as string }, format: 'jwk' });
  } catch {
    throw new CountersignError('POLICY_INVALID', 'public key is not a valid Ed25519 key');
  }
  keyCache.set(text, key);
  return key;
}

/** The roster form `ed25519:<base64url>` of an Ed25519 public KeyObject. */
export function formatPublicKey(key: KeyObject): string {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new CountersignError('POLICY_INVALID', 'key is not an Ed25519 key');
  }
  const jwk = key.export({ format: 'jwk' });
  return `${KEY_PREFIX}${jwk.x as string}`;
}

/**
 * Index the principals of a validated bundle. Duplicate principal or key ids
 * are refused (an id must name one person, one key); reporting cycles and
 * undeclared managers are not refused here, because validation owns that
 * message, but they make `reportsTo` answer true for the principals affected.
 */
export function buildRoster(bundle: RosterSource): Roster {
  const declared = new Map<string, RosterSource['principals'][number]>();
  for (const p of bundle.principals) {
    if (declared.has(p.id)) {
      throw new CountersignError('POLICY_INVALID', `principal \`${p.id}\` is declared twice`);
    }
    declared.set(p.id, p);
  }

  const principals = new Map<string, RosterPrincipal>();
  const keys = new Map<string, RosterKey>();
  for (const p of bundle.principals) {
    const own = new Map<string, KeyObject>();
    for (const k of p.keys) {
      if (keys.has(k.id)) {
        throw new CountersignError('POLICY_INVALID', `key id \`${k.id}\` is declared twice`);
      }
      const key = parsePublicKey(k.public_key);
      own.set(k.id, key);
      keys.set(k.id, { keyId: k.id, principal: p.id, key });
    }
    principals.set(p.id, {
      id: p.id,
      kind: p.kind,
      roles: new Set(p.roles),
      reportsTo: p.reports_to ?? null,
      chain: chainOf(p.id, declared),
      keys: own,
    });
  }

  const chainSets = new Map<string, ReadonlySet<string> | null>();
  for (const [id, p] of principals) chainSets.set(id, p.chain === null ? null : new Set(p.chain));

  return {
    principals,
    keys,
    get: (id) => principals.get(id),
    hasRole: (id, role) => principals.get(id)?.roles.has(role) ?? false,
    reportsTo(a, b) {
      if (!chainSets.has(a)) return false;
      const chain = chainSets.get(a);
      // INVARIANT: fail closed. A principal whose line cannot be followed to its
      // top could report to anyone, so it counts as reporting to everyone.
      if (chain === null || chain === undefined) return true;
      return chain.has(b);
    },
  };
}

function chainOf(id: string, declared: ReadonlyMap<string, RosterSource['principals'][number]>): string[] | null {
  const chain: string[] = [];
  const seen = new Set<string>([id]);
  let next = declared.get(id)?.reports_to;
  while (next !== undefined) {
    if (seen.has(next) || !declared.has(next)) return null;
    seen.add(next);
    chain.push(next);
    next = declared.get(next)?.reports_to;
  }
  return chain;
}

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { hasWildcard } from '../authority/wildcard.js';
import { CountersignError } from '../errors.js';
import { policyBundleId } from './bundle-id.js';
import { PolicyBundle } from './schema.js';
import { didYouMean, policyWarnings, validatePolicy, type PolicyIssueCode, type PolicyIssueDraft, type PolicyPath } from './validate.js';

/** Policies are hand-written documents of kilobytes; a megabyte is a mistake or an attack. */
export const MAX_POLICY_BYTES = 1024 * 1024;
/**
 * YAML aliases can expand exponentially ("billion laughs"). A policy has no
 * need for more than a handful, so resolving more than this many is refused.
 */
export const MAX_POLICY_ALIASES = 100;
const MAX_VALUE_CHARS = 80;
const MAX_ISSUES = 100;
const MAX_YAML_ISSUES = 10;

/** One problem in a policy file, placed in the source. Lines and columns are 1-based. */
export interface PolicyIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** RFC 6901 JSON pointer into the document, `` for the whole document. */
  readonly path: string;
  readonly code: PolicyIssueCode;
  readonly message: string;
  /** The offending value or key as written, shortened; absent when nothing is there (a missing key). */
  readonly value?: string;
}

export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

export interface PolicySource {
  readonly file: string;
  readonly bytes: number;
  /** Where a path of the document was written, for messages that point back at the policy. */
  locate(path: PolicyPath): SourcePosition;
}

export interface LoadedPolicy {
  /** The zod output: defaults applied. */
  readonly bundle: PolicyBundle;
  /** `sha256:<hex>` of the normalised bundle, see bundle-id.ts. */
  readonly bundleId: string;
  readonly source: PolicySource;
  /** Allowed but risky (validate.ts policyWarnings): `policy check` prints them and still succeeds. */
  readonly warnings: readonly PolicyIssue[];
}

/**
 * Parses, shape-checks and semantically validates one policy document.
 * Pure: the caller reads the file. Throws CountersignError `POLICY_PARSE_ERROR`
 * (not a YAML mapping) or `POLICY_INVALID` (readable but wrong) with every issue
 * found in `details.issues` (PolicyIssue[]) and listed in the message.
 * Semantic rules need a typed bundle: when the shape is wrong they run on a
 * repaired copy, and only the issues the repair cannot have caused are kept
 * (see semanticDespite).
 */
export function loadPolicy(text: string, fileName: string): LoadedPolicy {
  // every UTF-16 code unit is at least one UTF-8 byte, so a long string need not be encoded to be refused
  const bytes = text.length > MAX_POLICY_BYTES ? text.length : new TextEncoder().encode(text).byteLength;
  if (bytes > MAX_POLICY_BYTES) {
    fail('POLICY_PARSE_ERROR', fileName, [
      { file: fileName, line: 1, column: 1, path: '', code: 'TOO_LARGE', message: `policy is larger than the limit of ${MAX_POLICY_BYTES} bytes` },
    ]);
  }

  const lineCounter = new LineCounter();
  const position = (offset: number): SourcePosition => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true, version: '1.2', merge: false });
  } catch (err) {
    // the parser recurses per nesting level; absurd nesting ends here rather than in a crash
    fail('POLICY_PARSE_ERROR', fileName, [
      { file: fileName, line: 1, column: 1, path: '', code: 'YAML_SYNTAX', message: `policy cannot be parsed: ${err instanceof RangeError ? 'nesting is too deep' : 'malformed YAML'}` },
    ]);
  }
  // Warnings (unresolved tags and the like) would silently change values: a policy gets none.
  // YAML errors cascade from the first one; past a few they are noise
  const yamlProblems = [...doc.errors, ...doc.warnings].slice(0, MAX_YAML_ISSUES);
  if (yamlProblems.length > 0) {
    fail(
      'POLICY_PARSE_ERROR',
      fileName,
      yamlProblems.map((e) => ({
        file: fileName,
        ...position(e.pos[0]),
        path: '',
        code: e.code === 'DUPLICATE_KEY' ? 'DUPLICATE_KEY' : 'YAML_SYNTAX',
        message: yamlMessage(e.message),
      })),
    );
  }
  if (!isMap(doc.contents)) {
    const at = doc.contents === null ? { line: 1, column: 1 } : position(doc.contents.range[0]);
    fail('POLICY_PARSE_ERROR', fileName, [
      {
        file: fileName,
        ...at,
        path: '',
        code: 'NOT_A_MAPPING',
        message: doc.contents === null ? 'policy is empty: expected a mapping with `version`, `environments`, ...' : 'the top level of a policy must be a mapping of keys such as `version` and `environments`',
      },
    ]);
  }

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_POLICY_ALIASES });
  } catch (err) {
    const aliasBomb = err instanceof ReferenceError || (err instanceof Error && /alias/i.test(err.message));
    fail('POLICY_PARSE_ERROR', fileName, [
      {
        file: fileName,
        line: 1,
        column: 1,
        path: '',
        code: aliasBomb ? 'ALIAS_LIMIT' : 'YAML_SYNTAX',
        message: aliasBomb ? `aliases expand to too many nodes (limit ${MAX_POLICY_ALIASES}); write the policy out without them` : 'policy cannot be converted to data',
      },
    ]);
  }

  const locate = (path: PolicyPath, atKey = false): SourcePosition => position(locateOffset(doc, path, atKey));
  const source: PolicySource = { file: fileName, bytes, locate: (path) => locate(path) };
  const place = (draft: PolicyIssueDraft): PolicyIssue => {
    const value = valueAt(raw, draft.path, draft.atKey === true);
    return {
      file: fileName,
      ...locate(draft.path, draft.atKey === true),
      path: jsonPointer(draft.path),
      code: draft.code,
      message: draft.message,
      ...(value === undefined ? {} : { value }),
    };
  };

  const parsed = PolicyBundle.safeParse(raw, { reportInput: false });
  if (!parsed.success) {
    const shape = parsed.error.issues.flatMap((issue) => shapeIssues(issue, raw));
    fail('POLICY_INVALID', fileName, [...shape, ...semanticDespite(raw, shape)].map(place));
  }
  const semantic = validatePolicy(parsed.data);
  if (semantic.length > 0) fail('POLICY_INVALID', fileName, semantic.map(place));

  return { bundle: parsed.data, bundleId: policyBundleId(parsed.data), source, warnings: policyWarnings(parsed.data).map(place) };
}

/**
 * Semantic issues that removing a value can never cause: something declared
 * twice, one key held twice, a reporting cycle, an agent holding authority, an
 * unsafe pattern. Removing a value removes facts, and none of these needs a
 * fact to be missing.
 */
const SURVIVE_REMOVAL: ReadonlySet<PolicyIssueCode> = new Set(['DUPLICATE_ID', 'SHARED_KEY', 'REPORTS_TO_CYCLE', 'AGENT_HOLDS_AUTHORITY', 'BAD_PATTERN']);

/**
 * So that one pass reports everything it can, the semantic rules also run when
 * the shape is wrong, on a copy with the offending parts removed:
 *  - a stray key (an unknown key, a misspelt environment in a risk map) is
 *    dropped. It meant nothing, so every semantic issue of the rest stands.
 *  - a bad value is dropped together with the nearest mapping key holding it,
 *    so the schema's default, or nothing, takes its place. That loses a fact,
 *    and a lost fact can raise an issue that is not there (a role list dropped
 *    leaves a quorum nobody can fill), so then only SURVIVE_REMOVAL issues are
 *    kept: a `reports_to` cycle is reported beside a mistyped duration.
 * When the copy still does not parse (a required key is missing or was bad),
 * nothing is added. Issues at or under a removed path are left out, to say
 * each thing once.
 */
function semanticDespite(raw: unknown, shape: readonly PolicyIssueDraft[]): PolicyIssueDraft[] {
  if (shape.some((issue) => issue.code === 'MISSING')) return [];
  const copy = structuredClone(raw);
  const removed: PolicyPath[] = [];
  let lossy = false;
  for (const issue of shape) {
    const path = issue.atKey === true ? issue.path : holdingKey(copy, issue.path);
    if (path === null) return [];
    lossy ||= issue.atKey !== true;
    const parent = valueIn(copy, path.slice(0, -1));
    const key = path[path.length - 1];
    if (parent !== null && typeof parent === 'object' && key !== undefined) delete (parent as Record<string | number, unknown>)[key];
    removed.push(path);
  }
  const retry = PolicyBundle.safeParse(copy);
  if (!retry.success) return [];
  const reported = removed.map(jsonPointer);
  return validatePolicy(retry.data).filter((issue) => {
    if (lossy && !SURVIVE_REMOVAL.has(issue.code)) return false;
    const pointer = jsonPointer(issue.path);
    return !reported.some((r) => pointer === r || pointer.startsWith(`${r}/`));
  });
}

/**
 * The path of the nearest mapping key at or above `path`: removing a list
 * element would renumber its siblings and misplace every later issue, so the
 * whole list goes, with its key. Null when no mapping holds it.
 */
function holdingKey(raw: unknown, path: PolicyPath): PolicyPath | null {
  for (let end = path.length; end > 0; end -= 1) {
    const parent = valueIn(raw, path.slice(0, end - 1));
    if (typeof path[end - 1] === 'string' && parent !== null && typeof parent === 'object' && !Array.isArray(parent)) return path.slice(0, end);
  }
  return null;
}

/** `file:line:col: [CODE] message (value `...`)`; the value is left out when the message already quotes it. */
export function formatPolicyIssue(issue: PolicyIssue): string {
  const shown = issue.value !== undefined && !issue.message.includes(`\`${issue.value}\``) ? ` (value \`${issue.value}\`)` : '';
  return `${issue.file}:${issue.line}:${issue.column}: [${issue.code}] ${issue.message}${shown}`;
}

function fail(code: 'POLICY_PARSE_ERROR' | 'POLICY_INVALID', file: string, unsorted: PolicyIssue[]): never {
  // a broken file can cascade into thousands of issues; the first hundred say enough
  const issues = [...unsorted].sort((a, b) => a.line - b.line || a.column - b.column).slice(0, MAX_ISSUES);
  const head = code === 'POLICY_PARSE_ERROR' ? `policy \`${file}\` cannot be read` : `policy \`${file}\` is invalid`;
  const total = unsorted.length;
  const count = (total === 1 ? '1 issue' : `${total} issues`) + (total > issues.length ? `, the first ${issues.length} shown` : '');
  throw new CountersignError(code, `${head}: ${count}\n${issues.map((i) => `  ${formatPolicyIssue(i)}`).join('\n')}`, { file, issues });
}

/** zod issues as policy issues, with the code a reader can act on. */
function shapeIssues(issue: z.core.$ZodIssue, raw: unknown): PolicyIssueDraft[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = keysOfSchemaAt(path);
      return issue.keys.map((key) => ({
        path: [...path, key],
        code: 'UNKNOWN_KEY',
        message: `unknown key \`${key}\`${didYouMean(key, allowed)}`,
        atKey: true,
      }));
    }
    case 'invalid_key': {
      const key = String(path[path.length - 1]);
      if (hasWildcard(key)) return [{ path, code: 'WILDCARD', message: wildcardMessage(key), atKey: true }];
      // `Prod`, `prod ` as a risk map key: say what it is, an environment that does not exist
      if (path.length === 4 && path[0] === 'actions' && path[2] === 'risk') {
        const environments = Array.isArray(valueIn(raw, ['environments'])) ? (valueIn(raw, ['environments']) as unknown[]).map(String) : [];
        return [
          {
            path,
            code: 'UNKNOWN_ENVIRONMENT',
            message: `environment \`${key}\` is not declared in \`environments\`${didYouMean(key, environments)}`,
            atKey: true,
          },
        ];
      }
      return [{ path, code: 'INVALID_VALUE', message: `key \`${key}\` ${issue.issues[0]?.message ?? 'is not allowed'}`, atKey: true }];
    }
    case 'invalid_type':
    case 'invalid_value': {
      if (!present(raw, path)) {
        return [{ path, code: 'MISSING', message: `missing required key \`${String(path[path.length - 1])}\`` }];
      }
      if (issue.code === 'invalid_type') {
        return [{ path, code: 'INVALID_TYPE', message: `expected ${issue.expected}, got ${typeName(valueIn(raw, path))}` }];
      }
      return [{ path, code: 'INVALID_VALUE', message: zodMessage(issue.message) }];
    }
    default: {
      const value = valueIn(raw, path);
      if (typeof value === 'string' && hasWildcard(value)) return [{ path, code: 'WILDCARD', message: wildcardMessage(value) }];
      return [{ path, code: 'INVALID_VALUE', message: zodMessage(issue.message) }];
    }
  }
}

function wildcardMessage(text: string): string {
  return `wildcard in \`${shorten(text)}\`: scopes are explicit lists, name each id`;
}

function zodMessage(message: string): string {
  const trimmed = message.replace(/\.$/, '');
  return trimmed.charAt(0).toLowerCase() + trimmed.slice(1);
}

function yamlMessage(message: string): string {
  // yaml messages carry a trailing excerpt after a colon and a newline; the position says enough
  if (message.startsWith('Source contains multiple documents')) return 'a policy is one YAML document, this file holds several';
  const [first = 'malformed YAML'] = message.split('\n');
  return zodMessage(first.replace(/ at line \d+, column \d+.*$/, ''));
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return 'mapping';
  return typeof value;
}

// -- paths ------------------------------------------------------------------

function valueIn(raw: unknown, path: PolicyPath): unknown {
  let node = raw;
  for (const seg of path) {
    if (node === null || typeof node !== 'object' || !Object.prototype.hasOwnProperty.call(node, seg)) return undefined;
    node = (node as Record<string | number, unknown>)[seg];
  }
  return node;
}

function present(raw: unknown, path: PolicyPath): boolean {
  const parent = valueIn(raw, path.slice(0, -1));
  const last = path[path.length - 1];
  return last !== undefined && parent !== null && typeof parent === 'object' && Object.prototype.hasOwnProperty.call(parent, last);
}

/** The value an issue is about, as a short single line; a key when the issue is about the key. */
function valueAt(raw: unknown, path: PolicyPath, atKey: boolean): string | undefined {
  if (atKey) return path.length === 0 ? undefined : shorten(String(path[path.length - 1]));
  if (!present(raw, path)) return undefined;
  const value = valueIn(raw, path);
  if (typeof value === 'string') return shorten(value);
  if (value !== null && typeof value === 'object') return undefined;
  return String(value);
}

function shorten(text: string): string {
  // JSON escaping keeps control characters and newlines out of one-line output
  const escaped = JSON.stringify(text).slice(1, -1).replace(/`/g, "'");
  return escaped.length > MAX_VALUE_CHARS ? `${escaped.slice(0, MAX_VALUE_CHARS - 1)}…` : escaped;
}

function jsonPointer(path: PolicyPath): string {
  return path.map((seg) => `/${String(seg).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/**
 * Offset of the node a path names: the value, or the key with `atKey`. Where
 * the path runs out (a missing key) it is the deepest node that exists.
 */
function locateOffset(doc: Document.Parsed, path: PolicyPath, atKey: boolean): number {
  let node: unknown = doc.contents;
  let keyNode: unknown = null;
  let best = 0;
  const start = (n: unknown): number | undefined =>
    n !== null && typeof n === 'object' && 'range' in n && Array.isArray(n.range) ? (n.range[0] as number) : undefined;
  best = start(node) ?? 0;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (pair === undefined) return best;
      keyNode = pair.key;
      node = pair.value;
      best = start(node) ?? start(keyNode) ?? best;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      if (item === undefined) return best;
      keyNode = null;
      node = item;
      best = start(node) ?? best;
    } else {
      return best;
    }
  }
  if (atKey) return start(keyNode) ?? best;
  return best;
}

// -- schema introspection, for "did you mean" on unknown keys ---------------

interface SchemaDef {
  type: string;
  shape?: Record<string, { _zod: { def: SchemaDef } }>;
  element?: { _zod: { def: SchemaDef } };
  innerType?: { _zod: { def: SchemaDef } };
  valueType?: { _zod: { def: SchemaDef } };
}

function keysOfSchemaAt(path: PolicyPath): string[] {
  let def: SchemaDef | undefined = (PolicyBundle as unknown as { _zod: { def: SchemaDef } })._zod.def;
  const unwrap = (d: SchemaDef | undefined): SchemaDef | undefined => {
    let cur = d;
    while (cur?.innerType !== undefined) cur = cur.innerType._zod.def;
    return cur;
  };
  for (const seg of path) {
    def = unwrap(def);
    if (def === undefined) return [];
    if (def.type === 'object') def = def.shape?.[String(seg)]?._zod.def;
    else if (def.type === 'array') def = def.element?._zod.def;
    else if (def.type === 'record') def = def.valueType?._zod.def;
    else return [];
  }
  def = unwrap(def);
  return def?.type === 'object' && def.shape !== undefined ? Object.keys(def.shape) : [];
}

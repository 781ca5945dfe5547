import { closeSync, openSync, readSync } from 'node:fs';
import { CountersignError, isCountersignError, loadPolicy, MAX_POLICY_BYTES, type LoadedPolicy } from '@countersign/core';
import { GatewayError } from './errors.js';

/**
 * Reads and loads a policy file: for every command that takes `<policy>`.
 * Throws GatewayError `FILE_NOT_FOUND` when the file cannot be read, and the
 * core's `POLICY_PARSE_ERROR` / `POLICY_INVALID` when it is not a valid bundle.
 */
export function readPolicyFile(file: string): LoadedPolicy {
  return loadPolicy(readPolicyText(file), file);
}

/** At most one byte past the core's limit is read, so a huge file costs nothing and still gets TOO_LARGE. */
export function readPolicyText(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new GatewayError('FILE_NOT_FOUND', `cannot read policy \`${file}\`: ${reason(err)}`, { file }, { cause: err });
  }
  try {
    const buffer = Buffer.alloc(MAX_POLICY_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0 || length + n >= buffer.length) {
        length += n;
        break;
      }
      length += n;
    }
    const bytes = buffer.subarray(0, length);
    if (length > MAX_POLICY_BYTES) return new TextDecoder('utf-8').decode(bytes);
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    } catch {
      throw new CountersignError('POLICY_PARSE_ERROR', `policy \`${file}\` is not UTF-8 text`, {
        file,
        issues: [{ file, line: 1, column: 1, path: '', code: 'YAML_SYNTAX', message: 'policy is not UTF-8 text' }],
      });
    }
  } catch (err) {
    if (isCountersignError(err)) throw err;
    throw new GatewayError('FILE_NOT_FOUND', `cannot read policy \`${file}\`: ${reason(err)}`, { file }, { cause: err });
  } finally {
    closeSync(fd);
  }
}

function reason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return typeof code === 'string' ? code : 'read failed';
  }
}

/** `policy check`: the exit code. Issues go to stderr, the verdict to stdout. */

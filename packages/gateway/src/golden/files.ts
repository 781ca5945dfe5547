import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayError } from '../errors.js';

/** Policies, proposals and case files are documents of kilobytes; a file past this is a mistake or an attack. */
export const MAX_INPUT_BYTES = 4 * 1024 * 1024;

/** Read a UTF-8 file given on the command line, with a typed error rather than an errno. */
export async function readInputFile(path: string, what: string): Promise<string> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    throw new GatewayError('FILE_NOT_FOUND', `${what} \`${path}\` cannot be read`, { path });
  }
  if (size > MAX_INPUT_BYTES) throw new GatewayError('USAGE', `${what} \`${path}\` is larger than ${MAX_INPUT_BYTES} bytes`, { path });
  try {
    return await readFile(path, 'utf8');
  } catch {
    throw new GatewayError('FILE_NOT_FOUND', `${what} \`${path}\` cannot be read`, { path });
  }
}

/** Read stdin to the end, refusing more than MAX_INPUT_BYTES. */
export async function readStdin(what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    total += buf.byteLength;
    if (total > MAX_INPUT_BYTES) throw new GatewayError('USAGE', `${what} on stdin is larger than ${MAX_INPUT_BYTES} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const CASE_FILE = /\.ya?ml$/;

/**
 * Expand files and directories (recursively) into case files, sorted so runs
 * and reports are reproducible. A file named explicitly is taken whatever its
 * extension; inside directories only `.yaml` and `.yml` count.
 */
export async function collectCaseFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() && CASE_FILE.test(entry.name)) out.push(full);
    }
  };
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch {
      throw new GatewayError('FILE_NOT_FOUND', `case file or directory \`${path}\` cannot be read`, { path });
    }
    if (isDir) await walk(path);
    else out.push(path);
  }
  return [...new Set(out)];
}

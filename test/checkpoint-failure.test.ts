import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { call, EXAMPLE_POLICY, startGatewayProcess } from './helpers/gateway-process.js';

// A checkpoint the gateway's timer cannot store must reach the operator (a log
// line and a metric), must not touch the entries already durable, and must be
// written once the store takes it again. The fault is real: a trigger on the
// gateway's own SQLite file refuses every checkpoint row.
const dir = mkdtempSync(join(tmpdir(), 'cs-checkpoint-failure-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PROPOSAL = {
  agent: 'payments-copilot',
  on_behalf_of: 'olivia',
  surface: 'copilot-console',
  steps: [{ action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7' }],
};
const REFUSE = `CREATE TRIGGER refuse_checkpoints BEFORE INSERT ON checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints refused by the test'); END`;

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no ${name} in /metrics`);
  return Number(line.split(' ')[1]);
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('a checkpoint the store refuses', () => {
  it('is logged and counted, loses no entry, and is written once the store takes it again', async () => {
    const db = join(dir, 'ledger.db');
    const gw = await startGatewayProcess({ policy: EXAMPLE_POLICY, dir, db });
    const side = new Database(db);
    try {
      const token = await gw.token('payments-copilot', 'copilot-console');
      // whatever the start-up wrote is covered first, so the next checkpoint is the one refused
      await until('the start-up checkpoint', () => (side.prepare('SELECT COUNT(*) AS n FROM checkpoints').get() as { n: number }).n > 0);
      const before = await metric(gw.url, 'countersign_sequencer_errors_total');
      side.exec(REFUSE);

      const answer = await call(gw.url, 'POST', '/v1/proposals', token, PROPOSAL);
      expect(answer.status).toBe(201);
      // the timer (1 s by default) tries, fails, and says so
      // a whole line: the assertions below read whole lines only, and the text may first arrive in a line not yet ended
      await until('the failure in the log', () => gw.output().split('\n').slice(0, -1).some((line) => line.includes('checkpointing failed')));
      expect(await metric(gw.url, 'countersign_sequencer_errors_total')).toBeGreaterThan(before);
      // whole lines only: the output may end in one still being written
      const logged = gw
        .output()
        .split('\n')
        .slice(0, -1)
        .filter((line) => line.includes('checkpointing failed'))
        .map((line) => JSON.parse(line) as { level: number; err?: { message?: string } });
      expect(logged[0]?.level).toBe(40);
      expect(logged[0]?.err?.message).toContain('checkpoints refused by the test');

      // the proposal's entries are durable although no checkpoint covers them
      const size = (side.prepare('SELECT COUNT(*) AS n FROM ledger_entries').get() as { n: number }).n;
      const covered = (side.prepare('SELECT MAX(tree_size) AS n FROM checkpoints').get() as { n: number }).n;
      expect(size).toBeGreaterThan(covered);

      // the store takes checkpoints again: a later tick covers every entry
      side.exec('DROP TRIGGER refuse_checkpoints');
      await until('a checkpoint over the whole ledger', () => (side.prepare('SELECT MAX(tree_size) AS n FROM checkpoints').get() as { n: number }).n >= size);
    } finally {
      side.close();
      expect(await gw.stop('SIGTERM')).toBe(0);
    }
  }, 60_000);
});

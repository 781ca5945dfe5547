import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayProcess } from './helpers/gateway-process.js';
import { httpSuite } from './helpers/http-suite.js';

// End to end over SQLite: build first (`npx tsc -b packages/core packages/client packages/gateway`).
httpSuite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-http-'));
  return {
    dir,
    start: (policy, args) => startGatewayProcess({ policy, dir, db: join(dir, 'ledger.db'), ...(args ? { args } : {}) }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

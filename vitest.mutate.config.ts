import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The core's own tests, for `npm run mutate` (StrykerJS): the folders it
// mutates are pure, so their tests are the core's, and no process, port or
// database is needed. (mergeConfig would concatenate `include`, so the base's
// aliases are taken and the rest is set here.)
export default defineConfig({
  resolve: base.resolve,
  test: {
    include: ['packages/core/src/**/*.test.ts'],
    testTimeout: 30_000,
    pool: 'threads',
  },
});

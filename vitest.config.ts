import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: {
      '@countersign/core': fileURLToPath(new URL('./packages/core/src/index.ts', import.meta.url)),
      '@countersign/client/contract': fileURLToPath(new URL('./packages/client/src/contract/index.ts', import.meta.url)),
      '@countersign/client': fileURLToPath(new URL('./packages/client/src/index.ts', import.meta.url)),
      '@countersign/mcp': fileURLToPath(new URL('./packages/mcp/src/index.ts', import.meta.url)),
      '@countersign/gateway': fileURLToPath(new URL('./packages/gateway/src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});

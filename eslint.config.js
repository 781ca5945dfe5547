import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const IO_MODULES = [
  'fs', 'node:fs', 'fs/promises', 'node:fs/promises',
  'net', 'node:net', 'http', 'node:http', 'https', 'node:https', 'http2', 'node:http2',
  'dgram', 'node:dgram', 'child_process', 'node:child_process', 'worker_threads', 'node:worker_threads',
  'better-sqlite3', 'pg', 'fastify', 'pino',
];

// Node 20 can deadlock exporting a key that its key generation just made (see
// newEd25519KeyPair in packages/core/src/ledger/key.ts): every key pair comes from there.
const KEY_GENERATION = ['CallExpression[callee.name=\'generateKeyPairSync\']', 'CallExpression[callee.property.name=/^generateKeyPair(Sync)?$/]'].map((selector) => ({
  selector,
  message: 'use newEd25519KeyPair (core): keys fresh from Node 20 key generation can deadlock an export',
}));

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', '.countersign/**', 'reports/**', '.stryker-tmp/**'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', fetch: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', structuredClone: 'readonly', performance: 'readonly', NodeJS: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': ['error', ...KEY_GENERATION],
    },
  },
  {
    // INVARIANT: the core is pure. No IO, no database drivers, no gateway, no wall clock:
    // clock and state are passed in.
    files: ['packages/core/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: IO_MODULES.map((name) => ({ name, message: 'packages/core is pure: IO belongs in packages/gateway' })),
        patterns: [{ group: ['@countersign/gateway', '@countersign/gateway/*', '**/gateway/**'], message: 'dependencies flow core <- gateway, never the other way' }],
      }],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'pass the clock in' }],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'pass the clock in' }, ...KEY_GENERATION],
    },
  },
  {
    // ADR 002 (issue 12): one writer. Every entry the gateway records goes through the command
    // sequencer; the plain Sequencer (src/testing/, which the package does not export) appends
    // around it and is left to tests and the bench.
    files: ['packages/gateway/src/**/*.ts'],
    ignores: ['packages/gateway/src/**/*.test.ts', 'packages/gateway/src/**/*.contract.ts', 'packages/gateway/src/testing/**'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['**/testing/*', './testing/*'], message: 'one writer (ADR 002): production code appends through the Gateway\'s command sequencer; src/testing/ is for tests and the bench' }],
      }],
    },
  },
  {
    files: ['packages/client/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ['better-sqlite3', 'pg', 'fastify'].map((name) => ({ name, message: 'the client has no native or server dependencies' })),
        patterns: [{ group: ['@countersign/gateway', '@countersign/gateway/*'], message: 'the client never depends on the gateway' }],
      }],
    },
  },
);

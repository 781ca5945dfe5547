// StrykerJS over the pure core (issue 17): `npm run mutate`, outside CI
// because it is slow on two cores. The HTML and JSON reports land in
// reports/mutation/ (ignored by git); the score per folder is printed.
// One folder: npm run mutate -- --mutate 'packages/core/src/approval/**/!(*.test|*.contract).ts'
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts' },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: [
    'packages/core/src/{approval,override,state,decision,ledger}/**/*.ts',
    '!packages/core/src/**/*.test.ts',
    '!packages/core/src/**/*.contract.ts',
  ],
  coverageAnalysis: 'perTest',
  // Mutants reached only while a module loads (zod schemas, module-level
  // regular expressions) each run the whole core suite, about 30 s on two
  // cores; they are reported as ignored. docs/testing.md says why.
  ignoreStatic: true,
  concurrency: 2,
  timeoutMS: 20_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};

// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.dev/', 'dist/', 'scratch/', 'web/dist/', 'sdk/schema.d.ts', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code is replayed and must stay deterministic: no Node built-ins, no I/O
    // libraries, no application runtime code. Activities come in as types only.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'Workflows must not use Node built-ins.' },
            { group: ['pg', 'kysely', 'koa', '@koa/*', 'pino', '@electric-sql/*', '@temporalio/worker', '@temporalio/client', '@temporalio/activity'], message: 'Workflows must not do I/O: use an activity.' },
            { group: ['../src/*', '../src/**'], message: 'Workflows must not import application runtime code.', allowTypeImports: true },
            { group: ['../activities/*', '../activities/**', '../activities'], message: 'Import activity types only (import type).', allowTypeImports: true },
          ],
          paths: ['fs', 'path', 'crypto', 'http', 'https', 'net', 'child_process', 'os'].map((name) => ({
            name,
            message: 'Workflows must not use Node built-ins.',
          })),
        },
      ],
    },
  },
  {
    // Temporal is reached through src/temporal/gateway.ts only: workflows started by their
    // function under an id from workflows/ids.ts, every call bounded and mapped to one 503.
    // `import type { Client }` stays allowed (deps carry the client to the gateway).
    // Exceptions: the process entry points that construct the Client (main, worker, dev).
    files: ['src/**/*.ts', 'activities/**/*.ts'],
    ignores: ['src/temporal/**', 'src/main.ts', 'src/worker.ts', 'src/dev.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: '@temporalio/client', message: 'Reach Temporal through src/temporal/gateway.ts.', allowTypeImports: true }],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.property.name='workflow'][arguments.0.type='Literal']",
          message: 'Start workflows by their function (src/temporal/gateway.ts), never by a string name.',
        },
      ],
    },
  },
);

// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// SQL lives in src/db/<feature>.ts repositories only (plain functions taking a database or a
// transaction first). Everywhere else kysely is a type import, and query building
// (selectFrom/insertInto/updateTable/deleteFrom/replaceInto/transaction/connection calls, which
// every `with(…)` CTE chain ends in too, and sql`…` templates) is an error.
const kyselyImport = { name: 'kysely', message: 'Query building belongs in src/db/<feature>.ts; import kysely types only (import type).', allowTypeImports: true };
const sqlSyntax = [
  {
    selector: "CallExpression[callee.type='MemberExpression'][callee.property.name=/^(selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto|selectNoFrom|transaction|connection)$/]",
    message: 'SQL belongs in a src/db/<feature>.ts repository function (taking a db or a transaction first).',
  },
  {
    selector: "TaggedTemplateExpression[tag.name='sql'], TaggedTemplateExpression[tag.object.name='sql']",
    message: 'SQL belongs in a src/db/<feature>.ts repository function.',
  },
];
// Temporal is reached through src/temporal/gateway.ts only: workflows started by their function
// under an id from workflows/ids.ts, every call bounded and mapped to one 503. `import type
// { Client }` stays allowed (deps carry the client to the gateway). The process entry points
// that construct the Client (main, worker, dev) may import it.
const temporalClientImport = { name: '@temporalio/client', message: 'Reach Temporal through src/temporal/gateway.ts.', allowTypeImports: true };
const temporalSyntax = [
  {
    selector: "CallExpression[callee.object.property.name='workflow'][arguments.0.type='Literal']",
    message: 'Start workflows by their function (src/temporal/gateway.ts), never by a string name.',
  },
];
const entryPoints = ['src/main.ts', 'src/worker.ts', 'src/dev.ts'];

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
    // Application code outside the repositories and the gateway: neither SQL nor a Temporal client.
    // (One block: in a flat config a later block's no-restricted-* settings replace an earlier one's.)
    files: ['src/**/*.ts', 'activities/**/*.ts'],
    ignores: ['src/db/**', 'src/temporal/**', ...entryPoints],
    rules: {
      'no-restricted-imports': ['error', { paths: [kyselyImport, temporalClientImport] }],
      'no-restricted-syntax': ['error', ...sqlSyntax, ...temporalSyntax],
    },
  },
  {
    // The repositories: SQL, no Temporal.
    files: ['src/db/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [temporalClientImport] }],
      'no-restricted-syntax': ['error', ...temporalSyntax],
    },
  },
  {
    // The gateway and the entry points that build the Client: Temporal, no SQL.
    files: ['src/temporal/**/*.ts', ...entryPoints],
    rules: {
      'no-restricted-imports': ['error', { paths: [kyselyImport] }],
      'no-restricted-syntax': ['error', ...sqlSyntax],
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
);

// Lint is part of `npm test`. Import boundaries keep the layers one-way:
// types, common (pure shared code) <- client <- cli/electron; engine subsystems -> engine/common only;
// only engine/daemon (the composition root) sees everything.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const restrict = (patterns, message) => ({
  'no-restricted-imports': ['error', { patterns: patterns.map((group) => ({ group: [group], message })) }],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['common/**/*.ts'],
    rules: restrict(['**/engine/**', '**/client/**', '**/cli/**', '**/types/**', 'node:*'], 'common/ is pure code shared by engine and clients'),
  },
  {
    files: ['hostfs/**/*.ts'],
    rules: restrict(
      ['**/engine/**', '**/client/**', '**/cli/**', '**/types/**', '**/desktop/**', '**/electron/**', '**/renderer/**', '**/vm/**'],
      'hostfs/ is file-system code on Node shared by the engine and the clients; it uses common/ only',
    ),
  },
  { files: ['types/**/*.ts'], rules: restrict(['**/engine/**', '**/client/**', '**/cli/**', 'node:*'], 'types/ holds types only') },
  { files: ['client/**/*.ts'], rules: restrict(['**/engine/**', '**/cli/**'], 'the client speaks the API; it never imports the engine') },
  { files: ['cli/**/*.ts'], rules: restrict(['**/engine/**'], 'the CLI is an API client; use client/') },
  {
    files: ['desktop/**/*.ts'],
    rules: restrict(['**/engine/**', '**/electron/**', '**/cli/**', '**/renderer/**'], 'the bridge host and web mode reach engines through client/ only'),
  },
  {
    files: ['vm/**/*.ts'],
    rules: restrict(['**/engine/**', '**/cli/**', '**/desktop/**', '**/electron/**', '**/renderer/**'], 'the VM launcher reaches the guest engine through client/ only'),
  },
  {
    files: ['electron/**/*.ts', 'electron/**/*.cts'],
    rules: restrict(['**/engine/**', '**/cli/**', '**/renderer/**'], 'Electron main and preload use desktop/, client/, types/ and common/'),
  },
  {
    files: ['engine/common/**/*.ts'],
    rules: restrict(
      ['**/store/**', '**/images/**', '**/registry/**', '**/api/**', '**/daemon/**', '**/events/**', '**/runtime/**', '**/containers/**', '**/network/**', '**/volumes/**'],
      'engine/common depends on nothing else in the engine',
    ),
  },
  {
    files: ['engine/store/**/*.ts', 'engine/registry/**/*.ts', 'engine/events/**/*.ts', 'engine/runtime/**/*.ts', 'engine/network/**/*.ts', 'engine/volumes/**/*.ts'],
    rules: restrict(
      ['**/api/**', '**/daemon/**', '**/images/**', '**/containers/**', '**/network/**', '**/volumes/**'],
      'low-level subsystems depend only on engine/common',
    ),
  },
  { files: ['engine/images/**/*.ts'], rules: restrict(['**/api/**', '**/daemon/**', '**/runtime/**', '**/containers/**'], 'images never imports the API layer, the runtime or the daemon') },
  {
    files: ['engine/containers/**/*.ts'],
    rules: restrict(
      ['**/api/**', '**/daemon/**', '**/store/**', '**/registry/**'],
      'containers use common, runtime, events, images, network and volumes; never the API layer or the daemon',
    ),
  },
  {
    files: ['engine/builder/**/*.ts'],
    rules: restrict(
      ['**/api/**', '**/daemon/**', '**/store/**', '**/registry/**', '**/network/**', '**/volumes/**'],
      'the builder uses common, images, containers, events and runtime (user lookup); never the API layer or the daemon',
    ),
  },
  { files: ['engine/api/**/*.ts'], rules: restrict(['**/daemon/**'], 'routes see backends through interfaces; the daemon wires them') },
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.tsx'],
    ignores: ['renderer/vite.config.ts'],
    rules: restrict(
      ['**/engine/**', '**/client/**', '**/cli/**', '**/desktop/**', '**/electron/**', '**/hostfs/**', 'node:*'],
      'the renderer runs sandboxed: it sees the bridge contract (types/) and nothing of Node',
    ),
  },
  // Tests read loosely-typed JSON bodies from the API; `any` there keeps assertions readable.
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  { files: ['**/*.js', '**/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } } },
);

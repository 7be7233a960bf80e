// Lint is part of `npm test`. The layer table below is the import direction of docs/ARCHITECTURE.md,
// enforced by the `berth/layers` rule (build/lint-layers.mjs): a file may import its own layer and
// the layers in its `may` list, nothing else. test/lint-layers.test.ts proves each entry refuses a
// wrong import. Keep the table, the prose in ARCHITECTURE.md and the folders in step.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { layersRule } from './build/lint-layers.mjs';

// Every engine subsystem may use the wire types and the code shared with the clients.
const ENGINE_SHARED = ['types', 'common', 'hostfs'];
const CLIENT_SIDE = ['client', 'types', 'common', 'hostfs'];

/** The layers: name, folders (or files), what they may import, and why (the lint message says it). */
export const LAYERS = [
  { name: 'types', files: ['types'], may: [], node: false, packages: false, why: 'types/ holds the wire and bridge types and imports nothing' },
  { name: 'common', files: ['common'], may: [], node: false, packages: false, why: 'common/ is pure code shared by engine and clients: no Node, no other layer' },
  { name: 'hostfs', files: ['hostfs'], may: ['common'], why: 'hostfs/ is file-system code on Node shared by the engine and the clients; it uses common/ only' },
  { name: 'client', files: ['client'], may: ['types', 'common', 'hostfs'], why: 'the client speaks the Engine API; it uses types/, common/ and hostfs/ only' },
  { name: 'vm', files: ['vm'], may: CLIENT_SIDE, why: 'the VM launcher reaches the guest engine through client/ only' },
  { name: 'desktop', files: ['desktop'], may: [...CLIENT_SIDE, 'vm'], why: 'the bridge host and web mode reach engines through client/ only' },
  { name: 'cli', files: ['cli'], may: [...CLIENT_SIDE, 'vm', 'cli/desktop.ts'], why: 'the CLI is an API client: client/, types/, vm/; desktop/ only for `berth desktop` (cli/desktop.ts)' },
  { name: 'cli/desktop.ts', files: ['cli/desktop.ts'], may: [...CLIENT_SIDE, 'vm', 'cli', 'desktop'], why: '`berth desktop` starts the bridge host; it is still an API client' },
  { name: 'electron', files: ['electron'], may: [...CLIENT_SIDE, 'vm', 'desktop'], why: 'Electron main and preload use desktop/, client/, vm/, types/ and common/' },
  { name: 'renderer', files: ['renderer/src'], may: ['types'], node: false, why: 'the renderer runs sandboxed: it sees the bridge contract (types/) and nothing of Node' },
  // A new engine folder falls here until it gets its own entry: it may use engine/common, and no
  // other layer may import it.
  { name: 'engine', files: ['engine'], may: [...ENGINE_SHARED, 'engine/common'], why: 'an engine folder not in this table depends only on engine/common' },
  { name: 'engine/common', files: ['engine/common'], may: ENGINE_SHARED, why: 'engine/common depends on nothing else in the engine' },
  ...['store', 'registry', 'events', 'runtime', 'network', 'volumes'].map((sub) => ({
    name: `engine/${sub}`,
    files: [`engine/${sub}`],
    may: [...ENGINE_SHARED, 'engine/common'],
    why: 'low-level subsystems depend only on engine/common',
  })),
  {
    name: 'engine/images',
    files: ['engine/images'],
    may: [...ENGINE_SHARED, 'engine/common', 'engine/store', 'engine/registry', 'engine/events'],
    why: 'images use common, store, registry and events; never the API layer, the runtime or the daemon',
  },
  {
    name: 'engine/containers',
    files: ['engine/containers'],
    may: [...ENGINE_SHARED, 'engine/common', 'engine/runtime', 'engine/events', 'engine/images', 'engine/network', 'engine/volumes'],
    why: 'containers use common, runtime, events, images, network and volumes; never the API layer or the daemon',
  },
  {
    name: 'engine/builder',
    files: ['engine/builder'],
    may: [...ENGINE_SHARED, 'engine/common', 'engine/images', 'engine/containers', 'engine/events', 'engine/runtime'],
    why: 'the builder uses common, images, containers, events and runtime (user lookup); never the API layer or the daemon',
  },
  {
    name: 'engine/api',
    files: ['engine/api'],
    may: [...ENGINE_SHARED, 'engine/common'],
    // The registry's AuthConfig/Platform and the event bus's EngineEvent/EventBus are value types
    // the routes pass through; naming them costs nothing at run time.
    mayTypes: ['engine/registry', 'engine/events'],
    why: 'routes see backends only through the interfaces engine/api declares; the daemon wires them',
  },
  {
    name: 'engine/daemon',
    files: ['engine/daemon'],
    may: [...ENGINE_SHARED, ...['common', 'store', 'registry', 'events', 'runtime', 'network', 'volumes', 'images', 'containers', 'builder', 'api'].map((s) => `engine/${s}`)],
    why: 'the composition root sees every engine subsystem, and nothing of the clients',
  },
];

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
    files: ['**/*.ts', '**/*.tsx', '**/*.cts'],
    ignores: ['renderer/vite.config.ts'],
    plugins: { berth: { rules: { layers: layersRule } } },
    rules: { 'berth/layers': ['error', { layers: LAYERS }] },
  },
  // Tests read loosely-typed JSON bodies from the API; `any` there keeps assertions readable.
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  { files: ['**/*.js', '**/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } } },
);

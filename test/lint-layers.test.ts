// The layer table of eslint.config.js does what docs/ARCHITECTURE.md says: for every layer, an
// import it may not make fails `npm run lint` with that layer's reason, and one it may make passes.
// Files are virtual (ESLint's lintText with a path inside the layer), linted with the repository's
// own configuration. The pure folders' type-checks are proved the same way: common/ and types/
// compile without Node's or the DOM's globals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ESLint } from 'eslint';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Layer {
  name: string;
  files: string[];
  why: string;
}

interface Case {
  /** A virtual file inside the layer. */
  file: string;
  /** Imports the layer may not make, one module each. */
  wrong: string[];
  /** Imports it may make, together in one module. */
  right: string;
}

const CLIENTS = ["import { EngineClient } from '../../client/index.js';", "import { createBridgeHost } from '../../desktop/bridge/index.js';"];

const CASES: Record<string, Case> = {
  types: {
    file: 'types/probe.ts',
    wrong: ["import type { EngineClient } from '../client/index.js';", "import type { Stats } from 'node:fs';", "import type { Dispatcher } from 'undici';"],
    right: "import type { EngineEndpoint } from './desktop-api.js';\nexport type E = EngineEndpoint;",
  },
  common: {
    file: 'common/probe.ts',
    wrong: ["import { Buffer } from 'node:buffer';", "import fs from 'fs';", "import { invalid } from '../engine/common/errors.js';", "import { x } from 'undici';", "export * from '../hostfs/rooted.js';"],
    right: "import { parseReference } from './reference.js';\nimport { TarReader } from './tar/index.js';\nexport const a = [parseReference, TarReader];",
  },
  hostfs: {
    file: 'hostfs/probe.ts',
    wrong: ["import { EngineClient } from '../client/index.js';", "import { invalid } from '../engine/common/errors.js';"],
    right: "import fs from 'node:fs';\nimport { TarReader } from '../common/tar/index.js';\nexport const a = [fs, TarReader];",
  },
  client: {
    file: 'client/probe.ts',
    wrong: ["import { invalid } from '../engine/common/errors.js';", "import { createBridgeHost } from '../desktop/bridge/index.js';", "import { run } from '../cli/main.js';"],
    right: "import type { ImageSummary } from '../types/engine-api.js';\nimport { TarReader } from '../common/tar/index.js';\nimport { Dispatcher } from 'undici';\nexport type I = ImageSummary;\nexport const a = [TarReader, Dispatcher];",
  },
  vm: {
    file: 'vm/host/probe.ts',
    wrong: ["import { createBridgeHost } from '../../desktop/bridge/index.js';", "import { run } from '../../cli/main.js';", "import { startDaemon } from '../../engine/daemon/main.js';"],
    right: "import { EngineClient } from '../../client/index.js';\nimport type { VmStatus } from '../../types/desktop-api.js';\nexport type V = VmStatus;\nexport const a = EngineClient;",
  },
  desktop: {
    file: 'desktop/bridge/probe.ts',
    wrong: ["import { main } from '../../electron/main.js';", "import { run } from '../../cli/main.js';", "import { App } from '../../renderer/src/App.js';", "import { invalid } from '../../engine/common/errors.js';"],
    right: "import { EngineRegistry } from '../../client/contexts/index.js';\nimport { vmStatus } from '../../vm/host/control.js';\nexport const a = [EngineRegistry, vmStatus];",
  },
  cli: {
    file: 'cli/probe.ts',
    wrong: [
      "import { createBridgeHost } from '../desktop/bridge/index.js';",
      "import { invalid } from '../engine/common/errors.js';",
      "import { main } from '../electron/main.js';",
      "const host = () => import('../desktop/bridge/index.js');\nexport { host };",
    ],
    right: "import { chooseEngine } from '../client/contexts/index.js';\nimport { desktopCommand } from './desktop.js';\nimport { vmStatus } from '../vm/host/control.js';\nexport const a = [chooseEngine, desktopCommand, vmStatus];",
  },
  'cli/desktop.ts': {
    file: 'cli/desktop.ts',
    wrong: ["import { startDaemon } from '../engine/daemon/main.js';", "import { main } from '../electron/main.js';"],
    right: "import { createBridgeHost } from '../desktop/bridge/index.js';\nimport { startWebServer } from '../desktop/web/index.js';\nimport { UsageError } from './args.js';\nexport const a = [createBridgeHost, startWebServer, UsageError];",
  },
  electron: {
    file: 'electron/probe.ts',
    wrong: ["import { App } from '../renderer/src/App.js';", "import { run } from '../cli/main.js';", "import { invalid } from '../engine/common/errors.js';"],
    right: "import { createBridgeHost } from '../desktop/bridge/index.js';\nimport { VM_ENGINE_ID } from '../client/contexts/index.js';\nexport const a = [createBridgeHost, VM_ENGINE_ID];",
  },
  renderer: {
    file: 'renderer/src/probe.ts',
    wrong: ["import { EngineClient } from '../../client/index.js';", "import fs from 'node:fs';", "import { parseReference } from '../../common/reference.js';", "import { createBridgeHost } from '../../desktop/bridge/index.js';"],
    right: "import type { Settings } from '../../types/desktop-api';\nimport { useState } from 'react';\nimport { bridge } from './bridge';\nexport type S = Settings;\nexport const a = [useState, bridge];",
  },
  engine: {
    file: 'engine/newsystem/probe.ts',
    wrong: ["import { ImageService } from '../images/service.js';", ...CLIENTS],
    right: "import { invalid } from '../common/errors.js';\nexport const a = invalid;",
  },
  'engine/common': {
    file: 'engine/common/probe.ts',
    wrong: ["import { ImageService } from '../images/service.js';", "import { Router } from '../api/router.js';", ...CLIENTS],
    right: "import { openRoot } from '../../hostfs/rooted.js';\nimport type { Filters } from '../../types/engine-api.js';\nexport type F = Filters;\nexport const a = openRoot;",
  },
  'engine/images': {
    file: 'engine/images/probe.ts',
    wrong: ["import { buildSpec } from '../runtime/spec.js';", "import { ContainerService } from '../containers/service.js';", "import { Builder } from '../builder/builder.js';", ...CLIENTS],
    right: "import { RegistryClient } from '../registry/client.js';\nimport { LayerStore } from '../store/layers.js';\nimport { EventBus } from '../events/bus.js';\nexport const a = [RegistryClient, LayerStore, EventBus];",
  },
  'engine/containers': {
    file: 'engine/containers/probe.ts',
    wrong: ["import { Router } from '../api/router.js';", "import { LayerStore } from '../store/layers.js';", "import { Engine } from '../daemon/engine.js';", ...CLIENTS],
    right: "import { NetworkService } from '../network/service.js';\nimport { VolumeService } from '../volumes/service.js';\nimport { buildSpec } from '../runtime/spec.js';\nexport const a = [NetworkService, VolumeService, buildSpec];",
  },
  'engine/builder': {
    file: 'engine/builder/probe.ts',
    wrong: ["import { NetworkService } from '../network/service.js';", "import { Router } from '../api/router.js';", ...CLIENTS],
    right: "import { ContainerService } from '../containers/service.js';\nimport { ImageService } from '../images/service.js';\nexport const a = [ContainerService, ImageService];",
  },
  'engine/api': {
    file: 'engine/api/probe.ts',
    wrong: [
      "import { ContainerService } from '../containers/service.js';",
      "import type { ContainerService } from '../containers/service.js';",
      "import { RegistryClient } from '../registry/client.js';",
      "import { EventBus } from '../events/bus.js';",
      "export const load = () => import('../daemon/engine.js');",
      ...CLIENTS,
    ],
    right:
      "import type { AuthConfig } from '../registry/types.js';\nimport { type EventBus } from '../events/bus.js';\nimport { invalid } from '../common/errors.js';\nimport { Router } from './router.js';\nexport type A = [AuthConfig, EventBus];\nexport const a = [invalid, Router];",
  },
  'engine/daemon': {
    file: 'engine/daemon/probe.ts',
    wrong: CLIENTS,
    right: "import { Router } from '../api/router.js';\nimport { ContainerService } from '../containers/service.js';\nimport { Builder } from '../builder/builder.js';\nexport const a = [Router, ContainerService, Builder];",
  },
};
for (const sub of ['store', 'registry', 'events', 'runtime', 'network', 'volumes']) {
  CASES[`engine/${sub}`] = {
    file: `engine/${sub}/probe.ts`,
    wrong: ["import { ContainerService } from '../containers/service.js';", "import { ImageService } from '../images/service.js';", "import { Router } from '../api/router.js';", ...CLIENTS],
    right: "import { invalid } from '../common/errors.js';\nimport { TarReader } from '../../common/tar/index.js';\nexport const a = [invalid, TarReader];",
  };
}

async function layers(): Promise<Layer[]> {
  const config = (await import(pathToFileURL(path.join(ROOT, 'eslint.config.js')).href)) as { LAYERS: Layer[] };
  return config.LAYERS;
}

const eslint = new ESLint({ cwd: ROOT });

async function layerMessages(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\n`, { filePath: path.join(ROOT, file) });
  assert.ok(result, file);
  const fatal = result.messages.filter((m) => m.fatal);
  assert.deepEqual(fatal, [], `${file} parses:\n${code}`);
  return result.messages.filter((m) => m.ruleId === 'berth/layers').map((m) => m.message);
}

test('every layer of the table has a case here, and every case a layer', async () => {
  const names = (await layers()).map((l) => l.name).sort();
  assert.deepEqual(Object.keys(CASES).sort(), names);
});

test('each layer refuses the imports the architecture forbids, with its reason, and allows the ones it permits', async () => {
  for (const layer of await layers()) {
    const c = CASES[layer.name]!;
    for (const wrong of c.wrong) {
      const messages = await layerMessages(c.file, `${wrong}\nexport const keep = 1;`);
      assert.equal(messages.length, 1, `${layer.name}: ${wrong} is refused once: ${JSON.stringify(messages)}`);
      assert.ok(messages[0]!.startsWith(`${layer.name} may not import `), messages[0]);
      assert.ok(messages[0]!.endsWith(`: ${layer.why}`), `${layer.name} gives its reason: ${messages[0]}`);
    }
    assert.deepEqual(await layerMessages(c.file, c.right), [], `${layer.name} may import:\n${c.right}`);
  }
});

test('every form of import is checked: export from, dynamic import, import = require, require()', async () => {
  const forms = [
    "export { EngineClient } from '../../client/index.js';",
    "export * as client from '../../client/index.js';",
    "export const load = () => import('../../client/index.js');",
    "import client = require('../../client/index.js');\nexport { client };",
    "export const client = require('../../client/index.js');",
    "export type Client = import('../../client/index.js').EngineClient;",
  ];
  for (const form of forms) assert.equal((await layerMessages('engine/network/probe.ts', form)).length, 1, form);
  // Only type imports pass where a layer may name types: the type position of import() counts as one.
  assert.deepEqual(await layerMessages('engine/api/probe.ts', "export type Auth = import('../registry/types.js').AuthConfig;"), []);
});

test('the messages name what was imported', async () => {
  assert.deepEqual(await layerMessages('engine/api/probe.ts', "import { RegistryClient } from '../registry/client.js';\nexport const a = RegistryClient;"), [
    'engine/api may not import engine/registry except with import type: routes see backends only through the interfaces engine/api declares; the daemon wires them',
  ]);
  const [outside] = await layerMessages('engine/network/probe.ts', "import { startDaemon } from '../../test/harness/index.js';\nexport const a = startDaemon;");
  assert.match(outside!, /^engine\/network may not import test\/harness\/index\.js: /);
  const [node] = await layerMessages('common/probe.ts', "import { readFile } from 'node:fs/promises';\nexport const a = readFile;");
  assert.match(node!, /^common may not import Node's node:fs\/promises: /);
});

/** Type-checks one file under a folder's own tsconfig (a temporary project that extends it). */
async function typeErrors(folder: string, code: string): Promise<string[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-layers-'));
  try {
    const probe = path.join(dir, 'probe.ts');
    await writeFile(probe, code);
    const base = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, folder, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
    assert.ok(base, `${folder}/tsconfig.json parses`);
    const globals = base.fileNames.filter((f) => f.endsWith('.d.ts'));
    const program = ts.createProgram([probe, ...globals], { ...base.options, noEmit: true, composite: false, incremental: false, declaration: false, rootDir: undefined });
    return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("common/ and types/ compile without Node's or the DOM's globals; common/ has the web platform's text codecs", async () => {
  for (const folder of ['common', 'types']) {
    assert.deepEqual(await typeErrors(folder, 'export const n: number = 1;\n'), [], `${folder}: a plain module compiles`);
    for (const global of ['Buffer', 'process', 'document', 'window', 'setTimeout']) {
      const errors = await typeErrors(folder, `export const g = ${global};\n`);
      assert.ok(errors.some((e) => e.includes(`Cannot find name '${global}'`)), `${folder}: ${global} is not there: ${JSON.stringify(errors)}`);
    }
    const nodeTypes = await typeErrors(folder, "export type S = NodeJS.ProcessEnv;\n");
    assert.ok(nodeTypes.some((e) => e.includes("'NodeJS'")), `${folder}: no NodeJS namespace: ${JSON.stringify(nodeTypes)}`);
  }
  assert.deepEqual(await typeErrors('common', "export const b = new TextEncoder().encode('x');\nexport const s = new TextDecoder().decode(b);\n"), []);
});

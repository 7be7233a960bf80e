// Contexts (client/contexts): the engines registry the CLI and the app share, its failures as
// EngineErrors with a stable code, how each front end words them (the bridge's status, the CLI's
// "Error: ..."), and the app's settings kept in the same file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { EngineRegistry, LOCAL_ENGINE_ID, VM_ENGINE_ID, chooseEngine, defaultEngineId } from '../client/contexts/index.js';
import { EngineError, isEngineError } from '../client/index.js';
import { run } from '../cli/main.js';
import { toBridgeError } from '../desktop/bridge/errors.js';
import { DEFAULT_SETTINGS, DesktopSettings } from '../desktop/bridge/settings.js';

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-contexts-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const env = (dir: string): NodeJS.ProcessEnv => ({ HOME: dir, BERTH_HOME: path.join(dir, '.berth'), BERTH_DESKTOP_CONFIG: path.join(dir, 'desktop.json'), PATH: process.env['PATH'] });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(isEngineError(err), String(err));
    assert.equal(err.statusCode, 0, 'found out here, not answered by an engine');
    return err.code;
  }
  return undefined;
}

test('the registry: built-in engines, added ones saved and read back, the active one, failures by code', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'desktop.json');
    const registry = await EngineRegistry.load(file, env(dir), 'unix:///tmp/x.sock');
    assert.deepEqual(
      registry.engines().map((e) => [e.id, e.kind, e.host]),
      [
        [LOCAL_ENGINE_ID, 'local', 'unix:///tmp/x.sock'],
        [VM_ENGINE_ID, 'vm', `unix://${path.join(dir, '.berth', 'run', 'docker.sock')}`],
      ],
    );
    assert.equal(registry.activeId, defaultEngineId());

    const added = await registry.add(registry.prepare('box', ' tcp://127.0.0.1:2375 '));
    assert.equal(added.kind, 'socket');
    assert.equal(added.host, 'tcp://127.0.0.1:2375');
    await registry.use(added.id);
    const again = await EngineRegistry.load(file, env(dir));
    assert.equal(again.active().name, 'box');
    assert.equal(again.find('box').id, added.id, 'by name');
    assert.equal(again.find(added.id).name, 'box', 'by id');

    assert.equal(codeOf(() => again.find('nope')), 'NOT_FOUND');
    assert.equal(codeOf(() => again.get('nope')), 'NOT_FOUND');
    assert.equal(codeOf(() => again.prepare('box', 'unix:///other.sock')), 'INVALID', 'names are unique');
    assert.equal(codeOf(() => again.prepare('x', 'ftp://nope')), 'INVALID');
    assert.equal(codeOf(() => again.prepare('x', 'unix:///a.sock', '/key')), 'INVALID', 'identity files are for ssh');
    await assert.rejects(again.remove(LOCAL_ENGINE_ID), (e: EngineError) => e.code === 'INVALID' && /built-in/.test(e.message));

    await again.remove(added.id);
    assert.equal(again.activeId, defaultEngineId(), 'removing the active engine goes back to the default');
    assert.equal((await EngineRegistry.load(file, env(dir))).engines().length, 2);
  });
});

test("the app's settings share the file: the CLI's changes keep them, the app's keep the engines", async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'desktop.json');
    const app = await EngineRegistry.load(file, env(dir));
    const settings = new DesktopSettings(app);
    assert.deepEqual(settings.get(), DEFAULT_SETTINGS);
    await settings.set({ theme: 'dark', tour: { step: 3, image: 'nginx:alpine' } });

    // The CLI adds a context with its own registry object, reading the file the app wrote.
    const cli = await EngineRegistry.load(file, env(dir));
    await cli.add(cli.prepare('remote', 'tcp://10.0.0.2:2375'));
    const stored = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(stored), ['engines', 'active', 'settings']);
    assert.equal((stored['settings'] as { theme: string }).theme, 'dark');

    const reread = new DesktopSettings(await EngineRegistry.load(file, env(dir)));
    assert.equal(reread.get().theme, 'dark');
    assert.deepEqual(reread.get().tour, { step: 3, image: 'nginx:alpine' });

    // A malformed field takes its default; the rest are kept.
    await writeFile(file, JSON.stringify({ ...stored, settings: { theme: 'pink', onboardingDone: true, tour: { step: 99 } } }));
    const cleaned = new DesktopSettings(await EngineRegistry.load(file, env(dir)));
    assert.deepEqual(cleaned.get(), { ...DEFAULT_SETTINGS, onboardingDone: true, tour: { step: 0 } });

    // Reset: default settings, no added engines, the default engine active.
    const registry = await EngineRegistry.load(file, env(dir));
    await new DesktopSettings(registry).reset();
    assert.equal(registry.engines().length, 2);
    assert.deepEqual(new DesktopSettings(await EngineRegistry.load(file, env(dir))).get(), DEFAULT_SETTINGS);
  });
});

test('a file that is not JSON is set aside and the defaults are used', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'desktop.json');
    await writeFile(file, '{"engines": [');
    const registry = await EngineRegistry.load(file, env(dir));
    assert.equal(registry.engines().length, 2);
    assert.deepEqual((await readdir(dir)).sort(), ['desktop.json.corrupt']);
    await writeFile(file, 'null');
    await EngineRegistry.load(file, env(dir));
    assert.ok((await readdir(dir)).includes('desktop.json.corrupt'));
  });
});

test('choosing the engine: -H, then --context or BERTH_CONTEXT, then BERTH_HOST/DOCKER_HOST, then the current context', async () => {
  await withDir(async (dir) => {
    const e = env(dir);
    const registry = await EngineRegistry.load(path.join(dir, 'desktop.json'), e);
    const box = await registry.add(registry.prepare('box', 'unix:///box.sock'));
    await registry.use(box.id);
    assert.equal((await chooseEngine({}, e)).host, 'unix:///box.sock', 'the current context');
    assert.equal((await chooseEngine({}, { ...e, DOCKER_HOST: 'unix:///env.sock' })).host, 'unix:///env.sock');
    assert.equal((await chooseEngine({ context: 'Local engine' }, { ...e, DOCKER_HOST: 'unix:///env.sock' })).kind, 'local', '--context beats the environment');
    assert.equal((await chooseEngine({}, { ...e, BERTH_CONTEXT: 'box', DOCKER_HOST: 'unix:///env.sock' })).host, 'unix:///box.sock');
    assert.equal((await chooseEngine({ host: 'unix:///flag.sock', context: 'box' }, e)).host, 'unix:///flag.sock', '-H beats everything');
    await assert.rejects(chooseEngine({ context: 'nope' }, e), (err: EngineError) => err.code === 'NOT_FOUND');
  });
});

test("the bridge maps the client's codes to the statuses they stand for; the engine's own status passes through", () => {
  const own = (code: EngineError['code']): number => toBridgeError(new EngineError('x', 0, code)).status;
  assert.equal(own('INVALID'), 400);
  assert.equal(own('NOT_FOUND'), 404);
  assert.equal(own('CONFLICT'), 409);
  assert.equal(own('UNAUTHORIZED'), 401);
  assert.equal(own('UNREACHABLE'), 0);
  assert.equal(own('SERVER'), 0);
  assert.equal(toBridgeError(new EngineError('boom', 500, 'SERVER')).status, 500);
  assert.equal(toBridgeError(new EngineError('gone', 404, 'NOT_FOUND')).message, 'gone');
});

async function berth(args: string[], e: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  out.on('data', (c: Buffer) => chunks.out.push(c));
  err.on('data', (c: Buffer) => chunks.err.push(c));
  const code = await run(args, { stdout: out, stderr: err, stdin: Readable.from([]), env: e });
  return { code, stdout: Buffer.concat(chunks.out).toString(), stderr: Buffer.concat(chunks.err).toString() };
}

test('berth context words the failures as it always has', async () => {
  await withDir(async (dir) => {
    const e = env(dir);
    assert.deepEqual(await berth(['context', 'use', 'nope'], e), { code: 1, stdout: '', stderr: 'Error: context "nope" does not exist\n' });
    assert.deepEqual(await berth(['context', 'inspect', 'nope'], e), { code: 1, stdout: '', stderr: 'Error: context "nope" does not exist\n' });
    const bad = await berth(['context', 'create', 'x', '--host', 'ftp://nope'], e);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^Error: invalid engine host "ftp:\/\/nope"/);
    assert.equal((await berth(['context', 'create', 'box', '--host', 'unix:///box.sock'], e)).code, 0);
    const twice = await berth(['context', 'create', 'box', '--host', 'unix:///box.sock'], e);
    assert.deepEqual(twice, { code: 1, stdout: '', stderr: 'Error: an engine named "box" already exists\n' });
    const rm = await berth(['context', 'rm', 'box', 'nope'], e);
    assert.deepEqual(rm, { code: 1, stdout: 'box\n', stderr: 'Error: context "nope" does not exist\n' });
    // A context that does not exist is a usage error for any command (exit 125).
    const usage = await berth(['--context', 'nope', 'version'], e);
    assert.equal(usage.code, 125);
    assert.match(usage.stderr, /^context "nope" does not exist\n/);
  });
});

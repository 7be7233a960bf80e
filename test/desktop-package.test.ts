// The Linux package, as far as it can be built here: electron-builder itself (the real one, with the
// project's config) packs the app around a stand-in Electron distribution into its unpacked
// layout (the step before AppImage and deb, whose tools it would download). Then the packaged
// engine is run the way berthd.service runs it, with Node standing in for Electron-as-Node, and
// the unit is checked by systemd's own parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { unixRequest } from './harness/daemon.js';
import { makeTempDir, removeDir, repoRoot, run, spawnTracked, stopChild, tailText, waitUntil } from './harness/util.js';

const root = repoRoot();
const require = createRequire(import.meta.url);
const asar = require('@electron/asar') as { listPackage(archive: string, opts?: unknown): string[]; extractAll(archive: string, dest: string): void };
const yaml = require('js-yaml') as { load(text: string): Record<string, any> };
const config = yaml.load(readFileSync(path.join(root, 'build', 'electron-builder.yml'), 'utf8'));
const electronVersion = (JSON.parse(readFileSync(path.join(root, 'node_modules', 'electron', 'package.json'), 'utf8')) as { version: string }).version;
const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
const skip = process.platform !== 'linux' && 'the Linux package';

test('electron-builder packs the Linux app: the app, the engine, its launcher, no tests or maps', { skip, timeout: 600_000 }, async () => {
  const dir = await makeTempDir('berth-pkg-');
  try {
    const dist = path.join(dir, 'electron-dist');
    mkdirSync(dist);
    writeFileSync(path.join(dist, 'electron'), '#!/bin/sh\necho stand-in electron\n');
    chmodSync(path.join(dist, 'electron'), 0o755);
    const out = path.join(dir, 'out');
    const builder = path.join(root, 'node_modules', '.bin', 'electron-builder');
    const r = await run(
      builder,
      ['--config', 'build/electron-builder.yml', '--linux', 'dir', `--${arch}`, '--publish', 'never', `-c.electronDist=${dist}`, `-c.electronVersion=${electronVersion}`, `-c.directories.output=${out}`],
      { cwd: root, env: { ...process.env, CI: 'true' }, timeoutMs: 540_000 },
    );
    assert.equal(r.code, 0, tailText(r.stdout.toString() + r.stderr.toString(), 40));
    const app = path.join(out, arch === 'x64' ? 'linux-unpacked' : 'linux-arm64-unpacked');
    const exe = path.join(app, config['linux'].executableName);
    assert.ok(existsSync(exe), 'the Electron binary under the app name (not "berth": that is the CLI)');
    assert.equal(config['linux'].executableName, 'berth-desktop');
    const launcher = path.join(app, 'resources', 'linux', 'berthd');
    assert.ok(statSync(launcher).mode & 0o111, 'the engine launcher is executable');

    const archive = path.join(app, 'resources', 'app.asar');
    const files = new Set(asar.listPackage(archive).map((f) => f.replace(/^[\\/]/, '')));
    for (const f of ['package.json', 'dist/electron/main.js', 'dist/electron/preload.cjs', 'dist/engine/daemon/cli.js', 'dist/desktop/bridge/index.js', 'dist/vm/host/supervisor-main.js', 'node_modules/node-unix-socket/package.json']) {
      assert.ok(files.has(f), `${f} is packed`);
    }
    if (existsSync(path.join(root, 'dist', 'renderer', 'index.html'))) assert.ok(files.has('dist/renderer/index.html'), 'the renderer is packed');
    assert.ok(![...files].some((f) => f.startsWith('dist/test/') || f.startsWith('dist/bench/') || f.startsWith('dist/cli/')), 'no tests, benchmarks or CLI');
    assert.ok(![...files].some((f) => f.endsWith('.map')), 'no source maps');
    assert.ok(![...files].some((f) => f.startsWith('node_modules/electron/') || f.startsWith('node_modules/typescript/')), 'no dev dependencies');
    const vmImage = path.join(root, 'vm', 'out', process.arch === 'arm64' ? 'aarch64' : 'x86_64', 'manifest.json');
    if (existsSync(vmImage)) assert.ok(existsSync(path.join(app, 'resources', 'vm', process.arch === 'arm64' ? 'aarch64' : 'x86_64', 'manifest.json')), 'the VM image is bundled');

    // The packaged engine, run as berthd.service runs it: <app>/resources/linux/berthd, which runs
    // <app>/berth-desktop as Node on resources/app.asar. Node reads no asar, so the archive is
    // unpacked to a directory of that name, and Node stands in for the Electron binary.
    const pkg = path.join(dir, 'Berth Desktop');
    mkdirSync(path.join(pkg, 'resources', 'linux'), { recursive: true });
    symlinkSync(process.execPath, path.join(pkg, config['linux'].executableName));
    asar.extractAll(archive, path.join(pkg, 'resources', 'app.asar'));
    copyFileSync(launcher, path.join(pkg, 'resources', 'linux', 'berthd'));
    chmodSync(path.join(pkg, 'resources', 'linux', 'berthd'), 0o755);
    const version = await run(path.join(pkg, 'resources', 'linux', 'berthd'), ['--version'], { timeoutMs: 60_000 });
    assert.equal(version.code, 0, version.stderr.toString());
    assert.match(version.stdout.toString(), /^Berth engine version /);
    if (process.getuid?.() === 0) {
      const sock = path.join(dir, 'exec', 'docker.sock');
      const daemon = spawnTracked(
        path.join(pkg, 'resources', 'linux', 'berthd'),
        ['-H', `unix://${sock}`, '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'berthd.pid')],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let log = '';
      daemon.stderr?.on('data', (d: Buffer) => (log += d.toString()));
      try {
        const up = await waitUntil(async () => existsSync(sock) && (await unixRequest(sock, 'GET', '/_ping', undefined, {}, 2000).catch(() => undefined))?.status === 200, 60_000);
        assert.ok(up, `the packaged engine answers; log:\n${tailText(log)}`);
        const info = await unixRequest(sock, 'GET', '/version');
        assert.equal(info.status, 200);
      } finally {
        assert.equal(await stopChild(daemon, 'SIGTERM', 20_000), 0, tailText(log));
      }
    }
  } finally {
    await removeDir(dir);
  }
});

test("berthd.service: systemd's parser accepts it, and it points at the launcher the package installs", { skip, timeout: 60_000 }, async () => {
  const unit = readFileSync(path.join(root, 'build', 'linux', 'berthd.service'), 'utf8');
  const installDir = `/opt/${config['productName']}`;
  assert.ok(unit.includes(`ExecStart="${installDir}/resources/linux/berthd" $BERTHD_OPTS`), 'electron-builder installs the deb under /opt/<productName>');
  assert.ok(config['linux'].extraResources.some((e: { from: string; to: string }) => e.from === 'build/linux/berthd' && e.to === 'linux/berthd'));
  assert.ok(config['deb'].fpm.includes('build/linux/berthd.service=/lib/systemd/system/berthd.service'));
  assert.match(readFileSync(path.join(root, 'build', 'linux', 'berthd'), 'utf8'), new RegExp(`exec "\\$app/${config['linux'].executableName}"`), 'the launcher runs the binary by its packaged name');
  assert.match(unit, /^KillMode=process$/m, 'stopping the engine leaves containers running');

  const dir = await makeTempDir('berth-unit-');
  try {
    const fakeInstall = path.join(dir, config['productName'] as string);
    mkdirSync(path.join(fakeInstall, 'resources', 'linux'), { recursive: true });
    copyFileSync(path.join(root, 'build', 'linux', 'berthd'), path.join(fakeInstall, 'resources', 'linux', 'berthd'));
    chmodSync(path.join(fakeInstall, 'resources', 'linux', 'berthd'), 0o755);
    const file = path.join(dir, 'berthd.service');
    writeFileSync(file, unit.replaceAll(installDir, fakeInstall));
    const r = await run('systemd-analyze', ['verify', file], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr.toString() + r.stdout.toString());
    // And it does catch a broken unit.
    writeFileSync(file, unit.replaceAll(installDir, path.join(dir, 'elsewhere')));
    assert.notEqual((await run('systemd-analyze', ['verify', file], { timeoutMs: 30_000 })).code, 0);
  } finally {
    await removeDir(dir);
  }
});

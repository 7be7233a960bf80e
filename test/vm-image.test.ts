// The VM image's build helpers (vm/lib), without building an image: the berthd bundle must hold
// everything berthd loads and nothing of the desktop app, and the initramfs archive must be a
// valid, reproducible newc cpio. Booting the image is verified by hand (vm/README.md): under
// emulation it takes minutes, too long for this suite.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const repo = new URL('../..', import.meta.url).pathname;
const tmp = await mkdtemp(join(tmpdir(), 'berth-vmimg-'));
after(() => rm(tmp, { recursive: true, force: true }));

function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): Buffer {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr?.toString()}`);
  return r.stdout;
}

describe('vm/lib/bundle.mjs', () => {
  const out = join(tmp, 'bundle');

  it('stages bin/berthd, the esbuild bundle and the packages it leaves external, for linux/x64 only', async () => {
    run(process.execPath, [join(repo, 'vm/lib/bundle.mjs'), repo, 'x86_64', out]);
    for (const f of ['bin/berthd', 'package.json', 'dist/berthd/daemon/cli.js']) assert.ok(existsSync(join(out, f)), f);
    const packages = await readdir(join(out, 'node_modules'));
    assert.deepEqual(packages.sort(), ['node-unix-socket', 'node-unix-socket-linux-x64-gnu'], 'everything else is inside the bundle');
    assert.ok(!existsSync(join(out, 'dist/engine')) && !existsSync(join(out, 'dist/desktop')) && !existsSync(join(out, 'dist/cli')));
  });

  it('is complete: the bundled daemon runs, its lazily loaded chunks resolve, the native addon loads', () => {
    // Run from the bundle with no node_modules above it, so nothing resolves from the checkout.
    assert.match(run(join(out, 'bin/berthd'), ['--version'], { cwd: out }).toString(), /^Berth engine version \d+\.\d+\.\d+\n$/);
    const script = [
      "import fs from 'node:fs';",
      "for (const f of fs.readdirSync('./dist/berthd/daemon')) if (f !== 'cli.js') await import(`./dist/berthd/daemon/${f}`);",
      "const a = await import('node-unix-socket');",
      "if (typeof a.SeqpacketSocket !== 'function') throw new Error('no addon');",
    ].join('\n');
    run(process.execPath, ['--input-type=module', '-e', script], { cwd: out });
  });

  it('for arm64: no node-unix-socket binary (npm has none), so attach uses the perl bridge', async () => {
    const arm = join(tmp, 'bundle-arm64');
    const log = run(process.execPath, [join(repo, 'vm/lib/bundle.mjs'), repo, 'aarch64', arm]).toString();
    assert.match(log, /not published for aarch64: node-unix-socket-linux-arm64-gnu/);
    assert.deepEqual((await readdir(join(arm, 'node_modules'))).sort(), ['node-unix-socket']);
  });
});

describe('vm/lib/cpio.mjs', () => {
  it('writes an archive that cpio unpacks to the same tree, identically on every run', async () => {
    const src = join(tmp, 'cpio-src');
    await mkdir(join(src, 'dev'), { recursive: true });
    await mkdir(join(src, 'lib/modules'), { recursive: true });
    await writeFile(join(src, 'init'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    await writeFile(join(src, 'lib/modules/load'), 'a.ko\n');
    await writeFile(join(src, 'odd'), 'abc'); // a length that needs padding
    await symlink('init', join(src, 'linuxrc'));

    const archive = run(process.execPath, [join(repo, 'vm/lib/cpio.mjs'), src, '1735689600']);
    assert.deepEqual(run(process.execPath, [join(repo, 'vm/lib/cpio.mjs'), src, '1735689600']), archive);

    const dst = join(tmp, 'cpio-dst');
    await mkdir(dst);
    const list = run('busybox', ['cpio', '-t'], { input: archive }).toString().trim().split('\n');
    assert.deepEqual(list.sort(), ['dev', 'dev/console', 'init', 'lib', 'lib/modules', 'lib/modules/load', 'linuxrc', 'odd']);
    // Extract everything but the device node (mknod is beside the point here).
    run('busybox', ['cpio', '-i', '-d', 'init', 'odd', 'linuxrc', 'lib/modules/load'], { cwd: dst, input: archive });
    assert.equal(await readFile(join(dst, 'init'), 'utf8'), '#!/bin/sh\necho hi\n');
    assert.equal(await readFile(join(dst, 'odd'), 'utf8'), 'abc');
    assert.equal(await readFile(join(dst, 'lib/modules/load'), 'utf8'), 'a.ko\n');
    assert.equal(await readlink(join(dst, 'linuxrc')), 'init');
    const verbose = run('busybox', ['cpio', '-tv'], { input: archive }).toString();
    assert.match(verbose, /^crw------- 0\/0 .* dev\/console$/m);
    // The kernel opens /dev/console (char 5:1) for /init: rdevmajor/rdevminor of its newc header.
    const header = archive.indexOf('dev/console\0') - 110;
    assert.equal(archive.subarray(header, header + 6).toString(), '070701');
    assert.equal(archive.subarray(header + 78, header + 94).toString(), '0000000500000001');
  });
});

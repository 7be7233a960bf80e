#!/usr/bin/env node
/**
 * Stages the berthd bundle that goes into the guest at /opt/berth:
 *   bin/berthd, package.json (it carries "type": "module" and the version), berthd bundled by
 *   build/bundle-berthd.mjs into dist/berthd/daemon/ (what bin/berthd runs when there is no
 *   dist/.tsbuildinfo next to it), and the production node_modules the bundle leaves external
 *   (the native addon node-unix-socket), for one target architecture.
 *
 * Every bare import left in the bundle must be a node: builtin or a dependency in package.json;
 * the package closure comes from package-lock.json, with platform packages (node-unix-socket's
 * prebuilt addons) kept only for linux/<arch>/glibc, and skipped where npm never published one.
 * A package is copied from the local node_modules when the installed version is the locked one,
 * else fetched with `npm pack` and checked against the lock's integrity hash.
 *
 * usage: node vm/lib/bundle.mjs <repo> <arch: x86_64|aarch64> <outdir>
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { builtinModules } from 'node:module';

const [repo, arch, out] = process.argv.slice(2);
if (!repo || !out || (arch !== 'x86_64' && arch !== 'aarch64')) {
  console.error('usage: bundle.mjs <repo> <x86_64|aarch64> <outdir>');
  process.exit(2);
}
const npmCpu = arch === 'x86_64' ? 'x64' : 'arm64';
const BUNDLE_DIR = 'dist/berthd/daemon';

const builtins = new Set(builtinModules);
const isBuiltin = (s) => s.startsWith('node:') || builtins.has(s.split('/')[0]);
/** The package a bare specifier names: "undici", "@scope/name" (subpaths dropped). */
const packageOf = (s) => s.split('/').slice(0, s.startsWith('@') ? 2 : 1).join('/');

/** The bare packages the bundle still imports (its externals), from esbuild's metafile. */
function bundleImports(metafile) {
  const meta = JSON.parse(fs.readFileSync(metafile, 'utf8'));
  const packages = new Set();
  for (const o of Object.values(meta.outputs)) {
    for (const i of o.imports) if (i.external && !isBuiltin(i.path)) packages.add(packageOf(i.path));
  }
  return [...packages].sort();
}

/** A lock entry fits the guest when its os/cpu/libc lists (if any) allow linux/<arch>/glibc. */
function fitsGuest(entry) {
  const ok = (list, v) => !list || list.includes(v) || (list.every((x) => x.startsWith('!')) && !list.includes(`!${v}`));
  return ok(entry.os, 'linux') && ok(entry.cpu, npmCpu) && ok(entry.libc, 'glibc');
}

const unpublished = new Set();
function packageClosure(roots, lock, pkg) {
  const declared = { ...pkg.dependencies };
  const keys = new Set();
  const todo = roots.map((name) => {
    if (!declared[name]) throw new Error(`bundle: the engine imports ${name}, which is not in package.json dependencies`);
    return `node_modules/${name}`;
  });
  while (todo.length > 0) {
    const key = todo.pop();
    if (keys.has(key)) continue;
    const entry = lock.packages[key];
    if (!entry) throw new Error(`bundle: ${key} is not in package-lock.json`);
    if (entry.dev) throw new Error(`bundle: ${key} is a dev dependency`);
    keys.add(key);
    const optional = new Set(Object.keys(entry.optionalDependencies ?? {}));
    const peerOptional = new Set(Object.entries(entry.peerDependenciesMeta ?? {}).filter(([, m]) => m.optional).map(([n]) => n));
    const deps = [...Object.keys(entry.dependencies ?? {}), ...optional, ...Object.keys(entry.peerDependencies ?? {})];
    for (const dep of deps) {
      if (peerOptional.has(dep)) continue;
      const depKey = `node_modules/${dep}`;
      const depEntry = lock.packages[depKey];
      if (optional.has(dep) && (!depEntry || !fitsGuest(depEntry))) continue;
      // A platform package npm never resolved (no integrity in the lock) is not published for this
      // target: node-unix-socket has no linux-arm64 build on the registry. The engine then uses its
      // fallback (engine/runtime/monitor/seqpacket-bridge.ts).
      if (optional.has(dep) && !depEntry.integrity) {
        unpublished.add(dep);
        continue;
      }
      todo.push(depKey);
    }
  }
  return [...keys].sort();
}

// Types, sources and docs are dead weight at run time. `prebuilds/` holds native addons for the
// Bare runtime (bare-fs & co., which some packages pull in; Node never loads them); Node addons
// we need (node-unix-socket-linux-*) sit at their package root.
const SKIP_FILE = /(\.d\.ts|\.d\.mts|\.d\.cts|\.map|\.md|\.markdown|\.ts|\.c|\.h|^CMakeLists\.txt)$/i;
const SKIP_DIR = new Set(['node_modules', 'prebuilds']);
const KEEP_FILE = /^licen[sc]e|^copying|^notice/i;
function copyPackageTree(src, dst) {
  fs.mkdirSync(dst, { recursive: true });
  for (const ent of fs.readdirSync(src, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (ent.isDirectory() && SKIP_DIR.has(ent.name)) continue;
    const s = path.join(src, ent.name);
    const d = path.join(dst, ent.name);
    if (ent.isDirectory()) copyPackageTree(s, d);
    else if (ent.isFile() && (KEEP_FILE.test(ent.name) || !SKIP_FILE.test(ent.name))) fs.copyFileSync(s, d);
  }
}

function fetchPackage(key, entry, dst) {
  const name = key.slice('node_modules/'.length);
  const tmp = fs.mkdtempSync(path.join(out, '.pack-'));
  const tgz = execFileSync('npm', ['pack', '--silent', `${name}@${entry.version}`, '--pack-destination', tmp], { encoding: 'utf8' }).trim().split('\n').pop();
  const data = fs.readFileSync(path.join(tmp, tgz));
  const [algo, want] = entry.integrity.split('-');
  const got = createHash(algo).update(data).digest('base64');
  if (got !== want) throw new Error(`bundle: ${name}@${entry.version} integrity mismatch`);
  fs.mkdirSync(path.join(tmp, 'x'));
  execFileSync('tar', ['-xzf', path.join(tmp, tgz), '-C', path.join(tmp, 'x')]);
  copyPackageTree(path.join(tmp, 'x', 'package'), dst);
  fs.rmSync(tmp, { recursive: true, force: true });
}

const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));
const lock = JSON.parse(fs.readFileSync(path.join(repo, 'package-lock.json'), 'utf8'));

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
for (const rel of ['bin/berthd', 'package.json']) {
  fs.mkdirSync(path.dirname(path.join(out, rel)), { recursive: true });
  fs.copyFileSync(path.join(repo, rel), path.join(out, rel));
}
fs.chmodSync(path.join(out, 'bin/berthd'), 0o755);
const metafile = path.join(path.dirname(out), `.${path.basename(out)}-meta.json`);
execFileSync(process.execPath, [path.join(repo, 'build', 'bundle-berthd.mjs'), repo, path.join(out, BUNDLE_DIR), metafile], { stdio: ['ignore', 'ignore', 'inherit'] });
const files = fs.readdirSync(path.join(out, BUNDLE_DIR));
const packages = bundleImports(metafile);
fs.rmSync(metafile, { force: true });

const closure = packageClosure(packages, lock, pkg);
const fetched = [];
for (const key of closure) {
  const entry = lock.packages[key];
  const local = path.join(repo, key);
  const localPkg = path.join(local, 'package.json');
  const localVersion = fs.existsSync(localPkg) ? JSON.parse(fs.readFileSync(localPkg, 'utf8')).version : undefined;
  if (localVersion === entry.version) copyPackageTree(local, path.join(out, key));
  else {
    fetchPackage(key, entry, path.join(out, key));
    fetched.push(key);
  }
}
console.log(`bundle: ${BUNDLE_DIR}: ${files.length} files; packages: ${closure.map((k) => k.slice(13)).join(' ')}${fetched.length ? `; fetched: ${fetched.join(' ')}` : ''}${unpublished.size ? `; not published for ${arch}: ${[...unpublished].join(' ')}` : ''}`);

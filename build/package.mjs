// `npm run package`: builds Berth Desktop's packages for this OS with electron-builder
// (build/electron-builder.yml): AppImage and deb on Linux, dmg on macOS, an NSIS installer on
// Windows, into dist/packages/. It packs the Electron binary already in node_modules/electron/dist
// (electronDist), so it needs that binary (`npm run desktop:install` fetches it) and stops with a
// clear message where it is missing. macOS and Windows packages bundle the Berth VM image, which
// only Linux can build (sudo bash vm/build.sh [--arch aarch64]): it must be in vm/out/<arch>.
//
//   node build/package.mjs [--dry-run]    --dry-run checks and prints the steps without running them
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const pkgDir = join(root, 'node_modules', 'electron');
const dryRun = process.argv.includes('--dry-run');
const env = process.env;

function fail(message) {
  console.error(`npm run package: ${message}`);
  process.exit(1);
}

/** The Electron distribution directory (the binary's folder) and the binary, as `berth desktop` finds them. */
function electronDist() {
  const pathFile = join(pkgDir, 'path.txt');
  const relative = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : undefined;
  const dist = env.ELECTRON_OVERRIDE_DIST_PATH || join(pkgDir, 'dist');
  const binary = join(dist, relative || 'electron');
  return existsSync(binary) ? { dist, binary } : undefined;
}

const TARGETS = { linux: '--linux', darwin: '--mac', win32: '--win' };
const ARCHS = { x64: '--x64', arm64: '--arm64' };
const target = TARGETS[process.platform];
const arch = ARCHS[process.arch];
if (!target || !arch) fail(`Berth Desktop is packaged on Linux, macOS and Windows (x64, arm64); this is ${process.platform}/${process.arch}.`);

const electron = electronDist();
if (!electron) {
  fail(
    "Electron's binary is not installed here (npm ci skips it; setup fetches it where it can), and the packages are built from it.\n" +
      '  Fetch it with:  npm run desktop:install\n' +
      '  then run:       npm run package',
  );
}

// The guest image the macOS and Windows packages bundle (vm/host/image.ts looks in resources/vm/<arch>).
const guestArch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
const image = join(root, 'vm', 'out', guestArch, 'manifest.json');
if (process.platform !== 'linux' && !existsSync(image)) {
  fail(
    `the Berth VM image (vm/out/${guestArch}) is missing; the ${process.platform === 'darwin' ? 'dmg' : 'installer'} bundles it.\n` +
      `  Build it on a Linux machine (sudo bash vm/build.sh${guestArch === 'aarch64' ? ' --arch aarch64' : ''}) and copy vm/out/${guestArch} here.`,
  );
}

const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
const steps = [
  ['npx', ['tsc', '-b']],
  ['npx', ['vite', 'build', '--config', 'renderer/vite.config.ts']],
  [
    'npx',
    ['electron-builder', '--config', 'build/electron-builder.yml', target, arch, '--publish', 'never', `-c.electronDist=${electron.dist}`, `-c.electronVersion=${version}`],
  ],
];
for (const [cmd, args] of steps) {
  console.log(`npm run package: ${cmd} ${args.join(' ')}`);
  if (dryRun) continue;
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) fail(`${cmd} ${args[0]} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
}
if (!dryRun) console.log(`npm run package: done; the packages are in ${join(root, 'dist', 'packages')}`);

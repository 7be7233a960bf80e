// Fetches Electron's binary, so Berth Desktop opens as a native app instead of in web mode.
//
//   node build/desktop-install.mjs --setup   what build/setup.sh runs: never in CI (CI set), a short
//                                            reachability probe first so an offline machine is not
//                                            kept waiting, the download bounded in time, and on any
//                                            failure one line saying web mode is used and how to get
//                                            the app later. Always exits 0: setup goes on.
//   node build/desktop-install.mjs           `npm run desktop:install`: the user asked, so no probe
//                                            and no time limit; exits non-zero when it fails.
//
// The download itself is Electron's own install script (node_modules/electron/install.js, which
// npm ci skipped under ELECTRON_SKIP_BINARY_DOWNLOAD): the same mirror variables (ELECTRON_MIRROR,
// electron_config_cache) and the same checksums. Behind a proxy (HTTPS_PROXY) it goes through it.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const pkgDir = join(root, 'node_modules', 'electron');
const setup = process.argv.includes('--setup');
const env = process.env;
const PROBE_MS = 5000;
const DOWNLOAD_S = Number(env.BERTH_ELECTRON_TIMEOUT) > 0 ? Number(env.BERTH_ELECTRON_TIMEOUT) : 300;
const LATER = 'npm run desktop:install';
const DEFAULT_MIRROR = 'https://github.com/electron/electron/releases/download/';

const say = (line) => console.log(setup ? `berth setup: ${line}` : line);
const fallback = (why) => say(`no Electron app (${why}): Berth Desktop will open in web mode. To get the app later: ${LATER}`);

/** Electron's binary, looked up as the electron package's index.js and `berth desktop` do. */
function installedBinary() {
  const pathFile = join(pkgDir, 'path.txt');
  const relative = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : undefined;
  const override = env.ELECTRON_OVERRIDE_DIST_PATH;
  const binary = override ? join(override, relative || 'electron') : relative ? join(pkgDir, 'dist', relative) : undefined;
  return binary && existsSync(binary) ? binary : undefined;
}

/**
 * Chromium's sandbox needs user namespaces, or else its setuid helper (chrome-sandbox, root-owned,
 * mode 4755), which npm cannot set up. Where some distributions restrict unprivileged user namespaces
 * (Ubuntu 24.04's AppArmor), the app would not start without it. Setup runs as root, so it does
 * what the deb's install script does. Returns a problem to report, if any.
 */
function setUpSandboxHelper(binary) {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  const helper = join(dirname(binary), 'chrome-sandbox');
  if (!existsSync(helper)) return undefined;
  try {
    chownSync(helper, 0, 0);
    chmodSync(helper, 0o4755);
    return undefined;
  } catch (err) {
    return `could not make ${helper} setuid root (${err.message}); where user namespaces are restricted the app will not start`;
  }
}

/** The mirror @electron/get will download from (its own order of settings, the common ones). */
function mirror() {
  return (
    env.npm_config_electron_mirror || env.NPM_CONFIG_ELECTRON_MIRROR || env.npm_package_config_electron_mirror || env.ELECTRON_MIRROR || DEFAULT_MIRROR
  );
}

const proxied = () => Boolean(env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy);

/**
 * Undefined when the mirror answers anything at all within PROBE_MS, else why not. node:http, not
 * fetch: fetch refuses some ports outright (9 among them), and the download does not.
 */
function probe(url) {
  return new Promise((resolve) => {
    let target;
    try {
      target = new URL(url);
    } catch {
      return resolve(`${url} is not a URL`);
    }
    const get = target.protocol === 'http:' ? httpRequest : httpsRequest;
    const req = get(target, { method: 'HEAD', timeout: PROBE_MS }, (res) => {
      res.resume();
      resolve(undefined);
    });
    req.once('timeout', () => {
      req.destroy();
      resolve(`${target.host} did not answer within ${PROBE_MS / 1000} s`);
    });
    req.once('error', (err) => resolve(`${target.host}: ${err.code === 'ECONNREFUSED' ? 'connection refused' : (err.code ?? err.message)}`));
    req.end();
  });
}

/** Runs install.js; resolves to undefined on success, else the first line of what went wrong. */
function runInstall(limitS) {
  const childEnv = { ...env };
  delete childEnv.ELECTRON_SKIP_BINARY_DOWNLOAD;
  if (proxied() && !childEnv.ELECTRON_GET_USE_PROXY) childEnv.ELECTRON_GET_USE_PROXY = '1';
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(pkgDir, 'install.js')], {
      cwd: pkgDir,
      env: childEnv,
      stdio: setup ? ['ignore', 'ignore', 'pipe'] : 'inherit',
    });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr = (stderr + d.toString()).slice(-8000)));
    const started = Date.now();
    const heartbeat = setup ? setInterval(() => say(`still fetching Electron's binary (${Math.round((Date.now() - started) / 1000)} s)`), 15_000) : undefined;
    let timedOut = false;
    const timer = limitS
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 3000).unref();
        }, limitS * 1000)
      : undefined;
    const finish = (why) => {
      clearInterval(heartbeat);
      clearTimeout(timer);
      resolve(why);
    };
    child.once('error', (err) => finish(err.message));
    child.once('exit', (code, signal) => {
      if (timedOut) return finish(`the download took longer than ${limitS} s`);
      if (code === 0) return finish(installedBinary() ? undefined : 'the install script finished but no binary is in place');
      const firstLine = stderr.split('\n').find((l) => l.trim() !== '')?.trim();
      finish(firstLine ?? `the install script failed (${signal ?? `code ${code}`})`);
    });
  });
}

async function main() {
  if (!existsSync(join(pkgDir, 'install.js'))) {
    if (setup) return fallback('the electron package is not installed');
    console.error('The electron package is not installed here: run npm ci first.');
    return 1;
  }
  const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
  const present = installedBinary();
  if (present) {
    const problem = setUpSandboxHelper(present);
    if (problem) say(`note: ${problem}`);
    if (!setup) say(`Electron ${version} is already installed (${present}).`);
    return 0;
  }
  if (setup) {
    if (env.CI) return fallback('CI is set, so nothing is downloaded');
    if (env.ELECTRON_SKIP_BINARY_DOWNLOAD) return fallback('ELECTRON_SKIP_BINARY_DOWNLOAD is set');
    // A proxy would not be used by this direct probe; there the bounded download decides alone.
    if (!proxied()) {
      const unreachable = await probe(mirror());
      if (unreachable) return fallback(`cannot reach the download: ${unreachable}`);
    }
    say(`fetching Electron ${version} for Berth Desktop's app (about 100 MB, at most ${DOWNLOAD_S} s)`);
  } else {
    say(`Fetching Electron ${version} from ${mirror()}`);
  }
  const failed = await runInstall(setup ? DOWNLOAD_S : undefined);
  if (failed) {
    if (setup) return fallback(failed);
    console.error(`Could not fetch Electron's binary: ${failed}`);
    console.error('Behind a proxy, set HTTPS_PROXY; with a mirror, set ELECTRON_MIRROR. Berth Desktop keeps working in web mode (berth desktop --web).');
    return 1;
  }
  const problem = setUpSandboxHelper(installedBinary());
  if (problem) say(`note: ${problem}`);
  say(`Electron ${version} is installed: Berth Desktop opens as an app (berth desktop, or bash build/start.sh).`);
  return 0;
}

process.exitCode = await main();

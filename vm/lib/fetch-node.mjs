#!/usr/bin/env node
/**
 * Fetches the official Node.js build for the guest (vm/node.json: npm's node-linux-<cpu> package,
 * which carries nodejs.org's binary unchanged) with `npm pack`, keeps it in a download cache and
 * checks it against the pinned integrity hash every time. Prints the tarball's path.
 *
 * usage: node vm/lib/fetch-node.mjs <vm/node.json> <x86_64|aarch64> <cache dir>
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const [pinFile, arch, cacheDir] = process.argv.slice(2);
if (!pinFile || !cacheDir || (arch !== 'x86_64' && arch !== 'aarch64')) {
  console.error('usage: fetch-node.mjs <node.json> <x86_64|aarch64> <cache dir>');
  process.exit(2);
}
const pin = JSON.parse(fs.readFileSync(pinFile, 'utf8'));
const pkg = pin.packages[arch];
const file = path.join(cacheDir, `${pkg.name}-${pin.version}.tgz`);

function verified(f) {
  if (!fs.existsSync(f)) return false;
  const [algo, want] = pkg.integrity.split('-');
  return createHash(algo).update(fs.readFileSync(f)).digest('base64') === want;
}

if (!verified(file)) {
  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(cacheDir, '.pack-'));
  try {
    const name = execFileSync('npm', ['pack', '--silent', `${pkg.name}@${pin.version}`, '--pack-destination', tmp], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
      .trim()
      .split('\n')
      .pop();
    const got = path.join(tmp, name);
    if (!verified(got)) throw new Error(`${pkg.name}@${pin.version} does not match the integrity pinned in ${pinFile}`);
    fs.renameSync(got, file);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
console.log(file);

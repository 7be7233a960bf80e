#!/usr/bin/env node
/**
 * Bundles berthd (dist/engine/daemon/cli.js, compiled by `tsc -b`) with esbuild into
 * dist/berthd/daemon/: one start-up file plus chunks for what loads on first use (the registry
 * client with undici, image archives: the engine's dynamic imports). bin/berthd runs it when it is
 * newer than tsc's last build, else the unbundled dist/ (so a forgotten bundle step never runs
 * stale code).
 *
 * Why: Node resolves, reads and compiles ~120 ES modules one by one at start; one file cuts the
 * start to the first /_ping and the memory the module records hold, and under the VM's emulated
 * CPU (TCG) the difference is seconds.
 *
 * - The directory depth matches dist/engine/daemon/ on purpose: engine.ts finds package.json at
 *   '../../../package.json' from its own URL.
 * - node-unix-socket stays external (a native addon, resolved from node_modules at run time).
 * - CommonJS packages (undici, tar-stream) call require() for builtins; the banner gives the ES
 *   module bundle a real one.
 * - Whitespace and syntax are minified, names are kept: stack traces stay readable.
 *
 * usage: node build/bundle-berthd.mjs [repo] [outdir] [metafile]
 *   (default: this checkout, dist/berthd/daemon; metafile: esbuild's description of the inputs and
 *   outputs, which vm/lib/bundle.mjs reads for the packages left external)
 */
import { build } from 'esbuild';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const outdir = path.resolve(process.argv[3] ?? path.join(repo, 'dist', 'berthd', 'daemon'));
const metafile = process.argv[4];
const entry = path.join(repo, 'dist', 'engine', 'daemon', 'cli.js');

await fsp.access(entry).catch(() => {
  console.error(`bundle-berthd: ${entry} is missing: run npx tsc -b first`);
  process.exit(1);
});
// Built beside, then swapped in: bin/berthd never sees half a bundle.
const tmp = `${outdir}.tmp-${process.pid}`;
await fsp.rm(tmp, { recursive: true, force: true });
const result = await build({
  entryPoints: [entry],
  outdir: tmp,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['node-unix-socket'],
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  metafile: true,
});
await fsp.rm(outdir, { recursive: true, force: true });
await fsp.mkdir(path.dirname(outdir), { recursive: true });
await fsp.rename(tmp, outdir);
if (metafile) await fsp.writeFile(metafile, JSON.stringify(result.metafile));
const outputs = Object.entries(result.metafile.outputs);
const bytes = outputs.reduce((n, [, o]) => n + o.bytes, 0);
console.log(`bundle-berthd: ${path.relative(repo, outdir)}: ${outputs.length} files, ${(bytes / 1024).toFixed(0)} KiB`);

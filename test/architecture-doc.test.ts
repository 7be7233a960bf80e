// docs/ARCHITECTURE.md says it is kept true with the code. This holds it to the parts a reader
// relies on most: every top-level folder of the repository and every engine subsystem is
// described, every backend interface the API layer declares is named, and every file or folder
// the engine keeps directly under its data root is in the on-disk layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOC = readFileSync(path.join(ROOT, 'docs', 'ARCHITECTURE.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

/** The repository's own top-level folders: what .gitignore leaves (and not .git itself). */
function topLevelFolders(): string[] {
  const ignored = new Set(
    readFileSync(path.join(ROOT, '.gitignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim().replace(/\/$/, ''))
      .filter((l) => l && !l.startsWith('#')),
  );
  return readdirSync(ROOT, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== '.git' && !ignored.has(e.name))
    .map((e) => e.name)
    .sort();
}

test('every top-level folder is in the repository layout', () => {
  const folders = topLevelFolders();
  assert.ok(folders.includes('engine') && folders.includes('renderer'), `read the repository: ${folders.join(' ')}`);
  const missing = folders.filter((f) => !DOC.includes(`| \`${f}/\` |`));
  assert.deepEqual(missing, [], 'each folder has its row in "Repository layout"');
});

test('every engine subsystem is described', () => {
  const subsystems = readdirSync(path.join(ROOT, 'engine'), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  assert.ok(subsystems.length >= 10, subsystems.join(' '));
  const processes = DOC.slice(DOC.indexOf('## Processes'), DOC.indexOf('\n## ', DOC.indexOf('## Processes') + 1));
  const missing = subsystems.filter((s) => !new RegExp(`^\\s+engine/${s}\\s`, 'm').test(processes));
  assert.deepEqual(missing, [], 'each engine folder has its line under "Processes"');
});

test('every backend interface of the API layer is named', () => {
  const declared = sources('engine/api').flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/^export interface (\w+Backend)\b/gm)].map((m) => m[1] as string));
  assert.ok(declared.length >= 10, `found the interfaces: ${declared.join(', ')}`);
  const missing = declared.filter((name) => !DOC.includes(`\`${name}\``));
  assert.deepEqual(missing, [], 'ARCHITECTURE.md names each backend interface');
});

test('everything the engine keeps directly under its data root is in the on-disk layout', () => {
  const start = DOC.indexOf('## On-disk layout');
  const block = DOC.slice(DOC.indexOf('```', start), DOC.indexOf('```', DOC.indexOf('```', start) + 3));
  const kept = new Set(sources('engine').flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/dataRoot, '([^']+)'/g)].map((m) => m[1] as string)));
  assert.ok(kept.has('containers') && kept.has('network'), [...kept].join(' '));
  const missing = [...kept].filter((name) => !new RegExp(`^${name.replace(/\./g, '\\.')}(/|\\s)`, 'm').test(block));
  assert.deepEqual(missing, [], 'each has its line in the layout');
});

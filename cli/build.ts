/**
 * `berth build`: sends a directory as the build context to the engine's classic builder and
 * prints its output as `docker build` does (the engine applies .dockerignore to the context).
 * Also `berth diff` and `berth export`, the other file-level views of a container.
 */
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { followProgress } from '../client/index.js';
import { packPath } from './archive.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';

/** KEY=value flags as a map; a bare `--build-arg NAME` takes NAME's value from the environment, as docker does. */
function keyValues(list: string[], what: 'build-arg' | 'label'): Record<string, string> | undefined {
  if (list.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
    else if (what === 'build-arg' && kv !== '' && eq < 0) {
      const v = process.env[kv];
      if (v !== undefined) out[kv] = v;
    } else throw new UsageError(`invalid ${what} "${kv}": expected key=value`);
  }
  return out;
}

export const buildCommand: Command = {
  name: 'build',
  usage: '[OPTIONS] PATH',
  description: 'Build an image from a Dockerfile',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'tag', short: 't', type: 'list', valueName: 'list', description: 'Name and optionally a tag in the "name:tag" format' },
    { name: 'file', short: 'f', type: 'string', description: "Name of the Dockerfile (default: 'PATH/Dockerfile')" },
    { name: 'build-arg', type: 'list', valueName: 'list', description: 'Set build-time variables' },
    { name: 'label', type: 'list', valueName: 'list', description: 'Set metadata for an image' },
    { name: 'target', type: 'string', description: 'Set the target build stage to build' },
    { name: 'no-cache', type: 'bool', description: 'Do not use cache when building the image' },
    { name: 'pull', type: 'bool', description: 'Always attempt to pull a newer version of the image' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the build output and print image ID on success' },
    { name: 'force-rm', type: 'bool', description: 'Always remove intermediate containers' },
    { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  ],
  async run(ctx, a) {
    const dir = path.resolve(a.args[0] as string);
    const st = await stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new UsageError(`unable to prepare context: path "${a.args[0]}" not found or not a directory`);
    let dockerfile = a.string('file');
    if (dockerfile) {
      // A Dockerfile given by path is sent relative to the context (it must be inside it).
      const abs = path.resolve(dockerfile);
      const rel = path.relative(dir, abs);
      if (rel.startsWith('..') || path.isAbsolute(rel)) throw new UsageError(`the Dockerfile (${dockerfile}) must be within the build context (${dir})`);
      dockerfile = rel.split(path.sep).join('/');
    }
    const quiet = a.bool('quiet');
    const buildArgs = keyValues(a.list('build-arg'), 'build-arg');
    const labels = keyValues(a.list('label'), 'label');
    const context = Readable.from(packPath(dir, { rootName: '', contentsOnly: true }));
    let id = '';
    await followProgress(
      ctx.client.buildImage(context, {
        tags: a.list('tag'),
        ...(dockerfile ? { dockerfile } : {}),
        ...(buildArgs ? { buildArgs } : {}),
        ...(labels ? { labels } : {}),
        ...(a.string('target') ? { target: a.string('target') as string } : {}),
        ...(a.string('platform') ? { platform: a.string('platform') as string } : {}),
        noCache: a.bool('no-cache'),
        pull: a.bool('pull'),
        quiet,
        forceRm: a.bool('force-rm'),
      }),
      (m) => {
        const aux = m.aux as { ID?: string } | undefined;
        if (aux?.ID) id = aux.ID;
        if (!quiet && typeof m.stream === 'string') ctx.out(m.stream);
      },
    );
    if (quiet && id) ctx.out(`${id}\n`);
    return 0;
  },
};

const KIND = ['C', 'A', 'D'];

export const diffCommand: Command = {
  name: 'diff',
  usage: 'CONTAINER',
  description: "Inspect changes to files or directories on a container's filesystem",
  minArgs: 1,
  maxArgs: 1,
  flags: [],
  async run(ctx, a) {
    for (const c of (await ctx.client.containers.changes(a.args[0] as string)) ?? []) ctx.out(`${KIND[c.Kind] ?? '?'} ${c.Path}\n`);
    return 0;
  },
};

export const exportCommand: Command = {
  name: 'export',
  usage: '[OPTIONS] CONTAINER',
  description: "Export a container's filesystem as a tar archive",
  minArgs: 1,
  maxArgs: 1,
  flags: [{ name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' }],
  async run(ctx, a) {
    const out = a.string('output');
    if (!out && ctx.io.stdout.isTTY) throw new UsageError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const tar = await ctx.client.containers.export(a.args[0] as string);
    if (out) await pipeline(tar, createWriteStream(out));
    else await pipeline(tar, ctx.io.stdout, { end: false });
    return 0;
  },
};

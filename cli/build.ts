/**
 * `berth build`: sends a directory as the build context to the engine's classic builder and
 * prints its output as `docker build` does (the engine applies .dockerignore to the context).
 * `--secret id=ID,src=FILE` (or `env=VAR`) hands a build secret to `RUN --mount=type=secret`
 * through Berth's X-Berth-Build-Secrets header: the docker CLI has no way to send one over the
 * classic API. `berth builder prune` reclaims the build cache. Also `berth diff` and
 * `berth export`, the other file-level views of a container.
 */
import { createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { followProgress } from '../client/index.js';
import { packPath } from './archive.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { parseFilters, readLine } from './command.js';
import { humanSize } from './format.js';

/** What the engine takes in one build (its header limit is 1 MiB; values travel base64-encoded twice). */
const MAX_SECRETS_BYTES = 512 * 1024;

/** `--secret id=ID[,src=FILE|,env=VAR]`: a file, an environment variable, or (neither) the variable named ID. */
export async function readSecrets(specs: string[], env: NodeJS.ProcessEnv): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  let total = 0;
  for (const spec of specs) {
    const fields = new Map<string, string>();
    for (const part of spec.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new UsageError(`invalid secret "${spec}": expected id=ID,src=FILE or id=ID,env=VAR`);
      const key = part.slice(0, eq).trim().toLowerCase();
      fields.set(key === 'source' ? 'src' : key, part.slice(eq + 1));
    }
    for (const k of fields.keys()) if (!['id', 'src', 'env', 'type'].includes(k)) throw new UsageError(`invalid secret "${spec}": unexpected key "${k}"`);
    const id = fields.get('id');
    if (!id || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) throw new UsageError(`invalid secret "${spec}": the id must be letters, digits, '.', '_' or '-'`);
    const type = fields.get('type');
    if (type !== undefined && type !== 'file' && type !== 'env') throw new UsageError(`invalid secret "${spec}": type must be file or env`);
    const src = fields.get('src');
    let value: Buffer;
    if (src !== undefined && type !== 'env') {
      value = await readFile(src).catch((err: NodeJS.ErrnoException) => {
        throw new UsageError(`secret ${id}: cannot read ${src}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
      });
    } else {
      // buildx's forms: env=VAR, type=env,src=VAR, or just the id naming the variable.
      const envName = fields.get('env') ?? (type === 'env' ? (src ?? id) : id);
      const v = env[envName];
      if (v === undefined) throw new UsageError(`secret ${id}: the environment variable ${envName} is not set (give a file with src=)`);
      value = Buffer.from(v);
    }
    total += value.length;
    if (total > MAX_SECRETS_BYTES) throw new UsageError(`build secrets total more than ${MAX_SECRETS_BYTES} bytes`);
    out[id] = value;
  }
  return out;
}

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
    { name: 'secret', type: 'list', valueName: 'stringArray', description: 'Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or "id=mysecret,env=VAR")' },
    { name: 'cache-from', type: 'list', valueName: 'strings', description: 'Images to consider as cache sources' },
    { name: 'network', type: 'string', description: 'Set the networking mode for the RUN instructions during build (default "default")' },
    { name: 'add-host', type: 'list', valueName: 'list', description: 'Add a custom host-to-IP mapping ("host:ip")' },
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
    const secrets = await readSecrets(a.list('secret'), process.env);
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
        ...(Object.keys(secrets).length > 0 ? { secrets } : {}),
        ...(a.list('cache-from').length > 0 ? { cacheFrom: a.list('cache-from') } : {}),
        ...(a.string('network') ? { networkMode: a.string('network') as string } : {}),
        ...(a.list('add-host').length > 0 ? { extraHosts: a.list('add-host') } : {}),
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

/** `berth builder prune`, worded as docker's. */
const builderPruneCommand: Command = {
  name: 'prune',
  usage: '[OPTIONS]',
  description: 'Remove build cache',
  maxArgs: 0,
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused build cache, not just dangling ones' },
    { name: 'filter', type: 'list', valueName: 'filter', description: "Provide filter values (e.g. 'until=24h')" },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    { name: 'keep-storage', type: 'string', valueName: 'bytes', description: 'Amount of disk space to keep for cache' },
  ],
  async run(ctx, a) {
    const keep = a.string('keep-storage');
    const keepStorage = keep ? parseBytes(keep) : 0;
    const filters = parseFilters(a.list('filter'));
    if (!a.bool('force')) {
      ctx.out(`WARNING! This will remove all ${a.bool('all') ? '' : 'dangling '}build cache. Are you sure you want to continue? [y/N] `);
      const answer = await readLine(ctx.io.stdin, ctx.io.stdout);
      if (answer === undefined) ctx.out('\n');
      if (!/^y(es)?$/i.test((answer ?? '').trim())) return 0;
    }
    const report = await ctx.client.pruneBuildCache({ all: a.bool('all'), filters, keepStorage });
    const deleted = report.CachesDeleted ?? [];
    if (deleted.length > 0) ctx.out(`Deleted build cache objects:\n${deleted.map((id) => `${id}\n`).join('')}\n`);
    ctx.out(`Total reclaimed space: ${humanSize(report.SpaceReclaimed ?? 0)}\n`);
    return 0;
  },
};

/** "512mb", "2GB", "1024": bytes, as docker's --keep-storage reads them. */
export function parseBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(v.trim());
  if (!m) throw new UsageError(`invalid size: '${v}'`);
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  return Math.floor(Number(m[1]) * (mult[(m[2] ?? '').toLowerCase()] ?? 1));
}

export const builderCommands: Command[] = [builderPruneCommand];

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

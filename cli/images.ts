/**
 * Image verbs: pull, push, images/image ls, rmi, tag, save, load, image inspect,
 * image prune, image history.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import {
  EngineError,
  familiarName,
  familiarString,
  followProgress,
  fullName,
  normalizedString,
  parseReference,
  tryParseReference,
  withDefaultTag,
} from '../client/index.js';
import type { HistoryItem, ImageSummary } from '../types/engine-api.js';
import type { Command } from './command.js';
import { copyStream, parseFilters, readLine } from './command.js';
import { describeError, ellipsis, goTimeString, humanSize, printRows, rfc3339Local, shortId, timeAgo } from './format.js';
import { inspectEach } from './inspect.js';
import { ProgressRenderer } from './progress.js';

const NONE = '<none>';

// ---------------------------------------------------------------------------
// images / image ls

/** One line of `images`: an image with one repository:tag (and digest). */
export interface ImageRow {
  [field: string]: string;
  ID: string;
  Repository: string;
  Tag: string;
  Digest: string;
  CreatedSince: string;
  CreatedAt: string;
  Size: string;
  SharedSize: string;
  UniqueSize: string;
  VirtualSize: string;
  Containers: string;
}

export const IMAGE_HEADERS: Record<string, string> = {
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
  VirtualSize: 'VIRTUAL SIZE',
  Containers: 'CONTAINERS',
};

/**
 * Expand image summaries into rows the way docker does: one row per
 * repository:tag; with `digests`, one row per tag and digest of the same
 * repository; digest-only repositories get a "<none>" tag row; images with
 * neither tags nor digests get a single "<none>" row.
 */
export function imageRows(
  images: readonly ImageSummary[],
  opts: { digests?: boolean; noTrunc?: boolean; now?: number } = {},
): ImageRow[] {
  const now = opts.now ?? Date.now();
  const rows: ImageRow[] = [];
  for (const img of images) {
    const base = {
      ID: opts.noTrunc ? img.Id : shortId(img.Id),
      CreatedSince: timeAgo(img.Created, now),
      CreatedAt: img.Created > 0 ? goTimeString(new Date(img.Created * 1000)) : 'N/A',
      Size: humanSize(img.Size, 3),
      SharedSize: img.SharedSize === -1 ? 'N/A' : humanSize(img.SharedSize, 3),
      UniqueSize: img.SharedSize === -1 ? 'N/A' : humanSize(img.Size - img.SharedSize, 3),
      VirtualSize: humanSize(img.VirtualSize ?? img.Size),
      Containers: img.Containers === -1 ? 'N/A' : String(img.Containers),
    };
    const add = (Repository: string, Tag: string, Digest: string): void => {
      rows.push({ ...base, Repository, Tag, Digest });
    };
    const tags = new Map<string, string[]>();
    const digests = new Map<string, string[]>();
    for (const t of img.RepoTags ?? []) {
      const ref = tryParseReference(t);
      if (!ref || ref.tag === undefined) continue;
      const name = familiarName(ref);
      tags.set(name, [...(tags.get(name) ?? []), ref.tag]);
    }
    for (const d of img.RepoDigests ?? []) {
      const ref = tryParseReference(d);
      if (!ref || ref.digest === undefined) continue;
      const name = familiarName(ref);
      digests.set(name, [...(digests.get(name) ?? []), ref.digest]);
    }
    if (tags.size === 0 && digests.size === 0) {
      add(NONE, NONE, NONE);
      continue;
    }
    for (const [repo, repoTags] of tags) {
      const repoDigests = opts.digests ? (digests.get(repo) ?? []) : [];
      digests.delete(repo);
      for (const tag of repoTags) {
        if (repoDigests.length === 0) add(repo, tag, NONE);
        else for (const d of repoDigests) add(repo, tag, d);
      }
    }
    for (const [repo, repoDigests] of digests) {
      if (opts.digests) for (const d of repoDigests) add(repo, NONE, d);
      else add(repo, NONE, repoDigests[0] ?? NONE);
    }
  }
  return rows;
}

const imagesList: Command = {
  name: 'ls',
  aliases: ['list'],
  usage: '[OPTIONS] [REPOSITORY[:TAG]]',
  description: 'List images',
  maxArgs: 1,
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Show all images (default hides intermediate images)' },
    { name: 'digests', type: 'bool', description: 'Show digests' },
    { name: 'filter', short: 'f', type: 'list', valueName: 'filter', description: 'Filter output based on conditions provided' },
    {
      name: 'format',
      type: 'string',
      description:
        "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template",
    },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
  ],
  async run(ctx, a) {
    const filters = parseFilters(a.list('filter'));
    if (a.args[0]) (filters['reference'] ??= []).push(a.args[0]);
    const format = a.string('format');
    const showDigests = a.bool('digests') || (format !== undefined && format.includes('.Digest'));
    const images = await ctx.client.listImages({ all: a.bool('all'), filters, digests: showDigests });
    const rows = imageRows(images ?? [], { digests: a.bool('digests'), noTrunc: a.bool('no-trunc') });
    if (a.bool('quiet')) {
      for (const r of rows) ctx.out(`${r.ID}\n`);
      return 0;
    }
    const table = a.bool('digests')
      ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
      : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
    printRows(ctx, rows, format, table, IMAGE_HEADERS);
    return 0;
  },
};

/** `berth images` (top level) is `image ls`. */
export const imagesTopLevel: Command = { ...imagesList, name: 'images', aliases: [] };

// ---------------------------------------------------------------------------
// pull

export const pullCommand: Command = {
  name: 'pull',
  usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
  description: 'Download an image from a registry',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
    { name: 'disable-content-trust', type: 'bool', description: 'Skip image verification', hidden: true },
  ],
  async run(ctx, a) {
    const given = parseReference(a.args[0] as string);
    const quiet = a.bool('quiet');
    if (given.tag === undefined && given.digest === undefined && !quiet) ctx.out('Using default tag: latest\n');
    const ref = withDefaultTag(given);
    const stdout = ctx.io.stdout;
    const renderer = new ProgressRenderer({
      tty: stdout.isTTY === true,
      ...(stdout.columns ? { columns: stdout.columns } : {}),
    });
    const platform = a.string('platform');
    try {
      await followProgress(ctx.client.pullImage(familiarString(ref), platform ? { platform } : {}), (m) => {
        if (!quiet) ctx.out(renderer.push(m));
      });
    } finally {
      if (!quiet) ctx.out(renderer.finish());
    }
    ctx.out(`${normalizedString(ref)}\n`);
    return 0;
  },
};

// ---------------------------------------------------------------------------
// push

export const pushCommand: Command = {
  name: 'push',
  usage: '[OPTIONS] NAME[:TAG]',
  description: 'Upload an image to a registry',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'all-tags', short: 'a', type: 'bool', description: 'Push all tags of an image to the repository' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
    { name: 'disable-content-trust', type: 'bool', description: 'Skip image signing', hidden: true },
  ],
  async run(ctx, a) {
    const given = parseReference(a.args[0] as string);
    const quiet = a.bool('quiet');
    const all = a.bool('all-tags');
    if (given.digest !== undefined) throw new EngineError('cannot push a digest reference', 0, 'INVALID');
    if (all && given.tag !== undefined) throw new EngineError('tag can\'t be used with --all-tags/-a', 0, 'INVALID');
    if (!all && given.tag === undefined && !quiet) ctx.out('Using default tag: latest\n');
    const ref = all ? given : withDefaultTag(given);
    const stdout = ctx.io.stdout;
    const renderer = new ProgressRenderer({
      tty: stdout.isTTY === true,
      ...(stdout.columns ? { columns: stdout.columns } : {}),
    });
    try {
      await followProgress(ctx.client.pushImage(familiarString(ref)), (m) => {
        if (!quiet) ctx.out(renderer.push(m));
      });
    } finally {
      if (!quiet) ctx.out(renderer.finish());
    }
    if (quiet) ctx.out(`${normalizedString(ref)}\n`);
    return 0;
  },
};

// ---------------------------------------------------------------------------
// rmi / image rm

export const rmiCommand: Command = {
  name: 'rm',
  aliases: ['rmi', 'remove'],
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Remove one or more images',
  minArgs: 1,
  flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Force removal of the image' },
    { name: 'no-prune', type: 'bool', description: 'Do not delete untagged parents' },
  ],
  async run(ctx, a) {
    let rc = 0;
    for (const name of a.args) {
      try {
        const items = await ctx.client.removeImage(name, { force: a.bool('force'), noprune: a.bool('no-prune') });
        for (const item of items ?? []) {
          if (item.Untagged) ctx.out(`Untagged: ${item.Untagged}\n`);
          if (item.Deleted) ctx.out(`Deleted: ${item.Deleted}\n`);
        }
      } catch (err) {
        if (!(err instanceof EngineError) || err.code === 'UNREACHABLE') throw err;
        ctx.err(`${describeError(err)}\n`);
        rc = 1;
      }
    }
    return rc;
  },
};

// ---------------------------------------------------------------------------
// tag

export const tagCommand: Command = {
  name: 'tag',
  usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  minArgs: 2,
  maxArgs: 2,
  flags: [],
  async run(ctx, a) {
    const [source, target] = a.args as [string, string];
    const ref = parseReference(target);
    if (ref.digest !== undefined) throw new EngineError('refusing to create a tag with a digest reference', 0, 'INVALID');
    await ctx.client.tagImage(source, fullName(ref), ref.tag ?? 'latest');
    return 0;
  },
};

// ---------------------------------------------------------------------------
// save

export const saveCommand: Command = {
  name: 'save',
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  minArgs: 1,
  flags: [{ name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' }],
  async run(ctx, a) {
    const output = a.string('output');
    if (!output && ctx.io.stdout.isTTY) {
      throw new EngineError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 0, 'INVALID');
    }
    const tar = await ctx.client.saveImages(a.args);
    if (!output) {
      await copyStream(tar, ctx.io.stdout);
      return 0;
    }
    // Write next to the target and rename, so a failure never leaves a partial archive.
    const tmp = `${output}.berth-${process.pid}.tmp`;
    const file = createWriteStream(tmp);
    try {
      await copyStream(tar, file);
      await new Promise<void>((resolve, reject) => {
        file.once('error', reject);
        file.end(() => resolve());
      });
      await rename(tmp, output);
    } catch (err) {
      file.destroy();
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    return 0;
  },
};

// ---------------------------------------------------------------------------
// load

function openInput(path: string): Promise<Readable> {
  return new Promise((resolve, reject) => {
    const s = createReadStream(path);
    s.once('open', () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? new EngineError(`open ${path}: no such file or directory`, 0, 'INVALID') : err);
    });
  });
}

export const loadCommand: Command = {
  name: 'load',
  usage: '[OPTIONS]',
  description: 'Load an image from a tar archive or STDIN',
  maxArgs: 0,
  flags: [
    { name: 'input', short: 'i', type: 'string', description: 'Read from tar archive file, instead of STDIN' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the load output' },
  ],
  async run(ctx, a) {
    const input = a.string('input');
    if (!input && ctx.io.stdin.isTTY) {
      throw new EngineError('requested load from stdin, but stdin is empty', 0, 'INVALID');
    }
    const src = input ? await openInput(input) : ctx.io.stdin;
    const tty = ctx.io.stdout.isTTY === true;
    // Like docker: progress bars only on a terminal.
    const quiet = a.bool('quiet') || !tty;
    const renderer = new ProgressRenderer({
      tty,
      ...(ctx.io.stdout.columns ? { columns: ctx.io.stdout.columns } : {}),
    });
    await followProgress(ctx.client.loadImages(src, { quiet }), (m) => ctx.out(renderer.push(m)));
    ctx.out(renderer.finish());
    return 0;
  },
};

// ---------------------------------------------------------------------------
// image inspect

export const inspectCommand: Command = {
  name: 'inspect',
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Display detailed information on one or more images',
  minArgs: 1,
  flags: [{ name: 'format', short: 'f', type: 'string', description: "Format output using a custom template ('json' or a Go template)" }],
  async run(ctx, a) {
    return inspectEach(ctx, a, (name) => ctx.client.inspectImage(name));
  },
};

// ---------------------------------------------------------------------------
// image prune

export const pruneCommand: Command = {
  name: 'prune',
  usage: '[OPTIONS]',
  description: 'Remove unused images',
  maxArgs: 0,
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images, not just dangling ones' },
    { name: 'filter', type: 'list', valueName: 'filter', description: 'Provide filter values (e.g. "until=<timestamp>")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ],
  async run(ctx, a) {
    const all = a.bool('all');
    const filters = parseFilters(a.list('filter'));
    filters['dangling'] = [all ? 'false' : 'true'];
    if (!a.bool('force')) {
      const warning = all
        ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      ctx.out(`${warning}\nAre you sure you want to continue? [y/N] `);
      const answer = await readLine(ctx.io.stdin, ctx.io.stdout);
      if (answer === undefined) ctx.out('\n');
      if (!/^y(es)?$/i.test((answer ?? '').trim())) return 0;
    }
    const report = await ctx.client.pruneImages({ filters });
    const deleted = report.ImagesDeleted ?? [];
    if (deleted.length > 0) {
      ctx.out('Deleted Images:\n');
      for (const item of deleted) {
        if (item.Untagged) ctx.out(`untagged: ${item.Untagged}\n`);
        if (item.Deleted) ctx.out(`deleted: ${item.Deleted}\n`);
      }
      ctx.out('\n');
    }
    ctx.out(`Total reclaimed space: ${humanSize(report.SpaceReclaimed ?? 0)}\n`);
    return 0;
  },
};

// ---------------------------------------------------------------------------
// image history

export function historyRows(
  items: readonly HistoryItem[],
  opts: { noTrunc?: boolean; human?: boolean; now?: number } = {},
): Record<string, string>[] {
  const human = opts.human ?? true;
  const now = opts.now ?? Date.now();
  return items.map((h) => {
    const createdBy = h.CreatedBy.replace(/\t/g, ' ');
    const created = rfc3339Local(new Date(h.Created * 1000));
    return {
      ID: h.Id === '<missing>' || opts.noTrunc ? h.Id : shortId(h.Id),
      CreatedSince: human ? timeAgo(h.Created, now) : created,
      CreatedAt: created,
      CreatedBy: opts.noTrunc ? createdBy : ellipsis(createdBy, 45),
      Size: human ? humanSize(h.Size, 3) : String(h.Size),
      Comment: h.Comment,
    };
  });
}

export const historyCommand: Command = {
  name: 'history',
  usage: '[OPTIONS] IMAGE',
  description: 'Show the history of an image',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'format', type: 'string', description: "Format output using a custom template ('table', 'json' or a Go template)" },
    { name: 'human', short: 'H', type: 'bool', description: 'Print sizes and dates in human readable format (default true)' },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
  ],
  async run(ctx, a) {
    const items = await ctx.client.imageHistory(a.args[0] as string);
    const human = a.has('human') ? a.bool('human') : true;
    const rows = historyRows(items ?? [], { noTrunc: a.bool('no-trunc'), human });
    if (a.bool('quiet')) {
      for (const r of rows) ctx.out(`${r['ID']}\n`);
      return 0;
    }
    printRows(
      ctx,
      rows,
      a.string('format'),
      'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
      { ID: 'IMAGE', CreatedSince: human ? 'CREATED' : 'CREATED AT', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' },
    );
    return 0;
  },
};

// ---------------------------------------------------------------------------
// commit, import

/** "repo[:tag]" as the API's separate repo and tag parameters (a digest cannot be a target). */
function repoAndTag(target: string | undefined): { repo?: string; tag?: string } {
  if (!target) return {};
  const ref = parseReference(target);
  if (ref.digest) throw new EngineError(`refusing to create a tag with a digest reference: ${target}`, 0, 'INVALID');
  return { repo: familiarName(ref), ...(ref.tag ? { tag: ref.tag } : {}) };
}

export const commitCommand: Command = {
  name: 'commit',
  usage: '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  description: "Create a new image from a container's changes",
  minArgs: 1,
  maxArgs: 2,
  flags: [
    { name: 'author', short: 'a', type: 'string', description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
    { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', description: 'Commit message' },
    { name: 'pause', short: 'p', type: 'bool', description: 'Pause container during commit (default true)' },
  ],
  async run(ctx, a) {
    const author = a.string('author');
    const message = a.string('message');
    const { Id } = await ctx.client.commitContainer(a.args[0] as string, {
      ...repoAndTag(a.args[1]),
      ...(author ? { author } : {}),
      ...(message ? { comment: message } : {}),
      pause: a.has('pause') ? a.bool('pause') : true,
      changes: a.list('change'),
    });
    ctx.out(`${Id}\n`);
    return 0;
  },
};

export const importCommand: Command = {
  name: 'import',
  usage: '[OPTIONS] file|- [REPOSITORY[:TAG]]',
  description: 'Import the contents from a tarball to create a filesystem image',
  minArgs: 1,
  maxArgs: 2,
  flags: [
    { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', description: 'Set commit message for imported image' },
  ],
  async run(ctx, a) {
    const source = a.args[0] as string;
    if (/^https?:\/\//i.test(source)) throw new EngineError('importing from a URL is not supported: download the archive and import the file', 0, 'INVALID');
    const message = a.string('message');
    const src = source === '-' ? ctx.io.stdin : await openInput(source);
    let id = '';
    await followProgress(
      ctx.client.importImage(src, { ...repoAndTag(a.args[1]), ...(message ? { message } : {}), changes: a.list('change') }),
      (m) => {
        if (m.status) id = m.status;
      },
    );
    ctx.out(`${id}\n`);
    return 0;
  },
};

export const imageCommands: Command[] = [
  imagesList,
  pullCommand,
  pushCommand,
  rmiCommand,
  tagCommand,
  saveCommand,
  loadCommand,
  inspectCommand,
  pruneCommand,
  historyCommand,
  importCommand,
];

/** Top-level shortcuts: pull, images, rmi, tag, save, load, history, import, commit. */
export const imageShortcuts: Command[] = [
  pullCommand,
  pushCommand,
  imagesTopLevel,
  { ...rmiCommand, name: 'rmi', aliases: [] },
  tagCommand,
  saveCommand,
  loadCommand,
  historyCommand,
  importCommand,
  commitCommand,
];

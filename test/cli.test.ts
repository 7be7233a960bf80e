// The berth CLI: progress rendering (TTY and not) from a recorded message
// sequence, output formatting, the argument parser, verbs run in-process with
// fake stdio, and bin/berth as a process against a fake engine on a unix socket.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { UsageError, parseArgs } from '../cli/args.js';
import type { FlagSpec } from '../cli/args.js';
import type { CliIo } from '../cli/command.js';
import {
  TemplateError,
  compileTemplate,
  formatG,
  goJson,
  humanDuration,
  humanSize,
  renderRows,
  shortId,
  tabulate,
  timeAgo,
} from '../cli/format.js';
import { historyRows, imageRows } from '../cli/images.js';
import { run } from '../cli/main.js';
import { ProgressRenderer, formatProgressBar, renderProgress } from '../cli/progress.js';
import { diskUsageRows, formatEvent } from '../cli/system.js';
import type { EventMessage, ImageSummary, ProgressMessage } from '../types/engine-api.js';

const LAYER_A = 'a3ed95caeb02';
const LAYER_B = '5d20c808ce19';
const DIGEST = `sha256:${'d'.repeat(64)}`;
const ESC = '\x1b';

/** A pull as an engine sends it: two layers, progress updates, summary lines. */
const PULL: ProgressMessage[] = [
  { status: 'Pulling from library/busybox', id: 'latest' },
  { status: 'Pulling fs layer', progressDetail: {}, id: LAYER_A },
  { status: 'Pulling fs layer', progressDetail: {}, id: LAYER_B },
  { status: 'Downloading', progressDetail: { current: 1_000_000, total: 4_000_000 }, id: LAYER_A },
  { status: 'Downloading', progressDetail: { current: 3_000_000, total: 4_000_000 }, id: LAYER_A },
  { status: 'Downloading', progressDetail: { current: 32, total: 32 }, id: LAYER_B },
  { status: 'Verifying Checksum', progressDetail: {}, id: LAYER_B },
  { status: 'Download complete', progressDetail: {}, id: LAYER_B },
  { status: 'Download complete', progressDetail: {}, id: LAYER_A },
  { status: 'Extracting', progressDetail: { current: 4_000_000, total: 4_000_000 }, id: LAYER_A },
  { status: 'Pull complete', progressDetail: {}, id: LAYER_A },
  { status: 'Extracting', progressDetail: { current: 32, total: 32 }, id: LAYER_B },
  { status: 'Pull complete', progressDetail: {}, id: LAYER_B },
  { status: `Digest: ${DIGEST}` },
  { status: 'Status: Downloaded newer image for busybox:latest' },
];

/** Replay terminal output (LF as CR LF, CR, ESC[nA, ESC[nB, ESC[2K) and return the screen lines. */
function screen(out: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < out.length; i++) {
    const c = out[i] as string;
    if (c === ESC) {
      assert.equal(out[i + 1], '[', `unknown escape at ${i}`);
      let j = i + 2;
      while (/\d/.test(out[j] ?? '')) j++;
      const n = Number(out.slice(i + 2, j) || 1);
      const op = out[j];
      if (op === 'A') row = Math.max(0, row - n);
      else if (op === 'B') row += n;
      else if (op === 'K') lines[row] = '';
      else assert.fail(`unexpected escape ending in ${op}`);
      while (lines.length <= row) lines.push('');
      i = j;
      continue;
    }
    if (c === '\n') {
      row++;
      col = 0;
      while (lines.length <= row) lines.push('');
      continue;
    }
    if (c === '\r') {
      col = 0;
      continue;
    }
    const line = (lines[row] ?? '').padEnd(col);
    lines[row] = line.slice(0, col) + c + line.slice(col + 1);
    col++;
  }
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

describe('progress rendering', () => {
  test('not a TTY: one line per status change, no bars, no escapes', () => {
    const out = renderProgress(PULL, { tty: false });
    assert.equal(
      out,
      [
        'latest: Pulling from library/busybox',
        `${LAYER_A}: Pulling fs layer`,
        `${LAYER_B}: Pulling fs layer`,
        `${LAYER_B}: Verifying Checksum`,
        `${LAYER_B}: Download complete`,
        `${LAYER_A}: Download complete`,
        `${LAYER_A}: Pull complete`,
        `${LAYER_B}: Pull complete`,
        `Digest: ${DIGEST}`,
        'Status: Downloaded newer image for busybox:latest',
        '',
      ].join('\n'),
    );
    assert.ok(!out.includes(ESC) && !out.includes('[='), 'no escapes, no bars');
  });

  test('not a TTY: repeated statuses are printed once per layer', () => {
    const out = renderProgress(
      [
        { status: 'Waiting', progressDetail: {}, id: LAYER_A },
        { status: 'Waiting', progressDetail: {}, id: LAYER_A },
        { status: 'Waiting', progressDetail: {}, id: LAYER_B },
      ],
      { tty: false },
    );
    assert.equal(out, `${LAYER_A}: Waiting\n${LAYER_B}: Waiting\n`);
  });

  test('TTY: layer lines are redrawn in place with cursor movement', () => {
    const msgs = PULL.slice(1, 5);
    const out = renderProgress(msgs, { tty: true, columns: 120 });
    const bar25 = `[${'='.repeat(12)}>${' '.repeat(37)}]`;
    const bar75 = `[${'='.repeat(37)}>${' '.repeat(12)}]`;
    assert.equal(
      out,
      `\x1b[2K${LAYER_A}: Pulling fs layer\n` +
        `\x1b[2K${LAYER_B}: Pulling fs layer\n` +
        `\x1b[2A\r\x1b[2K${LAYER_A}: Downloading ${bar25}      1MB/4MB\r\x1b[2B` +
        `\x1b[2A\r\x1b[2K${LAYER_A}: Downloading ${bar75}      3MB/4MB\r\x1b[2B`,
    );
    assert.deepEqual(screen(out), [
      `${LAYER_A}: Downloading ${bar75}      3MB/4MB`,
      `${LAYER_B}: Pulling fs layer`,
    ]);
  });

  test('TTY: the final screen of a whole pull shows each layer once, then the summary', () => {
    const out = renderProgress(PULL, { tty: true, columns: 120 });
    assert.deepEqual(screen(out), [
      'latest: Pulling from library/busybox',
      `${LAYER_A}: Pull complete`,
      `${LAYER_B}: Pull complete`,
      `Digest: ${DIGEST}`,
      'Status: Downloaded newer image for busybox:latest',
    ]);
  });

  test('TTY: narrow terminals get no bar, and lines never wrap', () => {
    const r = new ProgressRenderer({ tty: true, columns: 30 });
    const out = r.push({ status: 'Downloading', progressDetail: { current: 5, total: 10 }, id: LAYER_A });
    assert.equal(out, `\x1b[2K${LAYER_A}: Downloading    \n`, 'cut to 29 columns');
  });

  test('errors and aux messages render nothing; stream text is passed through', () => {
    const r = new ProgressRenderer({ tty: false });
    assert.equal(r.push({ error: 'boom', errorDetail: { message: 'boom' } }), '');
    assert.equal(r.push({ aux: { ID: 'sha256:abc' } }), '');
    assert.equal(r.push({ stream: 'Loaded image: busybox:latest\n' }), 'Loaded image: busybox:latest\n');
  });

  test('formatProgressBar', () => {
    assert.equal(formatProgressBar({}), '');
    assert.equal(formatProgressBar({ current: 0, total: 0 }), '');
    assert.equal(formatProgressBar({ current: 12_345_678, total: 45_600_000 }, 200), `[${'='.repeat(13)}>${' '.repeat(36)}]  12.35MB/45.6MB`);
    assert.equal(formatProgressBar({ current: 10, total: 10 }, 200), `[${'='.repeat(50)}]      10B/10B`);
    assert.equal(formatProgressBar({ current: 12_345_678, total: 45_600_000 }, 80), ' 12.35MB/45.6MB');
    assert.equal(formatProgressBar({ current: 1_500_000 }, 200), ' 1.5MB'.padStart(8));
    assert.equal(formatProgressBar({ current: 20, total: 10 }, 80), '     20B');
  });
});

describe('formatting', () => {
  test('humanSize: decimal units like docker', () => {
    assert.equal(humanSize(0), '0B');
    assert.equal(humanSize(999), '999B');
    assert.equal(humanSize(1000), '1kB');
    assert.equal(humanSize(4_263_000, 3), '4.26MB');
    assert.equal(humanSize(4_263_000), '4.263MB');
    assert.equal(humanSize(123_456_789, 3), '123MB');
    assert.equal(humanSize(1_234_567_890, 3), '1.23GB');
    assert.equal(humanSize(999_999, 3), '1e+03kB', "docker's %.3g quirk");
    assert.equal(humanSize(5e15), '5PB');
  });

  test("formatG matches Go's %g", () => {
    assert.equal(formatG(4.2, 3), '4.2');
    assert.equal(formatG(100, 3), '100');
    assert.equal(formatG(0.0001234, 3), '0.000123');
    assert.equal(formatG(0.00001234, 3), '1.23e-05');
    assert.equal(formatG(1234.5, 4), '1234', 'exact ties round to even');
    assert.equal(formatG(1235.5, 4), '1236');
    assert.equal(formatG(4.263, 4), '4.263');
    assert.equal(formatG(9.9996, 4), '10');
    assert.equal(formatG(999.96, 4), '1000');
    assert.equal(formatG(-2.5, 1), '-2');
    assert.equal(formatG(123456, 3), '1.23e+05');
    assert.equal(formatG(0.05, 3), '0.05');
  });

  test('humanDuration and timeAgo', () => {
    const s = 1000;
    const h = 3600 * s;
    assert.equal(humanDuration(500), 'Less than a second');
    assert.equal(humanDuration(1 * s), '1 second');
    assert.equal(humanDuration(45 * s), '45 seconds');
    assert.equal(humanDuration(90 * s), 'About a minute');
    assert.equal(humanDuration(30 * 60 * s), '30 minutes');
    assert.equal(humanDuration(80 * 60 * s), 'About an hour');
    assert.equal(humanDuration(2 * h), '2 hours');
    assert.equal(humanDuration(47 * h), '47 hours');
    assert.equal(humanDuration(3 * 24 * h), '3 days');
    assert.equal(humanDuration(20 * 24 * h), '2 weeks');
    assert.equal(humanDuration(90 * 24 * h), '3 months');
    assert.equal(humanDuration(800 * 24 * h), '2 years');
    const now = Date.UTC(2024, 5, 1);
    assert.equal(timeAgo(now / 1000 - 7200, now), '2 hours ago');
    assert.equal(timeAgo(0, now), 'N/A');
  });

  test('shortId', () => {
    assert.equal(shortId(`sha256:${'0123456789ab'.repeat(5)}cdef`), '0123456789ab');
    assert.equal(shortId('abcdef'), 'abcdef');
  });

  test('tabulate: min width 10, padding 3, last column unpadded', () => {
    assert.equal(
      tabulate(['REPOSITORY\tTAG\tIMAGE ID', 'busybox\tlatest\t0123456789ab', 'ghcr.io/org/app\tv1\tba9876543210']),
      ['REPOSITORY        TAG       IMAGE ID', 'busybox           latest    0123456789ab', 'ghcr.io/org/app   v1        ba9876543210'].join('\n'),
    );
  });

  test('templates: fields, nesting, json, table headers, escapes', () => {
    const row = { Repository: 'busybox', Tag: 'latest', Nested: { A: 1 }, List: ['x', 'y'] };
    assert.equal(compileTemplate('{{.Repository}}:{{.Tag}}').render(row), 'busybox:latest');
    assert.equal(compileTemplate('{{ .Nested.A }}|{{json .Nested}}|{{json .List}}').render(row), '1|{"A":1}|["x","y"]');
    assert.equal(compileTemplate('{{join .List ","}} {{upper .Tag}}').render(row), 'x,y LATEST');
    assert.equal(compileTemplate('{{.Repository}}\\t{{.Missing}}').render(row), 'busybox\t<no value>');
    assert.equal(
      renderRows(compileTemplate('table {{.Repository}}\\t{{.CreatedSince}}'), [{ Repository: 'r', CreatedSince: '1 hour ago' }], {
        CreatedSince: 'CREATED',
      }),
      'REPOSITORY   CREATED\nr            1 hour ago\n',
    );
    assert.throws(() => compileTemplate('{{.Repository'), TemplateError);
    assert.throws(() => compileTemplate('{{printf "%s" .X}}'), TemplateError);
  });

  test('goJson escapes like Go', () => {
    assert.equal(goJson({ a: '<none>&' }), '{"a":"\\u003cnone\\u003e\\u0026"}');
  });

  test('image rows: one per tag, digests, dangling and digest-only images', () => {
    const now = Date.UTC(2024, 5, 1);
    const created = now / 1000 - 7200;
    const img = (over: Partial<ImageSummary>): ImageSummary => ({
      Id: `sha256:${'a'.repeat(64)}`,
      ParentId: '',
      RepoTags: [],
      RepoDigests: [],
      Created: created,
      Size: 4_263_000,
      SharedSize: -1,
      Labels: null,
      Containers: -1,
      ...over,
    });
    const dg = `sha256:${'b'.repeat(64)}`;
    const images = [
      img({ RepoTags: ['busybox:latest', 'busybox:1.36', 'docker.io/me/box:v1'], RepoDigests: [`busybox@${dg}`] }),
      img({ Id: `sha256:${'c'.repeat(64)}` }),
      img({ Id: `sha256:${'e'.repeat(64)}`, RepoDigests: [`alpine@${dg}`] }),
    ];
    const pick = (rows: Record<string, string>[]): string[] => rows.map((r) => `${r['Repository']} ${r['Tag']} ${r['Digest']} ${r['ID']}`);
    assert.deepEqual(pick(imageRows(images, { now })), [
      'busybox latest <none> aaaaaaaaaaaa',
      'busybox 1.36 <none> aaaaaaaaaaaa',
      'me/box v1 <none> aaaaaaaaaaaa',
      '<none> <none> <none> cccccccccccc',
      `alpine <none> ${dg} eeeeeeeeeeee`,
    ]);
    assert.deepEqual(pick(imageRows(images, { now, digests: true })).slice(0, 2), [
      `busybox latest ${dg} aaaaaaaaaaaa`,
      `busybox 1.36 ${dg} aaaaaaaaaaaa`,
    ]);
    const [first] = imageRows(images, { now, noTrunc: true });
    assert.equal(first?.ID, `sha256:${'a'.repeat(64)}`);
    assert.equal(first?.CreatedSince, '2 hours ago');
    assert.equal(first?.Size, '4.26MB');
  });

  test('history rows truncate CREATED BY at 45 characters', () => {
    const now = Date.UTC(2024, 5, 1);
    const rows = historyRows(
      [{ Id: '<missing>', Created: now / 1000 - 60, CreatedBy: `/bin/sh -c\t${'x'.repeat(60)}`, Tags: null, Size: 1_500_000, Comment: '' }],
      { now },
    );
    assert.equal(rows[0]?.['ID'], '<missing>');
    assert.equal(rows[0]?.['CreatedSince'], 'About a minute ago');
    assert.equal(rows[0]?.['CreatedBy'], `/bin/sh -c ${'x'.repeat(33)}…`);
    assert.equal([...(rows[0]?.['CreatedBy'] ?? '')].length, 45);
    assert.equal(rows[0]?.['Size'], '1.5MB');
  });

  test('system df rows', () => {
    const rows = diskUsageRows({
      LayersSize: 1_000_000,
      Images: [
        { Id: 'a', ParentId: '', RepoTags: [], RepoDigests: [], Created: 0, Size: 600_000, SharedSize: 100_000, Labels: null, Containers: 1 },
        { Id: 'b', ParentId: '', RepoTags: [], RepoDigests: [], Created: 0, Size: 500_000, SharedSize: 100_000, Labels: null, Containers: 0 },
      ],
      Containers: [],
      Volumes: null,
      BuildCache: [],
    });
    assert.deepEqual(rows[0], { Type: 'Images', TotalCount: '2', Active: '1', Size: '1MB', Reclaimable: '500kB (50%)' });
    assert.deepEqual(rows[1], { Type: 'Containers', TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' });
    const c = (State: string, SizeRw: number): never => ({ Id: State, Names: [], State, SizeRw }) as never;
    const states = diskUsageRows({ LayersSize: 0, Images: [], Containers: [c('running', 100), c('paused', 200), c('restarting', 0), c('exited', 300)], Volumes: null, BuildCache: [] });
    assert.deepEqual(states[1], { Type: 'Containers', TotalCount: '4', Active: '3', Size: '600B', Reclaimable: '300B (50%)' }, 'paused and restarting count as active, as in docker');
  });

  test('event lines', () => {
    const prevTz = process.env['TZ'];
    process.env['TZ'] = 'UTC';
    try {
      const e: EventMessage = {
        Type: 'image',
        Action: 'tag',
        Actor: { ID: 'sha256:abc', Attributes: { name: 'busybox:latest', a: '1' } },
        scope: 'local',
        time: 1700000000,
        timeNano: 1700000000123456800,
      };
      assert.equal(formatEvent(e), '2023-11-14T22:13:20.123456800Z image tag sha256:abc (a=1, name=busybox:latest)');
    } finally {
      if (prevTz === undefined) delete process.env['TZ'];
      else process.env['TZ'] = prevTz;
    }
  });
});

describe('argument parser', () => {
  const specs: FlagSpec[] = [
    { name: 'all', short: 'a', type: 'bool', description: '' },
    { name: 'quiet', short: 'q', type: 'bool', description: '' },
    { name: 'output', short: 'o', type: 'string', description: '' },
    { name: 'filter', short: 'f', type: 'list', description: '' },
    { name: 'no-trunc', type: 'bool', description: '' },
  ];

  test('long, short, inline values, repeated and combined flags', () => {
    const p = parseArgs(['-aq', 'img1', '--output=x.tar', '-f', 'a=1', '--filter', 'b=2', '--filter=c=3', '-fd=4', 'img2', '--no-trunc'], specs);
    assert.equal(p.bool('all'), true);
    assert.equal(p.bool('quiet'), true);
    assert.equal(p.string('output'), 'x.tar');
    assert.deepEqual(p.list('filter'), ['a=1', 'b=2', 'c=3', 'd=4']);
    assert.equal(p.bool('no-trunc'), true);
    assert.deepEqual(p.args, ['img1', 'img2']);
  });

  test('-ovalue, -o=value, --flag value, bool values, -- and -', () => {
    assert.equal(parseArgs(['-ofile'], specs).string('output'), 'file');
    assert.equal(parseArgs(['-o=file'], specs).string('output'), 'file');
    assert.equal(parseArgs(['-qo', 'file'], specs).string('output'), 'file');
    assert.equal(parseArgs(['--output', '-'], specs).string('output'), '-');
    const b = parseArgs(['--all=false', '-q=true'], specs);
    assert.equal(b.bool('all'), false);
    assert.equal(b.has('all'), true);
    assert.equal(b.bool('quiet'), true);
    assert.deepEqual(parseArgs(['-a', '--', '-q', '--output', '-'], specs).args, ['-q', '--output', '-']);
    assert.deepEqual(parseArgs(['-'], specs).args, ['-']);
    assert.equal(parseArgs(['x'], specs).bool('all'), false);
  });

  test('interspersed: false stops at the first positional', () => {
    const p = parseArgs(['-a', 'images', '-q'], specs, { interspersed: false });
    assert.equal(p.bool('all'), true);
    assert.equal(p.bool('quiet'), false);
    assert.deepEqual(p.args, ['images', '-q']);
  });

  test('errors are UsageErrors with docker wording', () => {
    assert.throws(() => parseArgs(['--nope'], specs), new UsageError('unknown flag: --nope'));
    assert.throws(() => parseArgs(['-aqx'], specs), new UsageError("unknown shorthand flag: 'x' in -x"));
    assert.throws(() => parseArgs(['--output'], specs), new UsageError('flag needs an argument: --output'));
    assert.throws(() => parseArgs(['-o'], specs), new UsageError("flag needs an argument: 'o' in -o"));
    assert.throws(() => parseArgs(['--all=maybe'], specs), UsageError);
  });
});

// ---------------------------------------------------------------------------
// Verbs against a fake engine

interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

let tmpDir: string;
let socketPath: string;
let server: http.Server;
const requests: Recorded[] = [];
const NOW = Math.floor(Date.now() / 1000);
const IMAGE_ID = `sha256:${'4f'.repeat(32)}`;

const IMAGES: ImageSummary[] = [
  {
    Id: IMAGE_ID,
    ParentId: '',
    RepoTags: ['busybox:latest'],
    RepoDigests: [`busybox@${DIGEST}`],
    Created: NOW - 2 * 3600,
    Size: 4_263_000,
    SharedSize: -1,
    Labels: null,
    Containers: -1,
  },
  {
    Id: `sha256:${'0a'.repeat(32)}`,
    ParentId: '',
    RepoTags: [],
    RepoDigests: [],
    Created: NOW - 3 * 24 * 3600,
    Size: 123_456_789,
    SharedSize: -1,
    Labels: null,
    Containers: -1,
  },
];

function send(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
}

function route(req: Recorded, res: ServerResponse): void {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  if (p === '/_ping') {
    res.setHeader('Api-Version', '1.47');
    res.end('OK');
    return;
  }
  if (p === '/v1.47/images/json') {
    if (req.headers['x-fail'] || url.searchParams.get('filters')?.includes('explode')) {
      return send(res, 500, { message: 'layer store is on fire' });
    }
    return send(res, 200, IMAGES);
  }
  if (p === '/v1.47/version') {
    return send(res, 200, {
      Platform: { Name: 'Berth Engine' },
      Version: '0.1.0',
      ApiVersion: '1.47',
      MinAPIVersion: '1.24',
      Os: 'linux',
      Arch: 'amd64',
      Components: [{ Name: 'Engine', Version: '0.1.0' }],
    });
  }
  if (p === '/v1.47/images/create') {
    res.setHeader('Content-Type', 'application/json');
    for (const m of PULL) res.write(`${JSON.stringify(m)}\n`);
    if (url.searchParams.get('fromImage') === 'broken') {
      res.write(`${JSON.stringify({ errorDetail: { message: 'unexpected EOF' }, error: 'unexpected EOF' })}\n`);
    }
    res.end();
    return;
  }
  if (req.method === 'DELETE') {
    if (p.includes('missing')) return send(res, 404, { message: 'No such image: missing:latest' });
    return send(res, 200, [{ Untagged: 'busybox:latest' }, { Untagged: `busybox@${DIGEST}` }, { Deleted: IMAGE_ID }]);
  }
  if (p === '/v1.47/images/prune') {
    return send(res, 200, { ImagesDeleted: [{ Deleted: IMAGE_ID }], SpaceReclaimed: 4_263_000 });
  }
  if (p === '/v1.47/images/get') {
    res.setHeader('Content-Type', 'application/x-tar');
    res.end(`TAR:${url.searchParams.getAll('names').join(',')}`);
    return;
  }
  if (p === '/v1.47/images/load') {
    res.setHeader('Content-Type', 'application/json');
    res.end(`${JSON.stringify({ stream: `Loaded image: busybox:latest (${req.body.length} bytes)\n` })}\n`);
    return;
  }
  if (p === '/v1.47/auth') {
    const body = JSON.parse(req.body.toString()) as { password?: string };
    if (body.password !== 's3cret') return send(res, 401, { message: 'unauthorized: incorrect username or password' });
    return send(res, 200, { Status: 'Login Succeeded' });
  }
  if (p === '/v1.47/events') {
    res.setHeader('Content-Type', 'application/json');
    res.write(`${JSON.stringify({ Type: 'image', Action: 'pull', Actor: { ID: 'busybox:latest', Attributes: { name: 'busybox' } }, scope: 'local', time: 1700000000, timeNano: 1700000000000000000 })}\n`);
    res.end();
    return;
  }
  send(res, 404, { message: `page not found: ${p}` });
}

before(async () => {
  tmpDir = await mkdtemp(path.join(os.tmpdir(), 'berth-cli-test-'));
  socketPath = path.join(tmpDir, 'engine.sock');
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(rec);
      route(rec, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(tmpDir, { recursive: true, force: true });
});

interface FakeIo extends CliIo {
  stdoutText(): string;
  stdoutBytes(): Buffer;
  stderrText(): string;
}

function fakeIo(opts: { stdin?: string | Buffer; stdinTTY?: boolean; stdoutTTY?: boolean; columns?: number } = {}): FakeIo {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (into: Buffer[]): Writable =>
    new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        into.push(Buffer.from(chunk));
        cb();
      },
    });
  const stdout = Object.assign(sink(out), { isTTY: opts.stdoutTTY ?? false, columns: opts.columns ?? 0 });
  const stdin = Object.assign(Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]), {
    isTTY: opts.stdinTTY ?? false,
  });
  return {
    stdout,
    stderr: sink(err),
    stdin,
    env: { BERTH_HOST: `unix://${socketPath}` },
    stdoutText: () => Buffer.concat(out).toString('utf8'),
    stdoutBytes: () => Buffer.concat(out),
    stderrText: () => Buffer.concat(err).toString('utf8'),
  };
}

describe('verbs in-process', () => {
  test('pull on a TTY draws progress, then prints the reference', async () => {
    const io = fakeIo({ stdoutTTY: true, columns: 120 });
    assert.equal(await run(['pull', 'busybox'], io), 0);
    assert.deepEqual(screen(io.stdoutText()), [
      'Using default tag: latest',
      'latest: Pulling from library/busybox',
      `${LAYER_A}: Pull complete`,
      `${LAYER_B}: Pull complete`,
      `Digest: ${DIGEST}`,
      'Status: Downloaded newer image for busybox:latest',
      'docker.io/library/busybox:latest',
    ]);
    const q = new URL(requests.at(-1)?.url ?? '', 'http://x').searchParams;
    assert.equal(q.get('fromImage'), 'busybox');
    assert.equal(q.get('tag'), 'latest');
  });

  test('pull -q prints only the reference; a stream error exits 1 with its text', async () => {
    const quiet = fakeIo();
    assert.equal(await run(['pull', '-q', 'busybox:1.36'], quiet), 0);
    assert.equal(quiet.stdoutText(), 'docker.io/library/busybox:1.36\n');
    const broken = fakeIo();
    assert.equal(await run(['pull', 'broken'], broken), 1);
    assert.equal(broken.stderrText(), 'unexpected EOF\n');
    assert.doesNotMatch(broken.stdoutText(), /docker\.io\/library\/broken/);
  });

  test('rmi removes what it can and reports the rest (exit 1)', async () => {
    const io = fakeIo();
    assert.equal(await run(['rmi', 'busybox', 'missing'], io), 1);
    assert.equal(io.stdoutText(), `Untagged: busybox:latest\nUntagged: busybox@${DIGEST}\nDeleted: ${IMAGE_ID}\n`);
    assert.equal(io.stderrText(), 'Error response from daemon: No such image: missing:latest\n');
  });

  test('image prune asks first; -f does not', async () => {
    const no = fakeIo({ stdin: 'n\n' });
    assert.equal(await run(['image', 'prune'], no), 0);
    assert.equal(no.stdoutText(), 'WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ');
    const before = requests.length;
    const yes = fakeIo({ stdin: 'y\n' });
    assert.equal(await run(['image', 'prune', '-a'], yes), 0);
    assert.match(yes.stdoutText(), /without at least one container/);
    assert.match(yes.stdoutText(), new RegExp(`Deleted Images:\ndeleted: ${IMAGE_ID}\n\nTotal reclaimed space: 4.263MB\n$`));
    assert.equal(requests.length, before + 1);
    const q = new URL(requests.at(-1)?.url ?? '', 'http://x').searchParams;
    assert.deepEqual(JSON.parse(q.get('filters') ?? ''), { dangling: ['false'] });
    const forced = fakeIo();
    assert.equal(await run(['image', 'prune', '-f'], forced), 0);
    assert.ok(forced.stdoutText().startsWith('Deleted Images:\n'));
  });

  test('save refuses a terminal; -o writes the file atomically; stdout gets the tar otherwise', async () => {
    const tty = fakeIo({ stdoutTTY: true });
    assert.equal(await run(['save', 'busybox'], tty), 1);
    assert.equal(tty.stderrText(), 'cowardly refusing to save to a terminal. Use the -o flag or redirect\n');
    const file = path.join(tmpDir, 'out.tar');
    assert.equal(await run(['save', '-o', file, 'busybox', 'alpine'], fakeIo()), 0);
    assert.equal(await readFile(file, 'utf8'), 'TAR:busybox,alpine');
    assert.deepEqual((await readdir(tmpDir)).filter((f) => f.includes('.tmp')), []);
    const piped = fakeIo();
    assert.equal(await run(['image', 'save', 'busybox'], piped), 0);
    assert.equal(piped.stdoutText(), 'TAR:busybox');
  });

  test('load refuses an interactive stdin; -i sends the file', async () => {
    const tty = fakeIo({ stdinTTY: true });
    assert.equal(await run(['load'], tty), 1);
    assert.equal(tty.stderrText(), 'requested load from stdin, but stdin is empty\n');
    const file = path.join(tmpDir, 'in.tar');
    await writeFile(file, Buffer.alloc(2048, 7));
    const io = fakeIo();
    assert.equal(await run(['load', '-i', file], io), 0);
    assert.equal(io.stdoutText(), 'Loaded image: busybox:latest (2048 bytes)\n');
    assert.match(requests.at(-1)?.url ?? '', /\/v1\.47\/images\/load\?quiet=1$/);
    const viaStdin = fakeIo({ stdin: Buffer.alloc(100) });
    assert.equal(await run(['load'], viaStdin), 0);
    assert.equal(viaStdin.stdoutText(), 'Loaded image: busybox:latest (100 bytes)\n');
    const missing = fakeIo();
    assert.equal(await run(['load', '-i', path.join(tmpDir, 'nope.tar')], missing), 1);
    assert.match(missing.stderrText(), /no such file or directory/);
  });

  test('login checks credentials and stores nothing', async () => {
    const ok = fakeIo({ stdin: 's3cret\n' });
    assert.equal(await run(['login', '-u', 'me', '--password-stdin', 'registry.example.com'], ok), 0);
    assert.equal(ok.stdoutText(), 'Login Succeeded\n');
    assert.match(ok.stderrText(), /does not store credentials/);
    assert.deepEqual(JSON.parse(requests.at(-1)?.body.toString() ?? ''), {
      username: 'me',
      password: 's3cret',
      serveraddress: 'registry.example.com',
    });
    const bad = fakeIo();
    assert.equal(await run(['login', '-u', 'me', '-p', 'wrong'], bad), 1);
    assert.match(bad.stderrText(), /WARNING! Using --password via the CLI is insecure/);
    assert.match(bad.stderrText(), /Error response from daemon: unauthorized: incorrect username or password/);
    assert.deepEqual(JSON.parse(requests.at(-1)?.body.toString() ?? '').serveraddress, 'https://index.docker.io/v1/');
    const noTty = fakeIo();
    assert.equal(await run(['login'], noTty), 1);
    assert.match(noTty.stderrText(), /non TTY device/);
    assert.equal(await run(['login', '--password-stdin'], fakeIo()), 125);
  });

  test('events --until prints docker-style lines and ends', async () => {
    const io = fakeIo();
    assert.equal(await run(['events', '--until', '0', '--format', '{{.Type}} {{.Action}} {{.Actor.ID}}'], io), 0);
    assert.equal(io.stdoutText(), 'image pull busybox:latest\n');
    const json = fakeIo();
    assert.equal(await run(['system', 'events', '--since', '1h', '--until', '0', '--format', 'json'], json), 0);
    assert.match(json.stdoutText(), /^\{"Type":"image","Action":"pull","Actor":\{"ID":"busybox:latest","Attributes":\{"name":"busybox"\}\}/);
  });

  test('usage errors exit 125 with the usage line; template errors exit 1', async () => {
    const io = fakeIo();
    assert.equal(await run(['images', '--bogus'], io), 125);
    assert.equal(
      io.stderrText(),
      "unknown flag: --bogus\n\nUsage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'berth images --help' for more information\n",
    );
    const count = fakeIo();
    assert.equal(await run(['tag', 'one'], count), 125);
    assert.match(count.stderrText(), /^berth: 'berth tag' requires 2 arguments\n/);
    const verb = fakeIo();
    assert.equal(await run(['frobnicate'], verb), 125);
    assert.match(verb.stderrText(), /unknown command: berth frobnicate/);
    const tpl = fakeIo();
    assert.equal(await run(['images', '--format', '{{.ID'], tpl), 1);
    assert.match(tpl.stderrText(), /^template parsing error/);
    const help = fakeIo();
    assert.equal(await run(['image', 'ls', '--help'], help), 0);
    assert.match(help.stdoutText(), /Usage: {2}berth image ls \[OPTIONS\] \[REPOSITORY\[:TAG\]\]/);
    assert.match(help.stdoutText(), /berth image ls, berth image list/);
    const top = fakeIo();
    assert.equal(await run([], top), 0);
    assert.match(top.stdoutText(), /Common Commands:/);
  });
});

// ---------------------------------------------------------------------------
// bin/berth as a process

const BIN = fileURLToPath(new URL('../../bin/berth', import.meta.url));

function berth(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env['PATH'] ?? '', TZ: 'UTC', BERTH_HOST: `unix://${socketPath}`, ...env } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('bin/berth', () => {
  test('images prints docker’s table', async () => {
    const r = await berth(['images']);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      [
        'REPOSITORY   TAG       IMAGE ID       CREATED       SIZE',
        `busybox      latest    ${'4f'.repeat(6)}   2 hours ago   4.26MB`,
        `<none>       <none>    ${'0a'.repeat(6)}   3 days ago    123MB`,
        '',
      ].join('\n'),
    );
  });

  test('images --digests, -q and --format json', async () => {
    const digests = await berth(['image', 'ls', '--digests']);
    assert.equal(digests.code, 0);
    assert.match(digests.stdout.split('\n')[0] ?? '', /^REPOSITORY {3}TAG {7}DIGEST {4,}IMAGE ID {7}CREATED {7}SIZE$/);
    assert.ok(digests.stdout.includes(DIGEST));
    const quiet = await berth(['images', '-q']);
    assert.equal(quiet.stdout, `${'4f'.repeat(6)}\n${'0a'.repeat(6)}\n`);
    const json = await berth(['images', '--format', 'json']);
    const first = JSON.parse(json.stdout.split('\n')[0] ?? '') as Record<string, string>;
    assert.equal(first['Repository'], 'busybox');
    assert.equal(first['Size'], '4.26MB');
    assert.deepEqual(Object.keys(first), [...Object.keys(first)].sort(), 'keys sorted like Go maps');
    const tpl = await berth(['images', '--format', '{{.Repository}}:{{.Tag}} {{.Size}}']);
    assert.equal(tpl.stdout, 'busybox:latest 4.26MB\n<none>:<none> 123MB\n');
  });

  test('version shows client and server', async () => {
    const r = await berth(['version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Client: Berth\n Version: {11}0\.1\.0\n API version: {7}1\.47\n/);
    assert.match(r.stdout, /\nServer: Berth Engine\n Engine:\n {2}Version: {10}0\.1\.0\n {2}API version: {6}1\.47 \(minimum version 1\.24\)\n/);
    const fmt = await berth(['version', '--format', '{{.Server.Version}}']);
    assert.equal(fmt.stdout, '0.1.0\n');
    const v = await berth(['--version']);
    assert.match(v.stdout, /^Berth version 0\.1\.0/);
  });

  test('daemon errors: "Error response from daemon:" on stderr, exit 1', async () => {
    const r = await berth(['images', '--filter', 'label=explode']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'Error response from daemon: layer store is on fire\n');
  });

  test('an engine that is not running: exit 1 and how to start it', async () => {
    const host = `unix://${path.join(tmpDir, 'absent.sock')}`;
    const r = await berth(['version'], { BERTH_HOST: host });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^Client: Berth\n/, 'the client half is still printed');
    assert.ok(r.stderr.includes(`Cannot connect to the Berth engine at ${host}`), r.stderr);
    assert.match(r.stderr, /berthd/);
    const viaFlag = await berth(['-H', host, 'images'], { BERTH_HOST: `unix://${socketPath}` });
    assert.equal(viaFlag.code, 1);
    assert.ok(viaFlag.stderr.includes(host));
    const viaDockerHost = await berth(['images'], { BERTH_HOST: '', DOCKER_HOST: `unix://${socketPath}` });
    assert.equal(viaDockerHost.code, 0);
  });

  test('bad usage exits 125', async () => {
    const r = await berth(['images', '-x']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^unknown shorthand flag: 'x' in -x\n/);
    const h = await berth(['-H', 'ftp://nope', 'images']);
    assert.equal(h.code, 125);
    assert.match(h.stderr, /invalid engine host/);
  });

  test('a closed stdout pipe is not an error', async () => {
    const child = spawn(process.execPath, [BIN, 'images'], {
      env: { PATH: process.env['PATH'] ?? '', BERTH_HOST: `unix://${socketPath}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy(); // like `berth images | head -0`
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(stderr, '');
    assert.equal(code, 0);
  });
});

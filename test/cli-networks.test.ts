// `berth network ...`, `berth port` and the networking flags of `create`/`run`, checked against
// the real docker CLI: both talk to the same capturing fake engine on a unix socket, and the
// requests they send (and what they print) must agree. Plus the client's network calls and
// the pure helpers (IPAM pools, --network parsing, --add-host, natural order).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { EngineClient, EngineError } from '../client/index.js';
import { UsageError, parseArgs } from '../cli/args.js';
import type { CliIo } from '../cli/command.js';
import { CONTAINER_FLAGS, buildCreateRequest } from '../cli/create-flags.js';
import { run } from '../cli/main.js';
import { parseExtraHost, parseNetworkFlag } from '../cli/network-flags.js';
import { ipamPools, naturalCompare, networkRows, portLines } from '../cli/networks.js';

const DOCKER = process.env['DOCKER_CLI'] ?? '/usr/local/bin/docker';
const noDocker = existsSync(DOCKER) ? false : `no docker CLI at ${DOCKER}`;

// ---- the fake engine ---------------------------------------------------------------

interface Recorded {
  method: string;
  /** Path and query without the /vX.Y prefix. */
  url: string;
  body: unknown;
}

const NET_A = {
  Name: 'net10',
  Id: 'a'.repeat(64),
  Created: '2024-05-20T10:11:12.123456789Z',
  Scope: 'local',
  Driver: 'bridge',
  EnableIPv6: false,
  IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: '172.30.0.0/16', Gateway: '172.30.0.1' }] },
  Internal: true,
  Attachable: false,
  Ingress: false,
  ConfigFrom: { Network: '' },
  ConfigOnly: false,
  Containers: {},
  Options: { 'com.docker.network.bridge.name': 'br-x' },
  // One label: docker prints a network's labels in Go map order (random); we sort them.
  Labels: { team: 'web' },
};
const NET_B = { ...NET_A, Name: 'net9', Id: 'b'.repeat(64), Created: '2024-05-21T08:00:00Z', Internal: false, Labels: {} };
const NET_C = { ...NET_A, Name: 'bridge', Id: 'c'.repeat(64), Labels: {} };
const NETWORKS = [NET_A, NET_B, NET_C];
const PORTS = {
  '80/tcp': [
    { HostIp: '0.0.0.0', HostPort: '8080' },
    { HostIp: '::', HostPort: '8080' },
  ],
  '53/udp': null,
  '443/tcp': [{ HostIp: '127.0.0.1', HostPort: '8443' }],
  '9000/udp': [{ HostIp: '0.0.0.0', HostPort: '9000' }],
};

let requests: Recorded[] = [];
let server: http.Server;
let tmpDir: string;
let socketPath: string;

function send(res: ServerResponse, status: number, body?: unknown): void {
  res.statusCode = status;
  res.setHeader('Api-Version', '1.47');
  if (body === undefined) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
}

function route(r: Recorded, res: ServerResponse): void {
  const [p = ''] = r.url.split('?');
  const notFound = (what: string): void => send(res, 404, { message: what });
  if (p === '/_ping') return send(res, 200);
  if (p === '/containers/create') return send(res, 201, { Id: 'd'.repeat(64), Warnings: [] });
  if (p === '/networks/create') return send(res, 201, { Id: 'e'.repeat(64), Warning: (r.body as { Name?: string }).Name === 'warned' ? 'careful' : '' });
  if (p === '/networks/prune') return send(res, 200, { NetworksDeleted: ['net9', 'net10'] });
  if (p === '/networks') return send(res, 200, NETWORKS);
  const net = /^\/networks\/([^/]+)(\/connect|\/disconnect)?$/.exec(p);
  if (net) {
    const found = NETWORKS.find((n) => n.Name === net[1] || n.Id.startsWith(net[1] as string));
    if (!found) return notFound(`network ${net[1]} not found`);
    if (r.method === 'DELETE') return send(res, 204);
    if (net[2]) return send(res, 200);
    return send(res, 200, found);
  }
  const ctr = /^\/containers\/([^/]+)\/json$/.exec(p);
  if (ctr) {
    if (ctr[1] !== 'web') return notFound(`No such container: ${ctr[1]}`);
    return send(res, 200, { Id: 'd'.repeat(64), Name: '/web', State: { Running: true }, Config: {}, HostConfig: {}, NetworkSettings: { Ports: PORTS } });
  }
  notFound(`page not found: ${r.method} ${p}`);
}

before(async () => {
  tmpDir = await mkdtemp(path.join(os.tmpdir(), 'berth-cli-net-'));
  socketPath = path.join(tmpDir, 'engine.sock');
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const rec = { method: req.method ?? '', url: (req.url ?? '').replace(/^\/v[\d.]+\//, '/'), body: text ? (JSON.parse(text) as unknown) : undefined };
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

// ---- the two CLIs -----------------------------------------------------------------

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  requests: Recorded[];
}

/** Requests that matter: not pings, not the GET docker makes before each DELETE. */
function significant(rs: Recorded[]): Recorded[] {
  return rs.filter((r, i) => r.url !== '/_ping' && !(r.method === 'GET' && rs[i + 1]?.method === 'DELETE'));
}

async function berth(args: string[], stdin = ''): Promise<Result> {
  requests = [];
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (into: Buffer[]): Writable =>
    new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        into.push(Buffer.from(chunk));
        cb();
      },
    });
  const io: CliIo = {
    stdout: Object.assign(sink(out), { isTTY: false }),
    stderr: sink(err),
    stdin: Object.assign(Readable.from(stdin ? [Buffer.from(stdin)] : []), { isTTY: false }),
    env: { BERTH_HOST: `unix://${socketPath}` },
  };
  const code = await run(args, io);
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), requests: significant(requests) };
}

function docker(args: string[], stdin = ''): Promise<Result> {
  requests = [];
  return new Promise((resolve) => {
    const child = execFile(
      DOCKER,
      args,
      { env: { PATH: process.env['PATH'] ?? '', HOME: tmpDir, DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: path.join(tmpDir, 'docker-config') } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr, requests: significant(requests) });
      },
    );
    child.stdin?.end(stdin);
  });
}

/**
 * A request in a comparable form: docker encodes filters the legacy way ({"k":{"v":true}}), we
 * send {"k":["v"]} (the engine takes both); docker orders IPAM pools in Go map order (random).
 */
function comparable(r: Recorded): Recorded {
  const url = new URL(r.url, 'http://engine');
  const filters = url.searchParams.get('filters');
  if (filters) {
    const parsed = JSON.parse(filters) as Record<string, string[] | Record<string, boolean>>;
    const canon = Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, (Array.isArray(v) ? v : Object.keys(v)).sort()]));
    url.searchParams.set('filters', JSON.stringify(canon));
  }
  const body = compact(r.body) as any;
  if (Array.isArray(body?.IPAM?.Config)) body.IPAM.Config.sort((p: any, q: any) => String(p.Subnet).localeCompare(String(q.Subnet)));
  return { method: r.method, url: `${url.pathname}${url.search}`, body };
}

/** A body with empty values dropped ("", 0, null, [], {}), false kept: docker sends every zero field. */
function compact(v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 0 ? undefined : v.map(compact);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v)) {
      const c = compact(val);
      if (c !== undefined) out[k] = c;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  return v === '' || v === 0 || v === null ? undefined : v;
}

/** The networking part of a create body. */
function networkingOf(body: any): unknown {
  const h = body.HostConfig;
  return {
    Hostname: body.Hostname,
    Domainname: body.Domainname,
    ExposedPorts: compact(body.ExposedPorts),
    NetworkMode: h.NetworkMode,
    PortBindings: compact(h.PortBindings),
    PublishAllPorts: h.PublishAllPorts,
    Dns: compact(h.Dns),
    DnsOptions: compact(h.DnsOptions),
    DnsSearch: compact(h.DnsSearch),
    ExtraHosts: compact(h.ExtraHosts),
    Links: compact(h.Links),
    // Which endpoints exist matters (an empty one for "default"), then what they hold.
    Endpoints: Object.keys(body.NetworkingConfig.EndpointsConfig).sort(),
    EndpointsConfig: compact(body.NetworkingConfig.EndpointsConfig),
  };
}

// ---- create/run flags ----------------------------------------------------------------

describe('create flags → body, as the docker CLI sends it', { skip: noDocker }, () => {
  const cases: string[][] = [
    [],
    ['--network', 'mynet'],
    ['--network', 'host'],
    ['--network', 'none', '--mac-address', '02:42:ac:11:00:02'],
    ['--network', 'container:abc'],
    ['--mac-address', '02:42:ac:11:00:02', '--link', 'other:o'],
    ['--network', 'mynet', '--network-alias', 'a1', '--network-alias', 'a2', '--ip', '172.30.0.5', '--ip6', 'fd00::5', '--link', 'other:o', '--link', 'db'],
    ['--network', 'mynet', '--network', 'other', '--ip', '172.30.0.4'],
    ['--network', 'name=mynet,alias=a,alias=b,driver-opt=k=v,mac-address=02:42:ac:11:00:03,ip6=fd00::3,link-local-ip=169.254.0.3'],
    ['--net', 'mynet', '--net-alias', 'x'],
    ['--network', 'bridge', '--ip', '1.2.3.4'],
    ['--dns', '1.1.1.1', '--dns', '::1', '--dns-search', 'ex.com', '--dns-option', 'ndots:2', '--dns-opt', 'edns0'],
    ['--add-host', 'h:1.2.3.4', '--add-host', 'g=10.0.0.1', '--add-host', 'gw:host-gateway', '--add-host', 'v6:::1', '--add-host', '[v6]:::1'],
    ['--hostname', 'hh', '--domainname', 'dd.example'],
    ['-p', '8000-8001:80-81', '-p', '127.0.0.1::90', '-p', '53:53/udp', '-p', '9000-9001:91', '-p', '[::1]:8081:82', '-p', '7000', '-P'],
    ['--expose', '7000-7001', '--expose', '99/udp', '-p', '80'],
  ];
  for (const flags of cases) {
    test(`create ${flags.join(' ') || '(no flags)'}`, async () => {
      const want = await docker(['create', ...flags, 'busybox']);
      assert.equal(want.code, 0, want.stderr);
      const got = await berth(['create', ...flags, 'busybox']);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(got.requests.length, 1);
      assert.deepEqual(networkingOf(got.requests[0]?.body), networkingOf(want.requests[0]?.body));
    });
  }

  const refused: [string[], RegExp][] = [
    [['--network-alias', 'x'], /network-scoped aliases are only supported for user-defined networks/],
    [['--network', 'host', '--network-alias', 'x'], /network-scoped aliases are only supported for user-defined networks/],
    [['--network', 'mynet', '--network', 'host'], /cannot attach both user-defined and non-user-defined network-modes/],
    [['--network', 'mynet', '--network', 'mynet'], /network "mynet" is specified multiple times/],
    [['--network', 'name=mynet,alias=x', '--network-alias', 'y'], /cannot specify both --network-alias and per-network alias/],
    [['--network', 'name=a,foo=b'], /invalid field key foo/],
    [['--mac-address', '02:42'], /02:42 is not a valid mac address/],
    [['--dns', 'nope'], /IP address is not correctly formatted: nope/],
    [['--add-host', 'foo'], /bad format for add-host: "foo"/],
    [['--add-host', 'foo:bar'], /invalid IP address in add-host: "bar"/],
    [['--link', 'a:b:c'], /bad format for links: a:b:c/],
  ];
  for (const [flags, message] of refused) {
    test(`create ${flags.join(' ')} is refused before any request`, async () => {
      const want = await docker(['create', ...flags, 'busybox']);
      assert.notEqual(want.code, 0);
      assert.match(want.stderr, message);
      const got = await berth(['create', ...flags, 'busybox']);
      assert.equal(got.code, 125);
      assert.match(got.stderr, message);
      assert.deepEqual(got.requests, []);
    });
  }
});

// ---- network verbs ---------------------------------------------------------------------

describe('berth network and port, side by side with docker', { skip: noDocker }, () => {
  const same: { args: string[]; stdin?: string }[] = [
    { args: ['network', 'create', '--subnet', '172.30.0.0/16', '--gateway', '172.30.0.1', '--ip-range', '172.30.5.0/24', '--internal', '--label', 'a=b', '--label', 'c', '-o', 'com.docker.network.bridge.name=br9', '--opt', 'x=y', '-d', 'bridge', '--attachable', 'mynet'] },
    { args: ['network', 'create', 'plain'] },
    { args: ['network', 'create', 'warned'] },
    { args: ['network', 'create', '--subnet', '172.31.0.0/16', '--subnet', '172.32.0.0/16', '--gateway', '172.32.0.1', '--ip-range', '172.31.1.0/24', 'two'] },
    { args: ['network', 'create', '--ipv6', '--subnet', 'fd00::/64', '--gateway', 'fd00::1', '--ipam-opt', 'k=v', 'six'] },
    { args: ['network', 'create', '--subnet', 'bad', 'x'] },
    { args: ['network', 'connect', '--alias', 'a1', '--alias', 'a2', '--ip', '172.30.0.7', '--ip6', 'fd00::7', '--link', 'c:d', '--driver-opt', 'k=v', 'net10', 'ctr'] },
    { args: ['network', 'connect', 'net10', 'ctr'] },
    { args: ['network', 'connect', 'nope', 'ctr'] },
    { args: ['network', 'disconnect', '-f', 'net10', 'ctr'] },
    { args: ['network', 'disconnect', 'net10', 'ctr'] },
    { args: ['network', 'prune'], stdin: 'y\n' },
    { args: ['network', 'prune'], stdin: 'n\n' },
    { args: ['network', 'prune', '-f', '--filter', 'label=a=b', '--filter', 'until=1h'] },
    { args: ['network', 'ls'] },
    { args: ['network', 'ls', '--no-trunc'] },
    { args: ['network', 'ls', '-q', '--filter', 'driver=bridge'] },
    { args: ['network', 'ls', '-q', '--no-trunc'] },
    { args: ['network', 'ls', '--format', '{{.Name}} {{.ID}} {{.Driver}} {{.Scope}} {{.IPv6}} {{.Internal}} {{.Labels}} {{.CreatedAt}}'] },
    { args: ['network', 'ls', '--format', 'table {{.Name}}\t{{.Internal}}'] },
    { args: ['network', 'inspect', 'net10'] },
    { args: ['network', 'inspect', '-f', '{{.Name}} {{.IPAM.Driver}} {{.Internal}}', 'net10', 'net9'] },
    { args: ['network', 'inspect', 'net10', 'nope'] },
    { args: ['network', 'rm', 'net10', 'net9'] },
    { args: ['network', 'rm', 'nope', 'net9'] },
    { args: ['network', 'rm', '-f', 'nope'] },
    { args: ['port', 'web'] },
    { args: ['port', 'web', '80'] },
    { args: ['port', 'web', '443/tcp'] },
    { args: ['port', 'web', '9000/udp'] },
    { args: ['port', 'web', '53/udp'] },
    { args: ['port', 'web', '81'] },
    { args: ['port', 'web', 'abc'] },
    { args: ['port', 'nope'] },
  ];
  for (const { args, stdin } of same) {
    test(`${args.join(' ')}${stdin ? ` <<< ${JSON.stringify(stdin)}` : ''}`, async () => {
      const want = await docker(args, stdin);
      const got = await berth(args, stdin);
      assert.deepEqual(got.requests.map(comparable), want.requests.map(comparable));
      assert.equal(got.stdout, want.stdout);
      // docker 28's `network rm` ends a partial failure with its StatusError's text.
      assert.equal(got.stderr, want.stderr.replace(/^docker: /, '').replace(/exit status 1\n$/, ''));
      assert.equal(got.code, want.code);
    });
  }

  test('network create checks IPAM flags before asking the engine', async () => {
    const cases: [string[], string][] = [
      [['--gateway', '1.2.3.4'], 'every ip-range or gateway must have a corresponding subnet'],
      [['--subnet', '10.0.0.0/8', '--gateway', '11.0.0.1'], 'no matching subnet for gateway 11.0.0.1'],
      [['--subnet', '10.0.0.0/8', '--subnet', '10.1.0.0/16'], 'multiple overlapping subnet configuration is not supported'],
      [['--subnet', '10.0.0.0/8', '--ip-range', 'bad'], 'invalid CIDR address: bad'],
      [['--subnet', '10.0.0.0/8', '--ip-range', '11.0.0.0/24'], 'no matching subnet for range 11.0.0.0/24'],
    ];
    for (const [flags, message] of cases) {
      const want = await docker(['network', 'create', ...flags, 'n']);
      assert.notEqual(want.code, 0);
      assert.ok(want.stderr.includes(message), want.stderr);
      const got = await berth(['network', 'create', ...flags, 'n']);
      assert.equal(got.code, 125);
      assert.ok(got.stderr.startsWith(`${message}\n`), got.stderr);
      assert.deepEqual(got.requests, []);
    }
  });
});

// ---- the client alone ------------------------------------------------------------------

describe('client.networks against the fake engine', () => {
  test('each call sends what the API expects and returns the answer', async () => {
    const client = new EngineClient({ host: `unix://${socketPath}` });
    try {
      requests = [];
      const list = await client.networks.list({ filters: { driver: ['bridge'] } });
      assert.deepEqual(list.map((n) => n.Name), ['net10', 'net9', 'bridge']);
      assert.equal((await client.networks.inspect('net9')).Id, 'b'.repeat(64));
      const created = await client.networks.create({
        Name: 'n1',
        Driver: 'bridge',
        IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: '10.5.0.0/16' }] },
        Internal: false,
        Attachable: false,
        Ingress: false,
        ConfigOnly: false,
        ConfigFrom: null,
        Options: {},
        Labels: {},
      });
      assert.equal(created.Id, 'e'.repeat(64));
      await client.networks.connect('net10', 'ctr', { Aliases: ['x'], IPAMConfig: { IPv4Address: '172.30.0.9' } });
      await client.networks.disconnect('net10', 'ctr', { force: true });
      await client.networks.remove('net9');
      assert.deepEqual((await client.networks.prune({ filters: { until: ['1h'] } })).NetworksDeleted, ['net9', 'net10']);
      await assert.rejects(client.networks.inspect('nope'), (e: unknown) => e instanceof EngineError && e.code === 'NOT_FOUND' && e.message === 'network nope not found');
      assert.deepEqual(
        requests.map((r) => `${r.method} ${decodeURIComponent(r.url)}${r.body ? ` ${JSON.stringify(r.body)}` : ''}`),
        [
          'GET /networks?filters={"driver":["bridge"]}',
          'GET /networks/net9',
          'POST /networks/create {"Name":"n1","Driver":"bridge","IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.5.0.0/16"}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{}}',
          'POST /networks/net10/connect {"Container":"ctr","EndpointConfig":{"Aliases":["x"],"IPAMConfig":{"IPv4Address":"172.30.0.9"}}}',
          'POST /networks/net10/disconnect {"Container":"ctr","Force":true}',
          'DELETE /networks/net9',
          'POST /networks/prune?filters={"until":["1h"]}',
          'GET /networks/nope',
        ],
      );
    } finally {
      client.close();
    }
  });
});

// ---- pure helpers ----------------------------------------------------------------------

describe('helpers', () => {
  test('ipamPools assigns gateways and ranges to the subnet that contains them', () => {
    assert.deepEqual(ipamPools(['10.1.0.0/16', 'fd00:1::/64'], ['10.1.2.0/24'], ['fd00:1::1', '10.1.0.254']), [
      { Subnet: '10.1.0.0/16', IPRange: '10.1.2.0/24', Gateway: '10.1.0.254' },
      { Subnet: 'fd00:1::/64', Gateway: 'fd00:1::1' },
    ]);
    assert.throws(() => ipamPools(['10.0.0.0/8', '11.0.0.0/8'], [], ['10.0.0.1', '10.0.0.2']), /cannot configure multiple gateways \(10\.0\.0\.2, 10\.0\.0\.1\) for the same subnet \(10\.0\.0\.0\/8\)/);
    assert.throws(() => ipamPools(['10.0.0.0/8', '11.0.0.0/8'], ['10.1.0.0/16', '10.2.0.0/16'], []), /cannot configure multiple ranges/);
    assert.throws(() => ipamPools(['fd00::/48', 'fd00:0:0:1::/64'], [], []), /overlapping/);
    assert.deepEqual(ipamPools(['10.0.0.0/16', '10.1.0.0/16'], [], []).length, 2);
  });

  test('--network forms', () => {
    assert.deepEqual(parseNetworkFlag('mynet'), { target: 'mynet', aliases: [], links: [], linkLocalIPs: [], driverOpts: {} });
    assert.deepEqual(parseNetworkFlag('name=n,alias=a,ip=10.0.0.2'), { target: 'n', aliases: ['a'], links: [], linkLocalIPs: [], driverOpts: {}, ipv4: '10.0.0.2' });
    assert.throws(() => parseNetworkFlag('alias=a'), UsageError);
    const body = buildCreateRequest(parseArgs(['--network', 'n', '-p', '80', 'img'], CONTAINER_FLAGS, { interspersed: false }), { env: {}, detach: true }).body;
    assert.equal(body.HostConfig.NetworkMode, 'n');
    assert.deepEqual(body.NetworkingConfig.EndpointsConfig, {});
  });

  test('--add-host normalises host=ip to host:ip', () => {
    assert.equal(parseExtraHost('a=10.0.0.1'), 'a:10.0.0.1');
    assert.equal(parseExtraHost('a:[::1]'), 'a:[::1]');
    assert.throws(() => parseExtraHost(':1.2.3.4'), /bad format/);
  });

  test('natural order and port lines', () => {
    assert.deepEqual(['net10', 'net9', 'bridge', 'net1'].sort(naturalCompare), ['bridge', 'net1', 'net9', 'net10']);
    assert.equal(networkRows([{ ...NET_A, Labels: { z: '1', a: '2' } }], false)[0]?.['Labels'], 'a=2,z=1');
    assert.deepEqual(portLines(PORTS, 'web'), ['80/tcp -> 0.0.0.0:8080', '80/tcp -> [::]:8080', '443/tcp -> 127.0.0.1:8443', '9000/udp -> 0.0.0.0:9000']);
    assert.throws(() => portLines(PORTS, 'web', '53/udp'), /No public port '53\/udp' published for web/);
  });
});

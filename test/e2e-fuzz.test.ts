// A bounded, seeded fuzz of the API's request decoding: thousands of mutated requests over the
// main endpoints (container create, update and exec, network create and connect, volume create,
// commit, image tag, and the query parameters of the container, image, volume, network and
// event routes). Every answer must be below 500, the daemon must stay up, the real docker CLI
// must still list and inspect every container afterwards, and a refused create must leave no
// container behind.
//
// Reproduce a run with the seed it prints: BERTH_FUZZ_SEED=<seed> (BERTH_FUZZ_COUNT=<n> for the
// number of requests; default 2400).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { docker } from './harness/docker.js';
import { containerSkip as skip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';

const SEED = Number(process.env['BERTH_FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const COUNT = Number(process.env['BERTH_FUZZ_COUNT'] ?? 2400);

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(SEED);
const int = (n: number): number => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;

/** Field names dockerd knows, so mutations reach past the top level. */
const KEYS = [
  'HostConfig', 'Memory', 'MemorySwap', 'Binds', 'Mounts', 'Type', 'Target', 'Source', 'ReadOnly', 'VolumeOptions', 'Subpath', 'NoCopy',
  'BindOptions', 'Propagation', 'TmpfsOptions', 'SizeBytes', 'Mode', 'PortBindings', '80/tcp', 'HostPort', 'HostIp', 'RestartPolicy',
  'Name', 'MaximumRetryCount', 'LogConfig', 'Config', 'NetworkMode', 'Links', 'Dns', 'DnsSearch', 'ExtraHosts', 'CapAdd', 'CapDrop',
  'Ulimits', 'Soft', 'Hard', 'Devices', 'PathOnHost', 'PathInContainer', 'Tmpfs', 'IPAM', 'Subnet', 'Gateway', 'IPRange',
  'EndpointConfig', 'EndpointsConfig', 'NetworkingConfig', 'IPAMConfig', 'IPv4Address', 'Aliases', 'MacAddress', 'DriverOpts',
  'Labels', 'Env', 'Cmd', 'Entrypoint', 'User', 'WorkingDir', 'Healthcheck', 'Test', 'Interval', 'Retries', 'StopSignal',
  'StopTimeout', 'ExposedPorts', 'Volumes', 'Hostname', 'Domainname', 'Tty', 'OpenStdin', 'StdinOnce', 'Init', 'GroupAdd',
  'SecurityOpt', 'Sysctls', 'ShmSize', 'ConsoleSize', 'PidsLimit', 'CpusetCpus', 'NanoCpus', 'CpuQuota', 'CpuPeriod', 'CpuShares',
  'BlkioWeight', 'OomScoreAdj', 'Privileged', 'ReadonlyRootfs', 'AutoRemove', 'VolumesFrom', 'Runtime', 'Annotations', 'Driver',
  'Options', 'Internal', 'EnableIPv6', 'Container', 'Force', 'Detach', 'DetachKeys', 'AttachStdin', 'AttachStdout', 'Privileged',
  'DeviceCgroupRules', 'MemorySwappiness', 'OomKillDisable', 'KernelMemory', 'Image', 'image', 'hostconfig', '__proto__', 'constructor',
] as const;

const STRINGS = [
  '', 'x', '/', '/tmp', '../../etc', 'a\u0000b', 'ctrl-p,ctrl-q', 'x'.repeat(2000), '\u00e9\u4e2d', '%', '%00', 'bridge', 'host', 'none',
  'container:nope', 'default', '1g', '-1', '0', 'true', 'SIGKILL', 'KILL', '99', 'on-failure', 'always', 'json-file', 'none', 'local',
  'tmpfs', 'volume', 'bind', '10.0.0.0/8', '172.31.250.0/24', '::1', '02:42:ac:11:00:0a', 'nobody', '1000', 'ALL', 'NET_ADMIN',
  'seccomp=unconfined', 'no-new-privileges', '/dev/null', 'c 1:3 rwm', 'host-gateway', 'a:b:c:d', 'CMD-SHELL', 'NONE',
] as const;

const NUMBERS = [0, 1, -1, 2, 1.5, -0.5, 255, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 63), 1e300, 6 * 1024 * 1024, 4 << 20, 1e9] as const;

function randomValue(depth = 0): unknown {
  switch (int(depth > 2 ? 4 : 7)) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return pick(NUMBERS);
    case 3:
      return pick(STRINGS);
    case 4:
      return Array.from({ length: int(4) }, () => randomValue(depth + 1));
    case 5: {
      const o: Record<string, unknown> = {};
      for (let i = int(4); i > 0; i--) o[rand() < 0.8 ? pick(KEYS) : pick(STRINGS)] = randomValue(depth + 1);
      return o;
    }
    default:
      return Array.from({ length: 1 + int(3) }, () => pick(STRINGS));
  }
}

type Json = Record<string, unknown> | unknown[];

/** Every container (object or array) inside a document, with the document itself. */
function containersOf(doc: unknown, out: Json[] = []): Json[] {
  if (typeof doc === 'object' && doc !== null) {
    out.push(doc as Json);
    for (const v of Object.values(doc)) containersOf(v, out);
  }
  return out;
}

/** One to three random edits somewhere in a (copied) document. */
function mutate(base: unknown): unknown {
  const doc = structuredClone(base) as Record<string, unknown>;
  for (let n = 1 + int(3); n > 0; n--) {
    const target = pick(containersOf(doc));
    const keys = Object.keys(target);
    const key = Array.isArray(target) ? String(int(target.length + 1)) : keys.length > 0 && rand() < 0.75 ? pick(keys) : pick(KEYS);
    const obj = target as Record<string, unknown>;
    switch (int(5)) {
      case 0:
        delete obj[key];
        break;
      case 1:
        // Another case of the same key (Go matches names case-insensitively).
        if (!Array.isArray(target) && key in obj) {
          obj[rand() < 0.5 ? key.toLowerCase() : key.toUpperCase()] = obj[key];
          break;
        }
        obj[key] = randomValue();
        break;
      default:
        obj[key] = randomValue();
    }
  }
  return doc;
}

/** A body as it goes on the wire: usually the mutated JSON, sometimes broken text. */
function wireBody(doc: unknown): string {
  const text = JSON.stringify(doc);
  switch (int(20)) {
    case 0:
      return text.slice(0, int(text.length));
    case 1:
      return `${text} {}`;
    case 2:
      return pick(['', 'null', '[]', '"x"', '1', 'true', '{', '{"a":}', '\u0000', '{"Image": "\ud800"}']);
    default:
      return text;
  }
}

/** A query string from base parameters, with values replaced, dropped or added. */
function mutateQuery(base: Record<string, string>): string {
  const q = new URLSearchParams(base);
  for (let n = 1 + int(3); n > 0; n--) {
    const keys = [...q.keys()];
    const key = keys.length > 0 && rand() < 0.8 ? pick(keys) : pick(['all', 'limit', 'filters', 't', 'signal', 'tail', 'since', 'until', 'force', 'v', 'h', 'w', 'tag', 'repo', 'path', 'name', 'size', 'stdout', 'stderr', 'condition', 'link', 'noprune', 'pause', 'changes']);
    const r = int(4);
    if (r === 0) q.delete(key);
    else if (r === 1) q.set(key, JSON.stringify(randomValue()));
    else q.set(key, String(pick([...STRINGS, ...NUMBERS, 'all', '{"label":["a"]}', '{"label":{"a":true}}', '{"status":["bogus"]}', '{"dangling":["maybe"]}'])));
  }
  return q.toString();
}

interface FuzzRequest {
  method: string;
  path: string;
  body?: string;
}

let env: ContainerEnv;

before(async () => {
  if (!skip) env = await startContainerEnv({ pull: true });
});

after(async () => {
  if (!skip) await stopContainerEnv(env);
});

test(`fuzzed requests never get a 5xx, the daemon stays up, and nothing half-made is left (seed ${SEED})`, { skip, timeout: 30 * 60_000 }, async (t) => {
  t.diagnostic(`BERTH_FUZZ_SEED=${SEED} BERTH_FUZZ_COUNT=${COUNT}`);
  console.log(`e2e-fuzz: seed ${SEED}, ${COUNT} requests (BERTH_FUZZ_SEED=${SEED} reproduces this run)`);
  const ref = env.ref;
  const runner = (await env.ok(['run', '-d', '--name', 'fz-runner', ref, 'sleep', '3600'])).trim();
  const idle = (await env.ok(['create', '--name', 'fz-idle', ref, 'true'])).trim();
  // Subnets outside the default pools, which other daemons on a shared host may have used up.
  await env.ok(['network', 'create', '--subnet', `10.252.${SEED % 250}.0/24`, 'fz-net']);
  await env.ok(['volume', 'create', 'fz-vol']);
  // A running exec to resize (resizing one that never started waits for it, as in dockerd).
  const exec = JSON.parse((await env.daemon.request('POST', `/containers/${runner}/exec`, { Cmd: ['sleep', '3600'] })).body.toString()).Id as string;
  assert.equal((await env.daemon.request('POST', `/exec/${exec}/start`, { Detach: true })).status, 200);

  const createBase = {
    Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false, OpenStdin: false, StdinOnce: false,
    Env: ['A=1'], Cmd: ['true'], Image: ref, Volumes: { '/data': {} }, WorkingDir: '/', Entrypoint: null, Labels: { fuzz: '1' },
    ExposedPorts: { '80/tcp': {} }, StopSignal: 'SIGTERM', StopTimeout: 5,
    Healthcheck: { Test: ['CMD', 'true'], Interval: 1e9, Retries: 1 },
    HostConfig: {
      Binds: ['fz-vol:/v:ro'], NetworkMode: 'bridge', PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, AutoRemove: false, CapAdd: ['NET_ADMIN'], CapDrop: null, Dns: ['1.1.1.1'],
      ExtraHosts: ['h:10.0.0.1'], GroupAdd: ['1000'], Init: false, Memory: 64 << 20, NanoCpus: 5e8, PidsLimit: 100, Ulimits: [{ Name: 'nofile', Soft: 100, Hard: 200 }],
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } }, Tmpfs: { '/run': 'size=1m' }, ShmSize: 1 << 20, SecurityOpt: ['no-new-privileges'],
      Mounts: [{ Type: 'volume', Source: 'fz-vol', Target: '/m', VolumeOptions: { Subpath: 'sub', NoCopy: true } }, { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1 << 20 } }],
      ConsoleSize: [24, 80], OomScoreAdj: 0,
    },
    NetworkingConfig: { EndpointsConfig: { bridge: { Aliases: null, DriverOpts: { k: 'v' }, MacAddress: '' } } },
  };
  const updateBase = { Memory: 128 << 20, MemorySwap: 256 << 20, CpuShares: 512, PidsLimit: 200, RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } };
  const execBase = { AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false, Env: ['X=1'], WorkingDir: '/', User: '', Privileged: false, DetachKeys: 'ctrl-p,ctrl-q', Cmd: ['true'], ConsoleSize: [24, 80] };
  const netBase = { Name: 'fz-n', Driver: 'bridge', Internal: false, Attachable: false, EnableIPv6: false, IPAM: { Driver: 'default', Config: [{ Subnet: '10.251.0.0/24', Gateway: '10.251.0.1' }], Options: {} }, Options: {}, Labels: { a: 'b' } };
  const connectBase = { Container: idle, EndpointConfig: { Aliases: ['al'], IPAMConfig: { IPv4Address: '' }, DriverOpts: { k: 'v' }, MacAddress: '' } };
  const volBase = { Name: 'fz-v', Driver: 'local', DriverOpts: {}, Labels: { a: 'b' } };
  const commitBase = { Cmd: ['sh'], Env: ['B=2'], Labels: { c: 'd' }, ExposedPorts: { '90/tcp': {} } };

  let commits = 0;
  const generators: (() => FuzzRequest)[] = [
    () => ({ method: 'POST', path: `/v1.47/containers/create?${mutateQuery({ name: `fz-c${int(1e6)}` })}`, body: wireBody(mutate(createBase)) }),
    () => ({ method: 'POST', path: `/v1.47/containers/create`, body: wireBody(mutate(createBase)) }),
    () => ({ method: 'POST', path: `/v1.47/containers/${pick([runner, idle])}/update`, body: wireBody(mutate(updateBase)) }),
    () => ({ method: 'POST', path: `/v1.47/containers/${runner}/exec`, body: wireBody(mutate(execBase)) }),
    () => ({ method: 'POST', path: `/v1.47/exec/${exec}/resize?${mutateQuery({ h: '24', w: '80' })}` }),
    () => ({ method: 'POST', path: `/v1.47/networks/create`, body: wireBody(mutate({ ...netBase, Name: `fz-n${int(1e6)}` })) }),
    () => ({ method: 'POST', path: `/v1.47/networks/fz-net/connect`, body: wireBody(mutate(connectBase)) }),
    () => ({ method: 'POST', path: `/v1.47/networks/fz-net/disconnect`, body: wireBody(mutate({ Container: idle, Force: false })) }),
    () => ({ method: 'POST', path: `/v1.47/volumes/create`, body: wireBody(mutate({ ...volBase, Name: `fz-v${int(1e6)}` })) }),
    () => {
      // Commits write images: a bounded share of the run.
      commits++;
      if (commits > 60) return { method: 'GET', path: `/v1.47/containers/json?${mutateQuery({ all: '1', filters: '{"label":["fuzz"]}' })}` };
      return { method: 'POST', path: `/v1.47/commit?${mutateQuery({ container: idle, repo: 'fz/commit', tag: 't', pause: 'false' })}`, body: wireBody(mutate(commitBase)) };
    },
    () => ({ method: 'POST', path: `/v1.47/images/${encodeURIComponent(ref)}/tag?${mutateQuery({ repo: 'fz/tag', tag: 'x' })}` }),
    () => ({ method: 'GET', path: `/v1.47/containers/json?${mutateQuery({ all: '1', limit: '5', size: '0', filters: '{"status":["running"]}' })}` }),
    () => ({ method: 'GET', path: `/v1.47/containers/${runner}/logs?${mutateQuery({ stdout: '1', stderr: '1', tail: '5', since: '0', timestamps: '0' })}` }),
    () => ({ method: 'POST', path: `/v1.47/containers/${idle}/stop?${mutateQuery({ t: '1', signal: 'SIGTERM' })}` }),
    () => ({ method: 'POST', path: `/v1.47/containers/${idle}/kill?${mutateQuery({ signal: 'SIGKILL' })}` }),
    () => ({ method: 'POST', path: `/v1.47/containers/${idle}/resize?${mutateQuery({ h: '24', w: '80' })}` }),
    () => ({ method: 'HEAD', path: `/v1.47/containers/${idle}/archive?${mutateQuery({ path: '/etc/passwd' })}` }),
    () => ({ method: 'GET', path: `/v1.47/images/json?${mutateQuery({ all: '0', filters: '{"dangling":["true"]}' })}` }),
    () => ({ method: 'GET', path: `/v1.47/volumes?${mutateQuery({ filters: '{"dangling":["true"]}' })}` }),
    () => ({ method: 'GET', path: `/v1.47/networks?${mutateQuery({ filters: '{"driver":["bridge"]}' })}` }),
    // Bounded in time (until is in the past), so the stream ends at once.
    () => ({ method: 'GET', path: `/v1.47/events?${mutateQuery({ filters: '{"type":["container"]}' })}&since=1&until=2` }),
  ];

  try {
    const failures: string[] = [];
    const statuses = new Map<string, number>();
    const created = new Set<string>();
    const namedVolumes = new Set<string>(['fz-vol']);
    for (let i = 0; i < COUNT; i++) {
      const r = pick(generators)();
      const res = await env.daemon.request(r.method, r.path, r.body, r.body !== undefined ? { 'Content-Type': 'application/json' } : {});
      const route = `${r.method} ${r.path.replace(/\?.*$/, '').replace(/[0-9a-f]{64}/g, '<id>').replace(/fz-[a-z]\d+/g, 'fz-*')}`;
      const bucket = `${route} ${Math.floor(res.status / 100)}xx`;
      statuses.set(bucket, (statuses.get(bucket) ?? 0) + 1);
      if (res.status >= 500) failures.push(`#${i} ${res.status} ${r.method} ${r.path.slice(0, 300)} ${(r.body ?? '').slice(0, 1000)} -> ${res.body.toString().slice(0, 300)}`);
      if (res.status === 201 && r.path.includes('/containers/create')) created.add(res.json<{ Id: string }>().Id);
      if (res.status === 201 && r.path.includes('/volumes/create')) namedVolumes.add(res.json<{ Name: string }>().Name);
      if (failures.length >= 10) break;
    }
    t.diagnostic([...statuses.entries()].sort().map(([k, n]) => `${k}: ${n}`).join('\n'));
    assert.deepEqual(failures, [], `seed ${SEED}`);
    assert.ok(created.size > 0, 'some mutated creates are still valid (the fuzz reaches past the decoder)');

    // The daemon is up and the real CLI reads everything it holds.
    assert.equal((await env.daemon.request('GET', '/_ping')).status, 200);
    const ids = (await env.ok(['ps', '-a', '-q', '--no-trunc'])).trim().split('\n').filter(Boolean).sort();
    assert.deepEqual(ids, [...new Set([runner, idle, ...created])].sort(), 'exactly the containers whose create succeeded');
    const inspected = JSON.parse(await env.ok(['inspect', ...ids])) as { Id: string }[];
    assert.equal(inspected.length, ids.length);
    const dirs = (await fsp.readdir(path.join(env.daemon.dataRoot, 'containers'))).sort();
    assert.deepEqual(dirs, ids, 'no directory of a refused create');
    // Anonymous volumes are made for a create only once it is known to be good.
    const dangling = (await env.ok(['volume', 'ls', '-q', '--filter', 'dangling=true'])).trim().split('\n').filter(Boolean);
    assert.deepEqual(dangling.filter((v) => !namedVolumes.has(v)), [], 'no anonymous volume left by a refused create');

  } finally {
    // Clean up what the valid requests made, whatever happened above.
    const left = (await env.ok(['ps', '-a', '-q', '--no-trunc'])).trim().split('\n').filter(Boolean);
    if (left.length > 0) await docker(env.daemon, ['rm', '-f', '-v', ...left]);
    const nets = (await env.ok(['network', 'ls', '--format', '{{.Name}}', '--filter', 'name=fz-'])).trim().split('\n').filter(Boolean);
    for (const n of nets) await docker(env.daemon, ['network', 'rm', n]);
    await docker(env.daemon, ['volume', 'prune', '-a', '-f']);
    const images = (await env.ok(['images', '-q', '--filter', 'reference=fz/*'])).trim().split('\n').filter(Boolean);
    if (images.length > 0) await docker(env.daemon, ['rmi', '-f', ...new Set(images)]);
  }
});

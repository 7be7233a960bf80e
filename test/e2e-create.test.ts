// The typed create path end to end, through the real docker CLI where it has a flag: malformed
// bodies are 400s that leave nothing behind, --init, --group-add, --log-driver none and
// --log-opt max-file alone, volume subpaths (and their symlink escapes), endpoint DriverOpts and
// MacAddress, and records written by the old code still read after an upgrade.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { docker } from './harness/docker.js';
import { containerSkip as skip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';

const TINI = existsSync('/usr/bin/tini-static');

let env: ContainerEnv;

before(async () => {
  if (!skip) env = await startContainerEnv({ pull: true });
});

after(async () => {
  if (!skip) await stopContainerEnv(env);
});

const inspect = async (ref: string): Promise<any> => JSON.parse(await env.ok(['inspect', ref]))[0];
const containerDirs = async (): Promise<string[]> => (await fsp.readdir(path.join(env.daemon.dataRoot, 'containers'))).sort();

test('malformed create bodies are 400s naming the field, and nothing is stored', { skip }, async () => {
  const before = await containerDirs();
  const cases: [unknown, RegExp][] = [
    [{ Image: env.ref, Labels: { a: true } }, /^invalid JSON: json: cannot unmarshal bool into Go struct field CreateRequest\.Labels of type string$/],
    [{ Image: env.ref, Env: {} }, /CreateRequest\.Env of type \[\]string/],
    [{ Image: env.ref, Cmd: [1, 2] }, /CreateRequest\.Cmd of type string/],
    [{ Image: env.ref, HostConfig: { Memory: 'lots' } }, /HostConfig\.HostConfig\.Memory of type int64/],
    [{ Image: env.ref, HostConfig: { LogConfig: { Type: 'asdf' } } }, /^logger: no log driver named 'asdf' is registered$/],
    [{ Image: env.ref, HostConfig: { Mounts: [{ Type: 'volume', Source: 'v1', Target: '/d', VolumeOptions: { Subpath: '../up' } }] } }, /subpath must be a relative path within the volume/],
    [{ Image: env.ref, HostConfig: { Mounts: [{ Type: 'volume', Target: '/d', VolumeOptions: { Subpath: 'a' } }] } }, /must not set Subpath when using anonymous volumes/],
    [{ Image: env.ref, NetworkingConfig: { EndpointsConfig: { bridge: { MacAddress: 'not-a-mac' } } } }, /invalid MAC address/],
  ];
  for (const [body, message] of cases) {
    const r = await env.daemon.request('POST', '/v1.47/containers/create', body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.body.toString()}`);
    assert.match(r.json<{ message: string }>().message, message);
  }
  const empty = await env.daemon.request('POST', '/v1.47/containers/create', '', { 'Content-Type': 'application/json' });
  assert.equal(empty.status, 400);
  assert.deepEqual(await containerDirs(), before, 'no container directory for a refused create');
  assert.equal((await env.ok(['ps', '-a', '-q'])).trim(), '', 'no record either');
  // A string where Docker takes a StrSlice is fine, as with dockerd.
  const ok = await env.daemon.request('POST', '/v1.47/containers/create', { Image: env.ref, Cmd: 'true', Labels: { a: 'b' } });
  assert.equal(ok.status, 201, ok.body.toString());
  const id = ok.json<{ Id: string }>().Id;
  assert.deepEqual((await inspect(id)).Config.Cmd, ['true']);
  assert.match(await env.ok(['ps', '-a', '--format', '{{.ID}} {{.Labels}}']), /a=b/);
  await env.ok(['rm', id]);
});

test('a container that never ran has its own (empty) layer: commit and diff work on it', { skip }, async () => {
  const id = (await env.ok(['create', env.ref, 'true'])).trim();
  try {
    assert.equal(await env.ok(['diff', id]), '');
    const image = (await env.ok(['commit', id, 'never-ran:1'])).trim();
    assert.match(image, /^sha256:[0-9a-f]{64}$/);
    await env.ok(['rmi', 'never-ran:1']);
  } finally {
    await env.ok(['rm', id]);
  }
});

test('docker run --init: tini (docker-init) is PID 1 and runs the command', { skip: skip || (!TINI && 'needs Debian\'s tini (tini-static)') }, async () => {
  const out = await env.ok(['run', '--rm', '--init', env.ref, 'ps', '-o', 'pid,comm']);
  const pid1 = out.split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[0] === '1');
  assert.deepEqual(pid1, ['1', 'docker-init'], out);
  assert.match(out, /\bps\b/);
  const id = (await env.ok(['create', '--init', env.ref, 'true'])).trim();
  assert.equal((await inspect(id)).HostConfig.Init, true);
  await env.ok(['start', '-a', id]);
  assert.equal((await inspect(id)).State.ExitCode, 0);
  await env.ok(['rm', id]);
  const info = JSON.parse(await env.ok(['info', '--format', '{{json .}}']));
  assert.equal(info.InitBinary, 'docker-init');
});

test('docker run --group-add: numbers and names from the image\'s /etc/group; unknown names refused', { skip }, async () => {
  const out = await env.ok(['run', '--rm', '--group-add', '1000', '--group-add', 'nobody', env.ref, 'id', '-G']);
  assert.deepEqual(out.trim().split(/\s+/), ['0', '1000', '65534']);
  const bad = await docker(env.daemon, ['run', '--rm', '--group-add', 'nosuchgroup', env.ref, 'true']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /Unable to find group nosuchgroup/);
});

test('log drivers: none keeps nothing and docker logs says so; max-file without max-size is accepted', { skip }, async () => {
  const out = await env.ok(['run', '--rm', '--log-driver', 'none', env.ref, 'echo', 'attached still']);
  assert.equal(out, 'attached still\n', 'attach does not go through the log');
  const id = (await env.ok(['run', '-d', '--log-driver', 'none', env.ref, 'sh', '-c', 'echo hidden; sleep 30'])).trim();
  try {
    assert.equal((await inspect(id)).HostConfig.LogConfig.Type, 'none');
    const logs = await docker(env.daemon, ['logs', id]);
    assert.notEqual(logs.code, 0);
    assert.match(logs.stderr, /configured logging driver does not support reading/);
    const logFile = path.join(env.daemon.dataRoot, 'containers', id, 'container.log');
    const size = await fsp.stat(logFile).then((s) => s.size, () => 0);
    assert.equal(size, 0, 'nothing written to the log file');
  } finally {
    await env.ok(['rm', '-f', id]);
  }
  const mf = (await env.ok(['create', '--log-opt', 'max-file=3', env.ref, 'true'])).trim();
  assert.deepEqual((await inspect(mf)).HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-file': '3' } });
  await env.ok(['start', '-a', mf]);
  await env.ok(['rm', mf]);
  const bad = await docker(env.daemon, ['create', '--log-driver', 'asdf', env.ref]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /logger: no log driver named 'asdf' is registered/);
});

test('--mount volume-subpath: a directory or file inside the volume, never through a symlink', { skip }, async () => {
  await env.ok(['volume', 'create', 'subvol']);
  try {
    await env.ok(['run', '--rm', '-v', 'subvol:/v', env.ref, 'sh', '-c', 'mkdir -p /v/sub/deeper && echo inside > /v/sub/f && echo top > /v/top && ln -s / /v/escape && ln -s sub /v/alias']);
    const ls = await env.ok(['run', '--rm', '--mount', 'type=volume,src=subvol,dst=/d,volume-subpath=sub', env.ref, 'sh', '-c', 'ls /d; cat /d/f; echo more > /d/g']);
    assert.equal(ls, 'deeper\nf\ninside\n');
    assert.equal(await env.ok(['run', '--rm', '-v', 'subvol:/v', env.ref, 'cat', '/v/sub/g']), 'more\n', 'writes land in the subpath');
    const file = await env.ok(['run', '--rm', '--mount', 'type=volume,src=subvol,dst=/etc/motd,volume-subpath=top,readonly', env.ref, 'cat', '/etc/motd']);
    assert.equal(file, 'top\n');
    for (const sub of ['escape', 'alias', 'escape/etc', 'missing']) {
      const r = await docker(env.daemon, ['run', '--rm', '--mount', `type=volume,src=subvol,dst=/d,volume-subpath=${sub}`, env.ref, 'ls', '/d']);
      assert.notEqual(r.code, 0, `${sub}: ${r.stdout}`);
      assert.match(r.stderr, /cannot access path/, sub);
    }
    // Nothing of the temporary subpath mounts is left.
    const mounts = await fsp.readFile('/proc/self/mountinfo', 'utf8');
    assert.equal(mounts.includes(path.join(env.daemon.execRoot, 'subpaths')), false);
  } finally {
    await env.ok(['volume', 'rm', 'subvol']);
  }
});

test('endpoint DriverOpts are kept and shown; the endpoint MacAddress is applied at create', { skip }, async () => {
  const r = await env.daemon.request('POST', '/v1.47/containers/create', {
    Image: env.ref,
    Cmd: ['sleep', '30'],
    HostConfig: { NetworkMode: 'bridge' },
    NetworkingConfig: { EndpointsConfig: { bridge: { DriverOpts: { 'com.example.setting': 'on' }, MacAddress: '02:42:ac:11:00:0a' } } },
  });
  assert.equal(r.status, 201, r.body.toString());
  const id = r.json<{ Id: string }>().Id;
  try {
    const created = (await inspect(id)).NetworkSettings.Networks.bridge;
    assert.deepEqual(created.DriverOpts, { 'com.example.setting': 'on' });
    assert.equal(created.MacAddress, '02:42:ac:11:00:0a', 'shown before the container runs');
    await env.ok(['start', id]);
    const running = (await inspect(id)).NetworkSettings;
    assert.deepEqual(running.Networks.bridge.DriverOpts, { 'com.example.setting': 'on' });
    assert.equal(running.MacAddress, '02:42:ac:11:00:0a');
    assert.equal((await env.ok(['exec', id, 'cat', '/sys/class/net/eth0/address'])).trim(), '02:42:ac:11:00:0a');
  } finally {
    await env.ok(['rm', '-f', id]);
  }
  // The CLI's --mac-address goes the same way.
  const cli = (await env.ok(['create', '--mac-address', '02:42:ac:11:00:0b', env.ref])).trim();
  assert.equal((await inspect(cli)).NetworkSettings.Networks.bridge.MacAddress, '02:42:ac:11:00:0b');
  await env.ok(['rm', cli]);
});

test('records the old code wrote (with labels it should have refused) still list, inspect and start after an upgrade', { skip }, async () => {
  const id = (await env.ok(['create', '--name', 'legacy', '--label', 'keep=me', env.ref, 'echo', 'from the old days'])).trim();
  const file = path.join(env.daemon.dataRoot, 'containers', id, 'config.json');
  const v2 = JSON.parse(await fsp.readFile(file, 'utf8'));
  await env.daemon.stop();
  // What version 1 wrote: the create body (changed in place by create) next to the merged Config.
  const v1 = {
    version: 1,
    Id: v2.Id,
    Name: v2.Name,
    Created: v2.Created,
    Image: v2.Image,
    ImageID: v2.ImageID,
    Create: { ...v2.Config, Labels: { keep: 'me', broken: true }, HostConfig: v2.HostConfig, NetworkingConfig: { EndpointsConfig: v2.Endpoints } },
    Config: { ...v2.Config, Labels: { keep: 'me', broken: true } },
    Path: v2.Path,
    Args: v2.Args,
    State: v2.State,
    RestartCount: 0,
    MountPoints: v2.MountPoints,
  };
  await fsp.writeFile(file, JSON.stringify(v1));
  await env.daemon.restart();
  assert.match(await env.ok(['ps', '-a', '--format', '{{.Names}} {{.Labels}}']), /legacy .*broken=true/);
  assert.equal((await inspect('legacy')).Config.Labels.broken, 'true');
  assert.equal(await env.ok(['start', '-a', 'legacy']), 'from the old days\n');
  assert.equal(JSON.parse(await fsp.readFile(file, 'utf8')).version, 2, 'written back in the new shape');
  await env.ok(['rm', 'legacy']);
});

// The create plan (engine/containers/create-plan.ts) and the record upgrade: pure functions,
// no daemon. The request is frozen throughout: planning never changes it in place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerCreateRequest } from '../types/engine-api.js';
import { isBerthError } from '../engine/common/errors.js';
import { planCreate, runtimeProcess, type DaemonDefaults, type PlanInput } from '../engine/containers/create-plan.js';
import { upgradeRecord } from '../engine/containers/record-upgrade.js';
import type { HostFacts } from '../engine/runtime/types.js';
import { parseFlags } from '../engine/daemon/flags.js';

const HOST: HostFacts = { boundingSet: (1n << 41n) - 1n, hardRlimits: {}, cgroupParent: '/berth', cgroupVersion: 1, arch: 'amd64' };
const DAEMON: DaemonDefaults = {
  logConfig: { Type: 'json-file', Config: {} },
  runtimes: { runc: {}, crun: { unusable: 'hybrid cgroups' } },
  defaultRuntime: 'runc',
  initPath: '/usr/bin/tini-static',
  defaultBridge: true,
  hostname: 'the-host',
};
const ID = 'c0ffee'.padEnd(64, '0');
const IMAGE = { Env: ['PATH=/usr/bin', 'LANG=C'], Cmd: ['sh'], WorkingDir: 'app', Labels: { from: 'image', bad: 1 as unknown as string }, ExposedPorts: { '80': {} }, StopSignal: 'SIGQUIT' };

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

const plan = (request: ContainerCreateRequest, over: Partial<PlanInput> = {}): ReturnType<typeof planCreate> =>
  planCreate({ id: ID, request: deepFreeze(request), image: IMAGE, daemon: DAEMON, host: HOST, ...over });

function refused(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isBerthError(err) && err.kind === 'invalid', String(err));
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

test('a plan merges the image as dockerd does and settles the defaults', () => {
  const p = plan({ Image: 'img', Env: ['LANG=en'], Labels: { own: '1' }, Cmd: ['echo', 'hi'], HostConfig: { Memory: 64 << 20 } });
  assert.equal(p.Path, 'echo');
  assert.deepEqual(p.Args, ['hi']);
  assert.deepEqual(p.Config.Env, ['LANG=en', 'PATH=/usr/bin']);
  assert.deepEqual(p.Config.Labels, { from: 'image', own: '1' }, 'image labels that are not strings are not carried over');
  assert.equal(p.Config.Hostname, ID.slice(0, 12));
  assert.equal(p.Config.WorkingDir, 'app');
  assert.equal(p.Config.StopSignal, 'SIGQUIT');
  assert.deepEqual(p.Config.ExposedPorts, { '80/tcp': {} });
  assert.deepEqual(p.HostConfig.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
  assert.deepEqual(p.HostConfig.LogConfig, { Type: 'json-file', Config: {} });
  assert.equal(p.HostConfig.Runtime, 'runc');
  assert.equal(p.HostConfig.NetworkMode, 'default');
  assert.equal(p.HostConfig.MemorySwap, 128 << 20, 'swap defaults to twice the memory');
  assert.equal(plan({ Image: 'img', HostConfig: { NetworkMode: 'host' } }).Config.Hostname, 'the-host');
  assert.equal(plan({ Image: 'img' }, { daemon: { ...DAEMON, defaultBridge: false } }).HostConfig.NetworkMode, 'none');
  const rp = runtimeProcess({ ...p, HostConfig: p.HostConfig });
  assert.deepEqual([rp.create.Entrypoint, rp.create.Cmd, rp.image.WorkingDir], [['echo'], ['hi'], 'app']);
});

test('HostConfig.Init needs an init binary; GroupAdd entries are checked', () => {
  assert.equal(plan({ Image: 'img', HostConfig: { Init: true } }).HostConfig.Init, true);
  const { initPath: _none, ...noInit } = DAEMON;
  refused(() => plan({ Image: 'img', HostConfig: { Init: true } }, { daemon: noInit }), /--init needs an init binary/);
  assert.deepEqual(plan({ Image: 'img', HostConfig: { GroupAdd: ['1000', 'audio'] } }).HostConfig.GroupAdd, ['1000', 'audio']);
  refused(() => plan({ Image: 'img', HostConfig: { GroupAdd: [''] } }), 'invalid group: ""');
});

test('log drivers: none and the file drivers are accepted, max-file alone too; unknown ones in dockerd\'s words', () => {
  assert.deepEqual(plan({ Image: 'img', HostConfig: { LogConfig: { Type: 'none', Config: {} } } }).HostConfig.LogConfig, { Type: 'none', Config: {} });
  assert.deepEqual(plan({ Image: 'img', HostConfig: { LogConfig: { Type: '', Config: { 'max-file': '3' } } } }).HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-file': '3' } });
  assert.equal(plan({ Image: 'img', HostConfig: { LogConfig: { Type: 'local', Config: null } } }).HostConfig.LogConfig.Type, 'local');
  refused(() => plan({ Image: 'img', HostConfig: { LogConfig: { Type: 'asdf', Config: {} } } }), "logger: no log driver named 'asdf' is registered");
  refused(() => plan({ Image: 'img', HostConfig: { LogConfig: { Type: 'json-file', Config: { colour: 'red' } } } }), "unknown log opt 'colour' for json-file log driver");
});

test('endpoints: DriverOpts kept, the container-wide MAC moves onto the main endpoint, bad MACs refused', () => {
  const p = plan({ Image: 'img', MacAddress: '02:42:ac:11:00:0a', HostConfig: { NetworkMode: 'mynet' }, NetworkingConfig: { EndpointsConfig: { mynet: { Aliases: ['a'], DriverOpts: { k: 'v' } } } } });
  assert.deepEqual(p.Endpoints, { mynet: { Aliases: ['a'], DriverOpts: { k: 'v' }, MacAddress: '02:42:ac:11:00:0a' } });
  assert.match(p.Warnings.join('\n'), /container-wide MacAddress field is now deprecated/);
  assert.deepEqual(plan({ Image: 'img', MacAddress: '02:42:ac:11:00:0a' }).Endpoints, { default: { MacAddress: '02:42:ac:11:00:0a' } });
  refused(
    () => plan({ Image: 'img', MacAddress: '02:42:ac:11:00:0a', HostConfig: { NetworkMode: 'n' }, NetworkingConfig: { EndpointsConfig: { n: { MacAddress: '02:42:ac:11:00:0b' } } } }),
    'the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty',
  );
  refused(() => plan({ Image: 'img', NetworkingConfig: { EndpointsConfig: { bridge: { MacAddress: 'zz' } } } }), 'invalid MAC address: zz');
  refused(() => plan({ Image: 'img', NetworkingConfig: { EndpointsConfig: { bridge: { MacAddress: '01:00:00:00:00:01' } } } }), 'invalid MAC address: 01:00:00:00:00:01');
  // API 1.43 and older had no endpoint MAC: one there is ignored, as dockerd ignores it.
  assert.deepEqual(plan({ Image: 'img', NetworkingConfig: { EndpointsConfig: { bridge: { MacAddress: '02:00:00:00:00:01' } } } }, { apiVersion: '1.43' }).Endpoints, { bridge: {} });
});

test('dockerd\'s network-mode conflicts and other checks, before anything exists', () => {
  refused(() => plan({ Image: 'img', Hostname: 'h', HostConfig: { NetworkMode: 'container:abc' } }), 'conflicting options: hostname and the network mode');
  refused(() => plan({ Image: 'img', HostConfig: { NetworkMode: 'container:abc', Dns: ['1.1.1.1'] } }), 'conflicting options: dns and the network mode');
  refused(() => plan({ Image: 'img', HostConfig: { NetworkMode: 'container:abc', PublishAllPorts: true } }), 'conflicting options: port publishing and the container type network mode');
  refused(() => plan({ Image: 'img', MacAddress: '02:42:ac:11:00:0a', HostConfig: { NetworkMode: 'host' } }), 'conflicting options: mac-address and the network mode');
  refused(() => plan({ Image: 'img', Entrypoint: [], Cmd: [] }, { image: {} }), 'No command specified');
  refused(() => plan({ Image: 'img', WorkingDir: 'rel' }), "the working directory 'rel' is invalid, it needs to be an absolute path");
  refused(() => plan({ Image: 'img', Env: ['=x'] }), 'invalid environment variable: =x');
  refused(() => plan({ Image: 'img', HostConfig: { CapAdd: ['NOPE'] } }), 'unknown capability: "CAP_NOPE"');
  refused(() => plan({ Image: 'img', HostConfig: { Runtime: 'crun' } }), 'runtime crun cannot run containers on this host: hybrid cgroups');
  refused(() => plan({ Image: 'img', HostConfig: { RestartPolicy: { Name: 'always' }, AutoRemove: true } }), 'conflicting options: cannot specify both --restart and --rm');
  refused(() => plan({ Image: 'img', HostConfig: { Mounts: [{ Type: 'volume', Source: 'v', Target: '/d', VolumeOptions: { Subpath: 'a' } }] } }, { apiVersion: '1.44' }), 'VolumeOptions.Subpath needs API v1.45 or newer');
  refused(() => plan({ Image: 'img', HostConfig: { ConsoleSize: [70000, 1] } }), 'invalid console size: 70000x1');
});

test('records written by the old code are read: the create body becomes the plan, bad values are made to fit', () => {
  const v1 = {
    version: 1,
    Id: ID,
    Name: 'old',
    Created: '2024-01-01T00:00:00Z',
    Image: 'busybox',
    ImageID: 'sha256:' + 'a'.repeat(64),
    Create: {
      Image: 'busybox',
      Labels: { a: true },
      MacAddress: '02:42:ac:11:00:0a',
      HostConfig: { NetworkMode: 'bridge', RestartPolicy: { Name: 'always', MaximumRetryCount: 0 }, LogConfig: { Type: 'json-file', Config: {} }, Runtime: 'runc', Memory: 1 << 24, Dns: 'x' },
      NetworkingConfig: { EndpointsConfig: { bridge: { Aliases: ['x'] } } },
    },
    Config: { Hostname: 'abc', Env: ['A=1'], Cmd: ['sh'], Labels: { a: true, n: 1, s: 's' }, Tty: true },
    Path: 'sh',
    Args: [],
    State: { Status: 'exited', Pid: 0, ExitCode: 0, Error: '', OOMKilled: false, StartedAt: '', FinishedAt: '' },
    RestartCount: 2,
  };
  const r = upgradeRecord(v1);
  assert.ok(r);
  assert.equal(r.version, 2);
  assert.deepEqual(r.Config.Labels, { a: 'true', n: '1', s: 's' });
  assert.equal(r.Config.Tty, true);
  assert.equal(r.Config.MacAddress, '02:42:ac:11:00:0a');
  assert.equal(r.HostConfig.NetworkMode, 'bridge');
  assert.deepEqual(r.HostConfig.RestartPolicy, { Name: 'always', MaximumRetryCount: 0 });
  assert.equal(r.HostConfig.Memory, 1 << 24);
  assert.deepEqual(r.HostConfig.Dns, ['x']);
  assert.deepEqual(r.Endpoints, { bridge: { Aliases: ['x'] } });
  assert.deepEqual(r.MountPoints, []);
  assert.equal(r.RestartCount, 2);
  assert.equal(upgradeRecord({ Id: 'x' }), undefined, 'no state: not a record');
  assert.deepEqual(upgradeRecord(r), r, 'a v2 record reads as it is');
});

test('daemon flags: --init makes containers run an init by default, --init-path names the binary', () => {
  const cfg = parseFlags(['--init', '--init-path', '/usr/bin/tini-static']);
  assert.ok(typeof cfg === 'object');
  assert.equal(cfg.init, true);
  assert.equal(cfg.initPath, '/usr/bin/tini-static');
  const off = parseFlags(['--init=false']);
  assert.ok(typeof off === 'object' && off.init === false);
  assert.throws(() => parseFlags(['--init-path', 'tini']), /must be an absolute path/);
  assert.throws(() => parseFlags(['--init=maybe']), /expected true or false/);
});

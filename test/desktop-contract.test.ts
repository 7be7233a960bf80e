// The IPC contract of types/desktop-api.ts, at the type level (wrong names, parameters or results
// do not compile: the @ts-expect-error lines fail the build if they ever start compiling) and at
// run time (the bridge host implements exactly every method and stream the contract names).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createBridgeHost, type BridgeHost } from '../desktop/bridge/index.js';
import type { BridgeTransport, MethodName, MethodParams, MethodResult, StreamInput, StreamMessage, StreamName, StreamParams } from '../types/desktop-api.js';
import { makeTempDir, removeDir } from './harness/util.js';

/** Compiles only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const expectType = <T extends true>(_proof: T): void => undefined;

// Every name, listed once: a Record over the union must have every key and no other.
const METHODS: Record<MethodName, true> = {
  'engine.status': true,
  'engine.list': true,
  'engine.add': true,
  'engine.hostKey': true,
  'engine.remove': true,
  'engine.use': true,
  'engine.start': true,
  'engine.restart': true,
  'engine.resetPlan': true,
  'engine.reset': true,
  'system.info': true,
  'system.version': true,
  'system.df': true,
  'system.freePort': true,
  'diagnostics.collect': true,
  'settings.get': true,
  'settings.set': true,
  'containers.list': true,
  'containers.inspect': true,
  'containers.start': true,
  'containers.stop': true,
  'containers.restart': true,
  'containers.pause': true,
  'containers.unpause': true,
  'containers.kill': true,
  'containers.remove': true,
  'containers.run': true,
  'containers.listDir': true,
  'containers.readFile': true,
  'containers.writeFile': true,
  'images.list': true,
  'images.inspect': true,
  'images.history': true,
  'images.remove': true,
  'images.prune': true,
  'images.pull': true,
  'images.push': true,
  'images.build': true,
  'jobs.list': true,
  'jobs.cancel': true,
  'jobs.dismiss': true,
  'jobs.clearFinished': true,
  'volumes.list': true,
  'volumes.create': true,
  'volumes.remove': true,
  'volumes.prune': true,
  'volumes.listDir': true,
  'volumes.readFile': true,
  'volumes.clone': true,
  'volumes.import': true,
  'compose.action': true,
  'networks.list': true,
  'networks.inspect': true,
  'networks.create': true,
  'networks.remove': true,
  'vm.status': true,
  'vm.start': true,
  'vm.stop': true,
  'vm.configure': true,
};
const STREAMS: Record<StreamName, true> = { events: true, jobs: true, logs: true, projectLogs: true, stats: true, terminal: true, vm: true, volumeExport: true };

test('type level: parameters, results, stream messages and inputs are what the contract says', () => {
  expectType<Equal<MethodParams<'containers.inspect'>, { id: string }>>(true);
  expectType<Equal<MethodResult<'images.pull'>, { jobId: string }>>(true);
  expectType<Equal<MethodResult<'containers.stop'>, null>>(true);
  expectType<Equal<StreamParams<'stats'>, { id: string }>>(true);
  expectType<Equal<StreamInput<'logs'>, never>>(true);
  expectType<Equal<StreamMessage<'logs'>, { lines: { stream: 'stdout' | 'stderr'; time?: string; text: string }[] }>>(true);
  // @ts-expect-error a result is not its parameters
  expectType<Equal<MethodResult<'containers.inspect'>, { id: string }>>(true);

  // Calls through a transport and through the host are checked the same way. Never run: types only.
  const typed = (t: BridgeTransport, host: BridgeHost): void => {
    void t.invoke('containers.stop', { id: 'x' });
    // @ts-expect-error unknown method
    void t.invoke('containers.explode', { id: 'x' });
    // @ts-expect-error wrong parameter type
    void t.invoke('containers.stop', { id: 42 });
    // @ts-expect-error missing parameter
    void t.invoke('containers.readFile', { id: 'x' });
    // @ts-expect-error settings patch with a theme that does not exist
    void host.call('settings.set', { theme: 'pink' });
    const h = t.open('terminal', { id: 'x', cols: 80, rows: 24 }, { data: () => undefined, end: () => undefined });
    h.send({ type: 'resize', cols: 100, rows: 30 });
    // @ts-expect-error terminal input has a type
    h.send({ cols: 100, rows: 30 });
    const logs = t.open('logs', { id: 'x', follow: true }, { data: (m) => void m.lines, end: () => undefined });
    // @ts-expect-error a logs stream takes no input
    logs.send('anything');
    // @ts-expect-error stats needs the container id
    t.open('stats', {}, { data: () => undefined, end: () => undefined });
    void host.call('containers.run', { image: 'busybox', ports: [{ host: '8080', container: '80' }] }).then((r) => {
      const id: string = r.id;
      // @ts-expect-error the result has no such field
      void r.Id;
      return id;
    });
  };
  void typed;
});

test('run time: the host implements exactly every method and stream of the contract', async () => {
  const dir = await makeTempDir('berth-contract-');
  const host = await createBridgeHost({ kind: 'web', configPath: path.join(dir, 'desktop.json'), localHost: `unix://${dir}/none.sock` });
  try {
    assert.deepEqual([...host.methodNames].sort(), Object.keys(METHODS).sort());
    assert.deepEqual([...host.streamNames].sort(), Object.keys(STREAMS).sort());
    for (const name of ['toString', '__proto__', 'constructor', 'hasOwnProperty']) {
      const r = await host.callWire(name, {});
      assert.ok(!r.ok && r.error.status === 404, `${name} is not a method`);
    }
  } finally {
    await host.close();
    await removeDir(dir);
  }
});

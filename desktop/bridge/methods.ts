/**
 * Every call of BridgeMethods, one handler each. The table's type lists every method name, so
 * a method added to types/desktop-api.ts does not compile until it has a handler here. Handlers
 * check their parameters (params.ts) and speak to the active engine through client/.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { addEngine, hostKeyReport, removeEngine } from '../../client/contexts/index.js';
import type { Diagnostics, EngineTls, MethodName, MethodResult, Settings } from '../../types/desktop-api.js';
import type { NetworkCreateBody, SystemDfType, VolumeCreateBody } from '../../types/engine-api.js';
import { projectAction } from './compose.js';
import { controlAbilities, daemonLog, restartEngine, startEngine } from './engine-control.js';
import { freeHostPort } from './free-port.js';
import { resetEverything, resetPlan } from './reset.js';
import { volumeClone, volumeImport, volumeListDir, volumeReadFile } from './volume-files.js';
import type { HostContext } from './context.js';
import { BridgeFailure, invalid } from './errors.js';
import { listDir, MAX_READ_BYTES, readFile, writeFile } from './files.js';
import { asParams, oneOf, optBool, optInt, optStr, optStrings, str, type Params } from './params.js';
import { runContainer } from './run.js';
import { cleanTour } from './settings.js';
import { vmConfigure, vmStart, vmStatusOf, vmStop } from './vm.js';

export type MethodHandler<M extends MethodName> = (ctx: HostContext, params: unknown) => Promise<MethodResult<M>>;
export type MethodTable = { [M in MethodName]: MethodHandler<M> };

const id = (params: unknown): string => str(asParams(params), 'id');

/** Every value of `{}` params is refused, so a typo in a caller shows up instead of being ignored. */
const none = (params: unknown): void => {
  const keys = Object.keys(asParams(params));
  if (keys.length > 0) throw invalid(`unexpected parameters: ${keys.join(', ')}`);
};

function settingsPatch(params: unknown): Partial<Settings> {
  const p = asParams(params);
  const known = ['theme', 'onboardingDone', 'sampleRegistry', 'sampleImage', 'tour'];
  const unknown = Object.keys(p).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw invalid(`unknown settings: ${unknown.join(', ')}`);
  const patch: Partial<Settings> = {};
  const theme = oneOf(p, 'theme', ['light', 'dark', 'system'] as const);
  if (theme) patch.theme = theme;
  const done = optBool(p, 'onboardingDone');
  if (done !== undefined) patch.onboardingDone = done;
  const registry = optStr(p, 'sampleRegistry');
  if (registry !== undefined) patch.sampleRegistry = registry;
  const image = optStr(p, 'sampleImage');
  if (image !== undefined) patch.sampleImage = image;
  if (p['tour'] !== undefined) {
    if (typeof p['tour'] !== 'object' || p['tour'] === null || Array.isArray(p['tour'])) throw invalid('"tour" must be an object');
    patch.tour = cleanTour(p['tour']);
  }
  return patch;
}

export const methods: MethodTable = {
  'engine.status': async (ctx, p) => {
    none(p);
    return ctx.probe();
  },
  'engine.list': async (ctx, p) => {
    none(p);
    return { engines: ctx.registry.engines(), active: ctx.registry.activeId };
  },
  'engine.add': async (ctx, params) => {
    const p = asParams(params);
    const identityFile = optStr(p, 'identityFile');
    const replaceHostKey = optStr(p, 'replaceHostKey');
    const tls = p['tls'] === undefined ? undefined : engineTls(asParams(p['tls']));
    return addEngine(
      ctx.registry,
      {
        name: optStr(p, 'name') ?? '',
        host: str(p, 'host'),
        ...(identityFile ? { identityFile } : {}),
        ...(replaceHostKey ? { replaceHostKey } : {}),
        ...(tls ? { tls } : {}),
      },
      ctx.env,
    );
  },
  'engine.hostKey': async (ctx, params) => hostKeyReport(str(asParams(params), 'host'), ctx.env),
  'engine.remove': async (ctx, params) => {
    const engineId = id(params);
    const wasActive = ctx.registry.activeId === engineId;
    await removeEngine(ctx.registry, engineId, ctx.env);
    if (wasActive) await ctx.useEngine(ctx.registry.activeId);
    return null;
  },
  'engine.use': async (ctx, params) => ctx.useEngine(id(params)),
  'engine.start': async (ctx, p) => {
    none(p);
    return startEngine(ctx);
  },
  'engine.restart': async (ctx, p) => {
    none(p);
    return restartEngine(ctx);
  },
  'engine.resetPlan': async (ctx, p) => {
    none(p);
    return resetPlan(ctx);
  },
  'engine.reset': async (ctx, params) => {
    // The word itself, so a stray call can never wipe an engine.
    if (asParams(params)['confirm'] !== 'reset') throw invalid('reset needs {"confirm": "reset"}');
    return resetEverything(ctx);
  },

  'system.info': async (ctx, p) => {
    none(p);
    return ctx.client().info();
  },
  'system.version': async (ctx, p) => {
    none(p);
    return ctx.client().version();
  },
  'system.df': async (ctx, params) => {
    const types = optStrings(asParams(params), 'types');
    const known = ['container', 'image', 'volume', 'build-cache'];
    if (types?.some((t) => !known.includes(t))) throw invalid(`"types" must be among ${known.join(', ')}`);
    return ctx.client().systemDf(types ? { types: types as SystemDfType[] } : {});
  },
  'system.freePort': async (ctx, params) => ({ port: await freeHostPort(ctx.client(), ctx.activeEngine(), optInt(asParams(params), 'preferred', 1, 65535)) }),
  'diagnostics.collect': async (ctx, p): Promise<Diagnostics> => {
    none(p);
    const client = ctx.client();
    const engine = await ctx.probe();
    const pingMs: number[] = [];
    if (engine.state === 'running') {
      for (let i = 0; i < 5; i++) {
        const started = performance.now();
        await client.ping(AbortSignal.timeout(3000));
        pingMs.push(Math.round((performance.now() - started) * 100) / 100);
      }
    }
    return {
      appVersion: ctx.appVersion,
      bridge: ctx.kind,
      platform: `${process.platform} ${process.arch}, node ${process.versions.node}${process.versions['electron'] ? `, electron ${process.versions['electron']}` : ''}`,
      engine,
      pingMs,
      daemonLog: await daemonLog(ctx),
      control: await controlAbilities(ctx),
    };
  },

  'settings.get': async (ctx, p) => {
    none(p);
    return ctx.settings.get();
  },
  'settings.set': async (ctx, params) => ctx.settings.set(settingsPatch(params)),

  'vm.status': async (ctx, p) => {
    none(p);
    return vmStatusOf(ctx);
  },
  'vm.start': async (ctx, p) => {
    none(p);
    return vmStart(ctx);
  },
  'vm.stop': async (ctx, p) => {
    none(p);
    return vmStop(ctx);
  },
  'vm.configure': vmConfigure,

  'containers.list': async (ctx, params) => ctx.client().containers.list({ all: optBool(asParams(params), 'all') ?? false }),
  'containers.inspect': async (ctx, params) => ctx.client().containers.inspect(id(params)),
  'containers.start': async (ctx, params) => {
    await ctx.client().containers.start(id(params));
    return null;
  },
  'containers.stop': async (ctx, params) => {
    await ctx.client().containers.stop(id(params));
    return null;
  },
  'containers.restart': async (ctx, params) => {
    await ctx.client().containers.restart(id(params));
    return null;
  },
  'containers.pause': async (ctx, params) => {
    await ctx.client().containers.pause(id(params));
    return null;
  },
  'containers.unpause': async (ctx, params) => {
    await ctx.client().containers.unpause(id(params));
    return null;
  },
  'containers.kill': async (ctx, params) => {
    await ctx.client().containers.kill(id(params));
    return null;
  },
  'containers.remove': async (ctx, params) => {
    const p = asParams(params);
    await ctx.client().containers.remove(str(p, 'id'), { force: optBool(p, 'force') ?? false, volumes: optBool(p, 'volumes') ?? false });
    return null;
  },
  'containers.run': async (ctx, params) => runContainer(ctx.client(), params),
  'containers.listDir': async (ctx, params) => {
    const p = asParams(params);
    return listDir(ctx.client(), str(p, 'id'), str(p, 'path'));
  },
  'containers.readFile': async (ctx, params) => {
    const p = asParams(params);
    return readFile(ctx.client(), str(p, 'id'), str(p, 'path'));
  },
  'containers.writeFile': async (ctx, params) => {
    const p = asParams(params);
    await writeFile(ctx.client(), str(p, 'id'), str(p, 'dir'), str(p, 'name'), optStr(p, 'base64') ?? '');
    return null;
  },

  'images.list': async (ctx, p) => {
    none(p);
    return ctx.client().listImages();
  },
  'images.inspect': async (ctx, params) => ctx.client().inspectImage(id(params)),
  'images.history': async (ctx, params) => ctx.client().imageHistory(id(params)),
  'images.remove': async (ctx, params) => {
    const p = asParams(params);
    await ctx.client().removeImage(str(p, 'id'), { force: optBool(p, 'force') ?? false });
    return null;
  },
  'images.prune': async (ctx, params) => {
    const all = optBool(asParams(params), 'all') ?? false;
    const r = await ctx.client().pruneImages(all ? { filters: { dangling: ['false'] } } : {});
    return { deleted: (r.ImagesDeleted ?? []).filter((d) => d.Deleted).length, spaceReclaimed: r.SpaceReclaimed ?? 0 };
  },
  'images.pull': async (ctx, params) => {
    const ref = str(asParams(params), 'ref').trim();
    return { jobId: ctx.jobs.pull(ctx.client(), ref) };
  },
  'images.push': async (ctx, params) => {
    const ref = str(asParams(params), 'ref').trim();
    return { jobId: ctx.jobs.push(ctx.client(), ref) };
  },
  'images.build': async (ctx, params) => {
    const p = asParams(params);
    const context = str(p, 'context');
    if (!path.isAbsolute(context)) throw invalid('the build context must be an absolute path to a folder');
    const st = await stat(context).catch(() => undefined);
    if (!st?.isDirectory()) throw invalid(`the build context ${context} is not a folder`);
    const buildArgs = p['buildArgs'];
    if (buildArgs !== undefined && (typeof buildArgs !== 'object' || buildArgs === null || Object.values(buildArgs).some((v) => typeof v !== 'string'))) {
      throw invalid('buildArgs must map names to strings');
    }
    const dockerfile = optStr(p, 'dockerfile');
    const tags = optStrings(p, 'tags');
    return {
      jobId: ctx.jobs.build(ctx.client(), {
        context,
        ...(dockerfile ? { dockerfile } : {}),
        ...(tags ? { tags } : {}),
        ...(buildArgs ? { buildArgs: buildArgs as Record<string, string> } : {}),
        noCache: optBool(p, 'noCache') === true,
      }),
    };
  },
  'jobs.list': async (ctx, p) => {
    none(p);
    return ctx.jobs.list();
  },
  'jobs.cancel': async (ctx, params) => {
    ctx.jobs.cancel(id(params));
    return null;
  },
  'jobs.dismiss': async (ctx, params) => {
    ctx.jobs.dismiss(id(params));
    return null;
  },
  'jobs.clearFinished': async (ctx, p) => {
    none(p);
    return { removed: ctx.jobs.clearFinished() };
  },

  'volumes.list': async (ctx, p) => {
    none(p);
    return (await ctx.client().volumes.list()).Volumes ?? [];
  },
  'volumes.create': async (ctx, params) => ctx.client().volumes.create(asParams(params) as VolumeCreateBody),
  'volumes.remove': async (ctx, params) => {
    const p = asParams(params);
    await ctx.client().volumes.remove(str(p, 'name'), { force: optBool(p, 'force') ?? false });
    return null;
  },
  'volumes.prune': async (ctx, p) => {
    none(p);
    const r = await ctx.client().volumes.prune();
    return { deleted: (r.VolumesDeleted ?? []).length, spaceReclaimed: r.SpaceReclaimed ?? 0 };
  },

  'volumes.listDir': async (ctx, params) => {
    const p = asParams(params);
    return volumeListDir(ctx.client(), str(p, 'name'), str(p, 'path'));
  },
  'volumes.readFile': async (ctx, params) => {
    const p = asParams(params);
    return volumeReadFile(ctx.client(), str(p, 'name'), str(p, 'path'));
  },
  'volumes.clone': async (ctx, params) => {
    const p = asParams(params);
    return volumeClone(ctx.client(), str(p, 'source'), str(p, 'target').trim());
  },
  'volumes.import': async (ctx, params) => {
    const p = asParams(params);
    const base64 = str(p, 'base64');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw invalid('"base64" is not base64');
    if (base64.length > (MAX_READ_BYTES * 4) / 3 + 4) throw new BridgeFailure(`a tar above ${MAX_READ_BYTES} bytes cannot be imported here`, 413);
    await volumeImport(ctx.client(), str(p, 'name'), Buffer.from(base64, 'base64'));
    return null;
  },

  'compose.action': async (ctx, params) => {
    const p = asParams(params);
    const action = oneOf(p, 'action', ['start', 'stop', 'restart', 'remove'] as const);
    if (!action) throw invalid('"action" is required');
    return projectAction(ctx.client(), str(p, 'project'), action);
  },

  'networks.list': async (ctx, p) => {
    none(p);
    return ctx.client().networks.list();
  },
  'networks.inspect': async (ctx, params) => ctx.client().networks.inspect(id(params)),
  'networks.create': async (ctx, params) => {
    const body = asParams(params) as unknown as NetworkCreateBody;
    if (typeof body.Name !== 'string' || body.Name === '') throw invalid('"Name" must be a non-empty string');
    const r = await ctx.client().networks.create(body);
    return { id: r.Id };
  },
  'networks.remove': async (ctx, params) => {
    await ctx.client().networks.remove(id(params));
    return null;
  },
};

/** engine.add's `tls`: {verify, ca?, cert?, key?} with file paths. */
function engineTls(p: Params): EngineTls {
  const tls: EngineTls = { verify: optBool(p, 'verify') ?? true };
  for (const k of ['ca', 'cert', 'key'] as const) {
    const v = optStr(p, k);
    if (v) tls[k] = v;
  }
  return tls;
}

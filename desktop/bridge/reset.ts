/**
 * "Reset to defaults": everything on the active engine (containers, images, volumes, user
 * networks, build cache) and the app's own settings go back to a first run. The plan lists what
 * would be deleted, so the confirmation names it; the reset itself goes through the engine's API
 * (so it works the same on the local engine, the VM or a remote one), containers first (they
 * hold images, volumes and networks), and reports what it could not remove instead of stopping.
 */
import type { ResetPlan, ResetResult } from '../../types/desktop-api.js';
import type { HostContext } from './context.js';
import { toBridgeError } from './errors.js';

const BUILTIN_NETWORKS = new Set(['bridge', 'host', 'none']);

const nameOf = (names: string[] | undefined, id: string): string => names?.[0]?.replace(/^\//, '') ?? id.slice(0, 12);

export async function resetPlan(ctx: HostContext): Promise<ResetPlan> {
  const client = ctx.client();
  const [df, networks] = await Promise.all([client.systemDf(), client.networks.list()]);
  const settings = ctx.settings.get();
  const added = ctx.registry.engines().filter((e) => e.kind === 'ssh' || e.kind === 'socket');
  return {
    engine: ctx.activeEngine().name,
    containers: (df.Containers ?? []).map((c) => ({ name: nameOf(c.Names, c.Id), running: c.State === 'running' || c.State === 'paused' || c.State === 'restarting' })),
    images: (df.Images ?? []).map((i) => ({ name: i.RepoTags.find((t) => t !== '<none>:<none>') ?? i.Id.replace(/^sha256:/, '').slice(0, 12), size: i.Size })),
    imagesSize: df.LayersSize,
    volumes: (df.Volumes ?? []).map((v) => ({ name: v.Name, size: Math.max(0, v.UsageData?.Size ?? 0) })),
    networks: networks.filter((n) => !BUILTIN_NETWORKS.has(n.Name)).map((n) => n.Name),
    buildCacheSize: (df.BuildCache ?? []).reduce((n, b) => n + (b.Size ?? 0), 0),
    settings: [
      `theme (${settings.theme})`,
      settings.onboardingDone ? 'the tour is marked done (it opens again)' : 'the tour’s progress',
      ...(added.length ? [`added engines: ${added.map((e) => e.name).join(', ')}`] : []),
    ],
  };
}

export async function resetEverything(ctx: HostContext): Promise<ResetResult> {
  const client = ctx.client();
  const failures: string[] = [];
  const removed = { containers: 0, images: 0, volumes: 0, networks: 0 };
  const attempt = async (what: string, fn: () => Promise<unknown>): Promise<boolean> => {
    try {
      await fn();
      return true;
    } catch (err) {
      const e = toBridgeError(err);
      // Gone already (an untagged parent goes with its image): nothing to report.
      if (e.status !== 404) failures.push(`${what}: ${e.message}`);
      return false;
    }
  };
  for (const c of await client.containers.list({ all: true })) {
    if (await attempt(`container ${nameOf(c.Names, c.Id)}`, () => client.containers.remove(c.Id, { force: true, volumes: true }))) removed.containers++;
  }
  for (const i of await client.listImages({ all: true })) {
    if (await attempt(`image ${i.RepoTags[0] ?? i.Id}`, () => client.removeImage(i.Id, { force: true }))) removed.images++;
  }
  for (const v of (await client.volumes.list()).Volumes ?? []) {
    if (await attempt(`volume ${v.Name}`, () => client.volumes.remove(v.Name, { force: true }))) removed.volumes++;
  }
  for (const n of await client.networks.list()) {
    if (BUILTIN_NETWORKS.has(n.Name)) continue;
    if (await attempt(`network ${n.Name}`, () => client.networks.remove(n.Id))) removed.networks++;
  }
  // Engines without a build cache answer 404 here; that is nothing to report.
  await client.transport.json({ method: 'POST', path: '/build/prune', query: { all: true } }).catch(() => undefined);
  for (const j of ctx.jobs.list()) if (j.state !== 'running') ctx.jobs.dismiss(j.id);
  const before = ctx.registry.activeId;
  await ctx.settings.reset();
  if (ctx.registry.activeId !== before) await ctx.useEngine(ctx.registry.activeId);
  return { removed, failures };
}

/**
 * The app's view of the Berth VM: status, start (which returns as soon as the boot is under way;
 * progress arrives on the "vm" stream), stop, and settings. It drives the same supervisor as
 * `berth vm`, so the CLI and the app always agree on what the VM is doing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { berthHome } from '../../client/home.js';
import type { VmSettings, VmStatus } from '../../types/desktop-api.js';
import { configureVm, startVm, stopVm, vmStatus, watchVm } from '../../vm/host/control.js';
import { VmSettingsError } from '../../vm/host/settings.js';
import type { HostContext } from './context.js';
import { invalid } from './errors.js';
import { asParams, optInt, optStr, optStrings } from './params.js';

export function vmStatusOf(ctx: HostContext): Promise<VmStatus> {
  return vmStatus(berthHome(ctx.env), ctx.env);
}

/** Starts the VM in the background; answers the first status the supervisor reports. */
export async function vmStart(ctx: HostContext): Promise<VmStatus> {
  const home = berthHome(ctx.env);
  return new Promise((resolve, reject) => {
    let answered = false;
    startVm(
      home,
      (s) => {
        if (!answered) {
          answered = true;
          resolve(s);
        }
      },
      ctx.env,
    ).then(
      (final) => {
        if (!answered) resolve(final);
      },
      (err: unknown) => {
        if (!answered) reject(err);
      },
    );
  });
}

export function vmStop(ctx: HostContext): Promise<VmStatus> {
  return stopVm(berthHome(ctx.env), undefined, ctx.env);
}

export async function vmConfigure(ctx: HostContext, params: unknown): Promise<VmStatus> {
  const p = asParams(params);
  const patch: Partial<VmSettings> = {};
  const cpus = optInt(p, 'cpus', 1, 1024);
  const memoryMiB = optInt(p, 'memoryMiB', 1, 1 << 22);
  const diskGiB = optInt(p, 'diskGiB', 1, 1 << 16);
  const accel = optStr(p, 'accel');
  const shares = optStrings(p, 'shares');
  if (cpus !== undefined) patch.cpus = cpus;
  if (memoryMiB !== undefined) patch.memoryMiB = memoryMiB;
  if (diskGiB !== undefined) patch.diskGiB = diskGiB;
  if (accel !== undefined) patch.accel = accel as VmSettings['accel'];
  if (shares !== undefined) patch.shares = shares;
  const insecure = optStrings(p, 'insecureRegistries');
  if (insecure !== undefined) patch.insecureRegistries = insecure;
  try {
    await configureVm(berthHome(ctx.env), patch, ctx.env);
  } catch (err) {
    if (err instanceof VmSettingsError) throw invalid(err.message);
    throw err;
  }
  return vmStatusOf(ctx);
}

/** Every status change, across supervisor restarts; offline, the files are looked at every 2 s. */
export async function followVm(ctx: HostContext, push: (s: VmStatus) => void, signal: AbortSignal): Promise<void> {
  const home = berthHome(ctx.env);
  let last = '';
  const emit = (s: VmStatus): void => {
    const text = JSON.stringify(s);
    if (text === last) return;
    last = text;
    push(s);
  };
  while (!signal.aborted) {
    await watchVm(home, emit, signal, ctx.env);
    await sleep(2_000, undefined, { signal }).catch(() => undefined);
  }
}

/**
 * The VM's settings (`~/.berth/vm/settings.json`): CPUs, memory, data disk size, shared folders
 * and the accelerator. Read at every start; a change applies at the next one. Values are checked
 * here, once, with messages a person can act on.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BerthHome } from '../../client/home.js';
import { ensurePrivateDir, writeFileAtomic } from '../../client/home.js';
import type { VmAccelerator, VmSettings } from '../../types/desktop-api.js';

const ACCELS: VmAccelerator[] = ['auto', 'kvm', 'hvf', 'whpx', 'tcg'];

export function defaultVmSettings(env: NodeJS.ProcessEnv = process.env): VmSettings {
  return {
    cpus: Math.min(4, Math.max(1, Math.floor(os.cpus().length / 2) || 1)),
    memoryMiB: 2048,
    diskGiB: 64,
    shares: [env['HOME'] || os.homedir()],
    accel: 'auto',
  };
}

export class VmSettingsError extends Error {}

/** Checks a patch against the host and merges it into `base`. */
export function mergeVmSettings(base: VmSettings, patch: Partial<VmSettings>): VmSettings {
  const out = { ...base };
  const int = (v: unknown, name: string, min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new VmSettingsError(`${name} must be a whole number from ${min} to ${max}`);
    return v;
  };
  if (patch.cpus !== undefined) out.cpus = int(patch.cpus, 'cpus', 1, os.cpus().length);
  if (patch.memoryMiB !== undefined) out.memoryMiB = int(patch.memoryMiB, 'memory (MiB)', 512, Math.floor(os.totalmem() / 2 ** 20));
  if (patch.diskGiB !== undefined) {
    out.diskGiB = int(patch.diskGiB, 'disk size (GiB)', 4, 4096);
    if (out.diskGiB < base.diskGiB) throw new VmSettingsError(`the data disk can only grow (it is ${base.diskGiB} GiB); remove the VM (berth vm rm) to start smaller`);
  }
  if (patch.accel !== undefined) {
    if (!ACCELS.includes(patch.accel)) throw new VmSettingsError(`accelerator must be one of ${ACCELS.join(', ')}`);
    out.accel = patch.accel;
  }
  if (patch.shares !== undefined) {
    if (!Array.isArray(patch.shares)) throw new VmSettingsError('shares must be a list of folders');
    for (const dir of patch.shares) {
      if (typeof dir !== 'string' || !path.isAbsolute(dir)) throw new VmSettingsError(`a shared folder must be an absolute path: "${String(dir)}"`);
      if (dir.includes('\n')) throw new VmSettingsError('a shared folder path cannot contain a line break');
    }
    out.shares = [...new Set(patch.shares.map((d) => path.resolve(d)))];
  }
  if (patch.insecureRegistries !== undefined) {
    if (!Array.isArray(patch.insecureRegistries) || !patch.insecureRegistries.every((r) => typeof r === 'string' && /^[\w.-]+(:\d+)?$/.test(r))) {
      throw new VmSettingsError('insecure registries are host or host:port names');
    }
    out.insecureRegistries = [...patch.insecureRegistries];
  }
  return out;
}

function settingsFile(home: BerthHome): string {
  return path.join(home.vmDir, 'settings.json');
}

export async function loadVmSettings(home: BerthHome, env: NodeJS.ProcessEnv = process.env): Promise<VmSettings> {
  const defaults = defaultVmSettings(env);
  const text = await fsp.readFile(settingsFile(home), 'utf8').catch(() => undefined);
  if (!text) return defaults;
  try {
    const raw = JSON.parse(text) as Partial<VmSettings>;
    // Each stored value is kept only if it is still valid here (a settings file copied from a bigger machine).
    let s = defaults;
    for (const key of Object.keys(raw) as (keyof VmSettings)[]) {
      try {
        s = mergeVmSettings({ ...s, diskGiB: key === 'diskGiB' ? 0 : s.diskGiB }, { [key]: raw[key] });
      } catch {
        // keep the default
      }
    }
    return s;
  } catch {
    return defaults;
  }
}

export async function saveVmSettings(home: BerthHome, settings: VmSettings): Promise<void> {
  await ensurePrivateDir(home.vmDir);
  await writeFileAtomic(settingsFile(home), `${JSON.stringify(settings, null, 2)}\n`);
}

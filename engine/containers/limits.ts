/**
 * A container's resource limits at create and at `docker update`: the HostConfig fields
 * checked against the host (runtime/resources.ts), devices looked up, a custom seccomp profile
 * parsed, so a bad value is a 400 before anything exists; and an update body merged into the
 * container's HostConfig the way dockerd merges it (zero means "leave as it is").
 *
 * Pure functions of their inputs except for the device lookup; the service persists the result
 * and, for a running container, has runc apply it.
 */
import { conflict, invalid } from '../common/errors.js';
import { parseDeviceCgroupRule, resolveDevices } from '../runtime/devices.js';
import { checkResources, defaultSwap, ociResources, UPDATABLE_FIELDS } from '../runtime/resources.js';
import { parseDockerProfile } from '../runtime/seccomp.js';
import { parseSecurityOpts } from '../runtime/spec.js';
import type { DockerResources, HostFacts, OciResourceUpdate } from '../runtime/types.js';
import type { CreateHostConfig } from './types.js';

/**
 * Create-time checks of limits, devices, device rules and a custom seccomp profile. Returns the
 * HostConfig to record (unsupported limits dropped, default swap filled in) and Docker's warnings.
 */
export async function checkCreateLimits(hc: CreateHostConfig, host: HostFacts): Promise<{ hostConfig: CreateHostConfig; warnings: string[] }> {
  const { resources, warnings } = checkResources(hc, host.resources);
  if (hc.Devices !== undefined && hc.Devices !== null && !Array.isArray(hc.Devices)) throw invalid('HostConfig.Devices must be a list');
  await resolveDevices(hc.Devices);
  if (hc.DeviceCgroupRules !== undefined && hc.DeviceCgroupRules !== null && !Array.isArray(hc.DeviceCgroupRules)) {
    throw invalid('HostConfig.DeviceCgroupRules must be a list');
  }
  for (const rule of hc.DeviceCgroupRules ?? []) parseDeviceCgroupRule(rule);
  const security = parseSecurityOpts(hc.SecurityOpt);
  if (typeof security.seccomp === 'object' && hc.Privileged !== true) parseDockerProfile(security.seccomp.custom);
  return { hostConfig: defaultSwap({ ...hc, ...resources }), warnings };
}

export interface MergedUpdate {
  hostConfig: CreateHostConfig;
  /** What `runc update` gets for a running container: the merged limits. */
  resources: OciResourceUpdate;
  /** The body changes a limit (else there is nothing for runc to do). */
  changed: boolean;
  warnings: string[];
}

/** Fields an update body may carry that berth does not change (Docker ignores them); non-empty ones are refused. */
function unsupported(body: Record<string, unknown>): string[] {
  const known = new Set([...UPDATABLE_FIELDS, 'RestartPolicy', 'OomKillDisable', 'MemorySwappiness']);
  return Object.entries(body)
    .filter(([k, v]) => !known.has(k) && v !== undefined && v !== null && v !== 0 && v !== '' && !(Array.isArray(v) && v.length === 0))
    .map(([k]) => k);
}

/**
 * `docker update`: checks the body's limits and merges the non-zero ones into `current`, with
 * dockerd's conflicts (409) between --cpus and --cpu-period/--cpu-quota across updates, and
 * between a larger memory limit and the swap limit already set. A memory limit given to a
 * container without a swap limit gets swap of the same size, as at create.
 */
export function mergeUpdate(current: CreateHostConfig, body: Record<string, unknown>, host: HostFacts): MergedUpdate {
  const refused = unsupported(body);
  if (refused.length > 0) throw invalid(`updating ${refused.join(', ')} is not supported`);
  const { resources: r, warnings } = checkResources(body as DockerResources, host.resources, { update: true });
  const c: CreateHostConfig = { ...current };
  const n = (v: number | null | undefined): number => v ?? 0;
  if (n(r.NanoCpus) > 0 && n(c.CpuPeriod) > 0) throw conflict('Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set');
  if (n(r.NanoCpus) > 0 && n(c.CpuQuota) > 0) throw conflict('Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set');
  if (n(r.CpuPeriod) > 0 && n(c.NanoCpus) > 0) throw conflict('Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set');
  if (n(r.CpuQuota) > 0 && n(c.NanoCpus) > 0) throw conflict('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
  for (const k of ['BlkioWeight', 'CpuShares', 'NanoCpus', 'CpuPeriod', 'CpuQuota', 'MemoryReservation'] as const) {
    if (n(r[k]) !== 0) c[k] = r[k];
  }
  if (r.CpusetCpus) c.CpusetCpus = r.CpusetCpus;
  if (r.CpusetMems) c.CpusetMems = r.CpusetMems;
  if (n(r.Memory) !== 0) {
    const swap = n(c.MemorySwap);
    if (n(r.MemorySwap) === 0 && swap > 0 && n(r.Memory) > swap) {
      throw conflict('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
    }
    c.Memory = r.Memory;
    if (n(r.MemorySwap) === 0 && swap === 0) c.MemorySwap = (r.Memory as number) * 2;
  }
  if (n(r.MemorySwap) !== 0) c.MemorySwap = r.MemorySwap;
  if (body['PidsLimit'] !== undefined && body['PidsLimit'] !== null) c.PidsLimit = r.PidsLimit ?? null;
  // The merged result must still make sense (swap below the new memory limit, reservation above it).
  const merged = checkResources(c, host.resources, { update: true }).resources;
  const changed =
    (body['PidsLimit'] !== undefined && body['PidsLimit'] !== null) ||
    UPDATABLE_FIELDS.some((k) => body[k] !== undefined && body[k] !== null && body[k] !== 0 && body[k] !== '');
  return { hostConfig: { ...c, ...merged }, resources: ociResources(merged, { forUpdate: true }), changed, warnings };
}

/**
 * A container's resource limits at create and at `docker update`: the HostConfig fields
 * checked against the host (runtime/resources.ts), devices looked up, a custom seccomp profile
 * parsed, so a bad value is a 400 before anything exists; and an update body merged into the
 * container's HostConfig the way dockerd merges it (zero means "leave as it is").
 *
 * Pure functions of their inputs (device nodes are looked up by the caller, with
 * resolveDevices); the service persists the result and, for a running container, has runc
 * apply it.
 */
import { conflict, invalid } from '../common/errors.js';
import type { ContainerUpdateRequest, HostConfig, Resources } from '../../types/engine-api.js';
import { parseDeviceCgroupRule } from '../runtime/devices.js';
import { checkResources, defaultSwap, ociResources, UPDATABLE_FIELDS } from '../runtime/resources.js';
import { parseDockerProfile } from '../runtime/seccomp.js';
import { parseSecurityOpts } from '../runtime/spec.js';
import type { DockerResources, HostFacts, OciResourceUpdate } from '../runtime/types.js';

/**
 * Create-time checks of limits, device rules and a custom seccomp profile. Returns the
 * HostConfig to record (unsupported limits dropped, default swap filled in) and Docker's warnings.
 */
export function planLimits<T extends HostConfig>(hc: T, host: HostFacts): { hostConfig: T; warnings: string[] } {
  const { resources, warnings } = checkResources(hc as DockerResources, host.resources);
  for (const rule of hc.DeviceCgroupRules ?? []) parseDeviceCgroupRule(rule);
  const security = parseSecurityOpts(hc.SecurityOpt);
  if (typeof security.seccomp === 'object' && hc.Privileged !== true) parseDockerProfile(security.seccomp.custom);
  // As dockerd: a PidsLimit of 0 or below means "unlimited", which is no limit at all.
  const pids = (resources.PidsLimit ?? 0) > 0 ? { PidsLimit: resources.PidsLimit } : {};
  const { PidsLimit: _given, ...rest } = { ...hc, ...(resources as Partial<T>) };
  return { hostConfig: defaultSwap({ ...rest, ...pids } as T), warnings };
}

export interface MergedUpdate<T> {
  hostConfig: T & Resources;
  /** What `runc update` gets for a running container: the merged limits. */
  resources: OciResourceUpdate;
  /** The body changes a limit (else there is nothing for runc to do). */
  changed: boolean;
  warnings: string[];
}

/** Fields an update body may carry that berth does not change (Docker ignores them); non-empty ones are refused. */
function unsupported(body: ContainerUpdateRequest): string[] {
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
export function mergeUpdate<T extends HostConfig>(current: T, update: ContainerUpdateRequest, host: HostFacts): MergedUpdate<T> {
  const { RestartPolicy: _policy, ...body } = update;
  const refused = unsupported(body);
  if (refused.length > 0) throw invalid(`updating ${refused.join(', ')} is not supported`);
  const { resources: r, warnings } = checkResources(body as DockerResources, host.resources, { update: true });
  const c: T & Resources = { ...current };
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
  if (body.PidsLimit !== undefined && body.PidsLimit !== null) c.PidsLimit = r.PidsLimit ?? null;
  // The merged result must still make sense (swap below the new memory limit, reservation above it).
  const merged = checkResources(c as DockerResources, host.resources, { update: true }).resources;
  const given = body as Record<string, unknown>;
  const changed =
    (body.PidsLimit !== undefined && body.PidsLimit !== null) ||
    UPDATABLE_FIELDS.some((k) => given[k] !== undefined && given[k] !== null && given[k] !== 0 && given[k] !== '');
  return { hostConfig: { ...c, ...merged }, resources: ociResources(merged, { forUpdate: true }), changed, warnings };
}

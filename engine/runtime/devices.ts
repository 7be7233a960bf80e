/**
 * Host devices for a container: HostConfig.Devices (`--device /dev/fuse:/dev/fuse:rwm`) and
 * HostConfig.DeviceCgroupRules (`--device-cgroup-rule 'c 10:229 rwm'`).
 *
 * A device mapping is looked up on the host (symlinks followed, a directory gives every device
 * under it) and becomes a node runc creates in the container's /dev plus a device-cgroup rule
 * allowing the requested access. resolveDevices() does the lookup (I/O, at create and at start);
 * buildSpec() only places the result, so it stays pure.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { invalid } from '../common/errors.js';
import type { DockerDeviceMapping, OciDeviceCgroupRule, ResolvedDevice } from './types.js';

const RULE_RE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/** "c 1:3 mr" → an allow rule; 400 with dockerd's message when malformed. */
export function parseDeviceCgroupRule(rule: string): OciDeviceCgroupRule {
  const m = RULE_RE.exec(rule);
  if (!m) throw invalid(`invalid device cgroup rule format: '${rule}'`, 'INVALID_DEVICE_RULE');
  const out: OciDeviceCgroupRule = { allow: true, type: m[1] as 'a' | 'b' | 'c', access: m[4] as string };
  if (m[2] !== '*') out.major = Number(m[2]);
  if (m[3] !== '*') out.minor = Number(m[3]);
  return out;
}

function checkPermissions(p: string): string {
  if (p === '') return 'rwm';
  if (!/^[rwm]{1,3}$/.test(p) || new Set(p).size !== p.length) throw invalid(`invalid device mode: ${p}`, 'INVALID_DEVICE');
  return p;
}

function majorMinor(rdev: bigint): { major: number; minor: number } {
  return {
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

async function deviceAt(hostPath: string, inContainer: string, access: string): Promise<ResolvedDevice | undefined> {
  const st = await fsp.stat(hostPath, { bigint: true });
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (type === undefined) return undefined;
  const { major, minor } = majorMinor(st.rdev);
  return {
    device: { path: inContainer, type, major, minor, fileMode: Number(st.mode & 0o777n), uid: Number(st.uid), gid: Number(st.gid) },
    rule: { allow: true, type, major, minor, access },
  };
}

/**
 * Looks each mapping up on the host, as dockerd does when it starts a container: a device node
 * gives one device, a directory every device below it (at the same relative path in the
 * container). 400 with dockerd's message for a path that does not exist or is no device.
 */
export async function resolveDevices(mappings: readonly DockerDeviceMapping[] | null | undefined): Promise<ResolvedDevice[]> {
  const out: ResolvedDevice[] = [];
  for (const m of mappings ?? []) {
    if (typeof m !== 'object' || m === null || typeof m.PathOnHost !== 'string' || m.PathOnHost === '') {
      throw invalid('invalid device mapping: PathOnHost must be given', 'INVALID_DEVICE');
    }
    const inContainer = m.PathInContainer || m.PathOnHost;
    if (!path.posix.isAbsolute(inContainer)) throw invalid(`${inContainer} is not an absolute path`, 'INVALID_DEVICE');
    const access = checkPermissions(m.CgroupPermissions ?? '');
    const fail = (why: string): never => {
      throw invalid(`error gathering device information while adding custom device "${m.PathOnHost}": ${why}`, 'INVALID_DEVICE');
    };
    let real: string;
    try {
      real = await fsp.realpath(m.PathOnHost);
    } catch (err) {
      return fail((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message);
    }
    const one = await deviceAt(real, path.posix.normalize(inContainer), access);
    if (one) {
      out.push(one);
      continue;
    }
    if (!(await fsp.stat(real)).isDirectory()) fail('not a device node');
    const walk = async (dir: string): Promise<void> => {
      for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isCharacterDevice() || e.isBlockDevice()) {
          const d = await deviceAt(p, path.posix.join(inContainer, path.relative(real, p)), access);
          if (d) out.push(d);
        }
      }
    };
    await walk(real);
  }
  return out;
}

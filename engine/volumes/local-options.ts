/**
 * The `local` driver's options, as Docker's local driver takes them: `type` (a filesystem type,
 * `tmpfs`, or `none` with `o=bind`), `o` (mount options: `size=`, `uid=`, `bind`...) and
 * `device` (what to mount). A volume with options is mounted on its `_data` directory while a
 * container uses it; one without is a plain directory.
 */
import { invalid } from '../common/errors.js';

const VALID = new Set(['type', 'o', 'device', 'size']);
/** An option that is given needs these too (Docker's local driver rule). */
const REQUIRES: Record<string, string[]> = { type: ['device'], device: ['type'], o: ['type', 'device'] };

export interface LocalMount {
  type: string;
  device: string;
  options: string[];
}

/** Validates the options of a `local` volume (400 with Docker's messages). */
export function validateLocalOptions(opts: Record<string, string>): void {
  for (const key of Object.keys(opts)) {
    if (!VALID.has(key)) throw invalid(`invalid option: ${JSON.stringify(key)}`);
  }
  if ('size' in opts) throw invalid('quota size requested but no quota support');
  for (const [key, needs] of Object.entries(REQUIRES)) {
    if (!(key in opts)) continue;
    for (const n of needs) if (!(n in opts)) throw invalid(`missing required option: ${JSON.stringify(n)}`);
  }
  for (const [key, value] of Object.entries(opts)) {
    if (value.includes('\0') || value.includes('\n')) throw invalid(`invalid value for option ${JSON.stringify(key)}`);
  }
  const mount = localMount(opts);
  if (mount && mount.options.includes('bind') && !mount.device.startsWith('/')) {
    throw invalid(`invalid device for a bind mount: ${JSON.stringify(mount.device)} is not an absolute path`);
  }
}

/** What to mount for these options, or undefined for a plain-directory volume. */
export function localMount(opts: Record<string, string>): LocalMount | undefined {
  const type = opts['type'];
  const device = opts['device'];
  if (!type || device === undefined) return undefined;
  const options = (opts['o'] ?? '').split(',').filter((o) => o !== '');
  return { type, device, options };
}

/** mount(8) arguments that mount `m` on `target` (--source/--target: a device never reads as a flag). */
export function mountArgs(m: LocalMount, target: string): string[] {
  const args = ['-t', m.type];
  if (m.options.length > 0) args.push('-o', m.options.join(','));
  args.push('--source', m.device, '--target', target);
  return args;
}

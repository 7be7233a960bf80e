/**
 * The desktop's persistent state: the engines the user added, which one is active, and the
 * settings. One JSON file (default `$XDG_CONFIG_HOME/berth/desktop.json`, or BERTH_DESKTOP_CONFIG),
 * rewritten atomically (temp file, fsync, rename) so a crash never leaves half a file. A file that
 * cannot be parsed is set aside as `.corrupt` and defaults are used: the app must still start.
 *
 * The local engine is not stored: it is always present, at BERTH_HOST / DOCKER_HOST or the default
 * socket, so changing the environment changes where "Local engine" points.
 */
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultHost, parseHost } from '../../client/index.js';
import type { EngineEndpoint, Settings } from '../../types/desktop-api.js';
import { invalid, notFound } from './errors.js';

export const LOCAL_ENGINE_ID = 'local';

export const DEFAULT_SETTINGS: Settings = {
  theme: 'system',
  onboardingDone: false,
  sampleRegistry: 'localhost:5000',
  sampleImage: 'library/busybox:latest',
};

interface StoredConfig {
  engines: EngineEndpoint[];
  active: string;
  settings: Settings;
}

/** Where the file lives for this environment. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env['BERTH_DESKTOP_CONFIG']) return env['BERTH_DESKTOP_CONFIG'];
  const base = env['XDG_CONFIG_HOME'] || path.join(env['HOME'] || os.homedir(), '.config');
  return path.join(base, 'berth', 'desktop.json');
}

/** Write a file so readers see either the old or the new content, never a mix. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
}

function cleanSettings(raw: unknown): Settings {
  const s = { ...DEFAULT_SETTINGS };
  if (!raw || typeof raw !== 'object') return s;
  const r = raw as Record<string, unknown>;
  if (r['theme'] === 'light' || r['theme'] === 'dark' || r['theme'] === 'system') s.theme = r['theme'];
  if (typeof r['onboardingDone'] === 'boolean') s.onboardingDone = r['onboardingDone'];
  if (typeof r['sampleRegistry'] === 'string') s.sampleRegistry = r['sampleRegistry'];
  if (typeof r['sampleImage'] === 'string') s.sampleImage = r['sampleImage'];
  return s;
}

function cleanEngines(raw: unknown): EngineEndpoint[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((e): EngineEndpoint[] => {
    if (!e || typeof e !== 'object') return [];
    const r = e as Record<string, unknown>;
    const kinds = ['vm', 'ssh', 'socket'];
    if (typeof r['id'] !== 'string' || r['id'] === LOCAL_ENGINE_ID || typeof r['name'] !== 'string' || typeof r['host'] !== 'string') return [];
    if (typeof r['kind'] !== 'string' || !kinds.includes(r['kind'])) return [];
    return [{ id: r['id'], name: r['name'], kind: r['kind'] as EngineEndpoint['kind'], host: r['host'] }];
  });
}

/** The engines registry and settings, loaded once and saved on every change. */
export class DesktopConfig {
  private constructor(
    readonly file: string,
    private readonly local: EngineEndpoint,
    private state: StoredConfig,
  ) {}

  static async load(file: string, env: NodeJS.ProcessEnv = process.env, localHost?: string): Promise<DesktopConfig> {
    const local: EngineEndpoint = { id: LOCAL_ENGINE_ID, name: 'Local engine', kind: 'local', host: localHost ?? defaultHost(env) };
    let state: StoredConfig = { engines: [], active: LOCAL_ENGINE_ID, settings: { ...DEFAULT_SETTINGS } };
    const text = await fsp.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (text !== undefined) {
      try {
        const raw = JSON.parse(text) as Record<string, unknown>;
        const engines = cleanEngines(raw['engines']);
        const active = typeof raw['active'] === 'string' && engines.some((e) => e.id === raw['active']) ? raw['active'] : LOCAL_ENGINE_ID;
        state = { engines, active, settings: cleanSettings(raw['settings']) };
      } catch {
        await fsp.rename(file, `${file}.corrupt`).catch(() => undefined);
      }
    }
    return new DesktopConfig(file, local, state);
  }

  engines(): EngineEndpoint[] {
    return [this.local, ...this.state.engines];
  }

  get activeId(): string {
    return this.state.active;
  }

  active(): EngineEndpoint {
    return this.engines().find((e) => e.id === this.state.active) ?? this.local;
  }

  get(id: string): EngineEndpoint {
    const e = this.engines().find((x) => x.id === id);
    if (!e) throw notFound(`no engine with id "${id}"`);
    return e;
  }

  /** Adds a Docker-compatible engine by address; refuses addresses the client cannot speak to. */
  async add(name: string, host: string): Promise<EngineEndpoint> {
    const trimmed = host.trim();
    if (trimmed.startsWith('ssh://')) throw invalid('ssh:// engines are reached through the VM support; add the forwarded socket (unix://...) instead');
    try {
      parseHost(trimmed);
    } catch (err) {
      throw invalid(err instanceof Error ? err.message : String(err));
    }
    const engine: EngineEndpoint = { id: randomUUID(), name: name.trim() || trimmed, kind: 'socket', host: trimmed };
    this.state = { ...this.state, engines: [...this.state.engines, engine] };
    await this.save();
    return engine;
  }

  async remove(id: string): Promise<void> {
    if (id === LOCAL_ENGINE_ID) throw invalid('the local engine cannot be removed');
    this.get(id);
    const engines = this.state.engines.filter((e) => e.id !== id);
    this.state = { ...this.state, engines, active: this.state.active === id ? LOCAL_ENGINE_ID : this.state.active };
    await this.save();
  }

  async use(id: string): Promise<EngineEndpoint> {
    const engine = this.get(id);
    this.state = { ...this.state, active: id };
    await this.save();
    return engine;
  }

  settings(): Settings {
    return { ...this.state.settings };
  }

  async setSettings(patch: Partial<Settings>): Promise<Settings> {
    this.state = { ...this.state, settings: { ...this.state.settings, ...patch } };
    await this.save();
    return this.settings();
  }

  private async save(): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify(this.state, null, 2)}\n`);
  }
}

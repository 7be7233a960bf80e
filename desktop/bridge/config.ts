/**
 * The desktop's persistent state: the engines the user added, which one is active, and the
 * settings. One JSON file (default `$XDG_CONFIG_HOME/berth/desktop.json`, or BERTH_DESKTOP_CONFIG),
 * rewritten atomically (temp file, fsync, rename) so a crash never leaves half a file. A file that
 * cannot be parsed is set aside as `.corrupt` and defaults are used: the app must still start.
 *
 * The local engine is not stored: it is always present, at BERTH_HOST / DOCKER_HOST or the default
 * socket, so changing the environment changes where "Local engine" points. Neither is the VM's:
 * "Berth VM" is always listed at the socket its supervisor forwards (`~/.berth/run/docker.sock`),
 * and on macOS and Windows, where there is no local engine, it is the one active by default.
 *
 * The CLI's contexts (`berth context ...`) are this same list, so the app and the CLI agree on
 * which engine is in use.
 */
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultHost, parseHost } from '../../client/index.js';
import { berthHome, hostFor, writeFileAtomic } from '../../client/home.js';
import { parseSshHost } from '../../client/ssh/index.js';
import type { EngineEndpoint, Settings } from '../../types/desktop-api.js';
import { invalid, notFound } from './errors.js';

export const LOCAL_ENGINE_ID = 'local';
export const VM_ENGINE_ID = 'vm';

/** The engine active until the user picks one: the VM where the OS has no containers of its own. */
export function defaultEngineId(platform: NodeJS.Platform = process.platform): string {
  return platform === 'linux' ? LOCAL_ENGINE_ID : VM_ENGINE_ID;
}

/**
 * The tour's sample is what a new user can pull anywhere: a small web server from Docker Hub
 * (it serves a page on its published port). Tests and offline setups point these at their own
 * registry through settings.set or the config file.
 */
export const DEFAULT_SETTINGS: Settings = {
  theme: 'system',
  onboardingDone: false,
  sampleRegistry: 'docker.io',
  sampleImage: 'library/nginx:alpine',
  tour: { step: 0 },
};

/** The tour's saved progress, keeping only well-formed fields. */
export function cleanTour(raw: unknown): Settings['tour'] {
  const r = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const tour: Settings['tour'] = { step: Number.isInteger(r['step']) && (r['step'] as number) >= 0 && (r['step'] as number) < 10 ? (r['step'] as number) : 0 };
  if (typeof r['image'] === 'string' && r['image'] !== '') tour.image = r['image'];
  if (typeof r['containerId'] === 'string' && /^[0-9a-f]{12,64}$/.test(r['containerId'])) tour.containerId = r['containerId'];
  if (Number.isInteger(r['hostPort']) && (r['hostPort'] as number) > 0 && (r['hostPort'] as number) < 65536) tour.hostPort = r['hostPort'] as number;
  return tour;
}

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

function cleanSettings(raw: unknown): Settings {
  const s = { ...DEFAULT_SETTINGS };
  if (!raw || typeof raw !== 'object') return s;
  const r = raw as Record<string, unknown>;
  if (r['theme'] === 'light' || r['theme'] === 'dark' || r['theme'] === 'system') s.theme = r['theme'];
  if (typeof r['onboardingDone'] === 'boolean') s.onboardingDone = r['onboardingDone'];
  if (typeof r['sampleRegistry'] === 'string') s.sampleRegistry = r['sampleRegistry'];
  if (typeof r['sampleImage'] === 'string') s.sampleImage = r['sampleImage'];
  s.tour = cleanTour(r['tour']);
  return s;
}

function cleanEngines(raw: unknown): EngineEndpoint[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((e): EngineEndpoint[] => {
    if (!e || typeof e !== 'object') return [];
    const r = e as Record<string, unknown>;
    const kinds = ['vm', 'ssh', 'socket'];
    if (typeof r['id'] !== 'string' || r['id'] === LOCAL_ENGINE_ID || r['id'] === VM_ENGINE_ID) return [];
    if (typeof r['name'] !== 'string' || typeof r['host'] !== 'string') return [];
    if (typeof r['kind'] !== 'string' || !kinds.includes(r['kind'])) return [];
    const engine: EngineEndpoint = { id: r['id'], name: r['name'], kind: r['kind'] as EngineEndpoint['kind'], host: r['host'] };
    if (typeof r['identityFile'] === 'string') engine.identityFile = r['identityFile'];
    if (typeof r['hostKey'] === 'string') engine.hostKey = r['hostKey'];
    const tls = r['tls'] as Record<string, unknown> | undefined;
    if (tls && typeof tls === 'object' && typeof tls['verify'] === 'boolean') {
      engine.tls = { verify: tls['verify'] };
      for (const k of ['ca', 'cert', 'key'] as const) if (typeof tls[k] === 'string') engine.tls[k] = tls[k];
    }
    return [engine];
  });
}

/** The engines registry and settings, loaded once and saved on every change. */
export class DesktopConfig {
  private constructor(
    readonly file: string,
    private readonly builtin: EngineEndpoint[],
    private state: StoredConfig,
  ) {}

  static async load(file: string, env: NodeJS.ProcessEnv = process.env, localHost?: string): Promise<DesktopConfig> {
    const builtin: EngineEndpoint[] = [
      { id: LOCAL_ENGINE_ID, name: 'Local engine', kind: 'local', host: localHost ?? defaultHost(env) },
      { id: VM_ENGINE_ID, name: 'Berth VM', kind: 'vm', host: hostFor(berthHome(env).vmSocket) },
    ];
    const fallback = defaultEngineId();
    let state: StoredConfig = { engines: [], active: fallback, settings: { ...DEFAULT_SETTINGS } };
    const text = await fsp.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (text !== undefined) {
      try {
        const raw = JSON.parse(text) as Record<string, unknown>;
        const engines = cleanEngines(raw['engines']);
        const known = [...builtin, ...engines];
        const active = typeof raw['active'] === 'string' && known.some((e) => e.id === raw['active']) ? raw['active'] : fallback;
        state = { engines, active, settings: cleanSettings(raw['settings']) };
      } catch {
        await fsp.rename(file, `${file}.corrupt`).catch(() => undefined);
      }
    }
    return new DesktopConfig(file, builtin, state);
  }

  engines(): EngineEndpoint[] {
    return [...this.builtin, ...this.state.engines];
  }

  get activeId(): string {
    return this.state.active;
  }

  active(): EngineEndpoint {
    return this.engines().find((e) => e.id === this.state.active) ?? (this.builtin[0] as EngineEndpoint);
  }

  get(id: string): EngineEndpoint {
    const e = this.engines().find((x) => x.id === id);
    if (!e) throw notFound(`no engine with id "${id}"`);
    return e;
  }

  /** By id, else by name (the CLI names contexts). */
  find(idOrName: string): EngineEndpoint {
    const e = this.engines().find((x) => x.id === idOrName) ?? this.engines().find((x) => x.name === idOrName);
    if (!e) throw notFound(`context "${idOrName}" does not exist`);
    return e;
  }

  /**
   * Checks a new engine's address and options, without saving it: unix://, tcp://, http:// or
   * ssh://user@host[:port][/socket] (with an optional identity file).
   */
  prepare(name: string, host: string, identityFile?: string): EngineEndpoint {
    const trimmed = host.trim();
    const label = name.trim() || trimmed;
    if (this.engines().some((e) => e.name === label)) throw invalid(`an engine named "${label}" already exists`);
    try {
      if (trimmed.startsWith('ssh://')) parseSshHost(trimmed);
      else parseHost(trimmed);
    } catch (err) {
      throw invalid(err instanceof Error ? err.message : String(err));
    }
    if (identityFile && !trimmed.startsWith('ssh://')) throw invalid('an identity file only applies to ssh:// engines');
    const engine: EngineEndpoint = { id: randomUUID(), name: label, kind: trimmed.startsWith('ssh://') ? 'ssh' : 'socket', host: trimmed };
    if (identityFile) engine.identityFile = path.resolve(identityFile);
    return engine;
  }

  /** Saves an engine made by `prepare` (after the caller reached it, for ssh engines). */
  async add(engine: EngineEndpoint): Promise<EngineEndpoint> {
    this.state = { ...this.state, engines: [...this.state.engines, engine] };
    await this.save();
    return engine;
  }

  async remove(id: string): Promise<void> {
    if (this.builtin.some((e) => e.id === id)) throw invalid(`the built-in engine "${id}" cannot be removed`);
    this.get(id);
    const engines = this.state.engines.filter((e) => e.id !== id);
    this.state = { ...this.state, engines, active: this.state.active === id ? defaultEngineId() : this.state.active };
    await this.save();
  }

  async use(id: string): Promise<EngineEndpoint> {
    const engine = this.get(id);
    this.state = { ...this.state, active: id };
    await this.save();
    return engine;
  }

  settings(): Settings {
    return { ...this.state.settings, tour: { ...this.state.settings.tour } };
  }

  /** Back to a first run: default settings and no added engines (the built-in ones stay). */
  async reset(): Promise<void> {
    this.state = { engines: [], active: defaultEngineId(), settings: { ...DEFAULT_SETTINGS, tour: { step: 0 } } };
    await this.save();
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

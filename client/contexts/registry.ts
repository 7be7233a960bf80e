/**
 * The engines registry: the engines the user added ("contexts" to `berth context`, the engine list
 * to Berth Desktop), and which one is active. The CLI and the app read and write the same file,
 * so switching in either switches both.
 *
 * One JSON file (default `$XDG_CONFIG_HOME/berth/desktop.json`, or BERTH_DESKTOP_CONFIG), rewritten
 * atomically (temp file, fsync, rename) so a crash never leaves half a file. A file that cannot be
 * parsed is set aside as `.corrupt` and defaults are used: the app and the CLI must still start.
 * The file has other sections the registry does not own (the app's `settings`): they are kept as
 * read and written back with every save, and their owner checks them.
 *
 * The local engine is not stored: it is always present, at BERTH_HOST / DOCKER_HOST or the default
 * socket, so changing the environment changes where "Local engine" points. Neither is the VM's:
 * "Berth VM" is always listed at the socket its supervisor forwards (`~/.berth/run/docker.sock`),
 * and on macOS and Windows, where there is no local engine, it is the one active by default.
 *
 * Failures are EngineErrors detected here (statusCode 0): `NOT_FOUND` for an unknown engine,
 * `INVALID` for an address or option that cannot be used.
 */
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EngineEndpoint } from '../../types/desktop-api.js';
import { EngineError } from '../errors.js';
import { berthHome, hostFor, writeFileAtomic } from '../home.js';
import { defaultHost, parseHost } from '../http.js';
import { parseSshHost } from '../ssh/index.js';

export const LOCAL_ENGINE_ID = 'local';
export const VM_ENGINE_ID = 'vm';

/** The engine active until the user picks one: the VM where the OS has no containers of its own. */
export function defaultEngineId(platform: NodeJS.Platform = process.platform): string {
  return platform === 'linux' ? LOCAL_ENGINE_ID : VM_ENGINE_ID;
}

/** Where the registry's file lives for this environment. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env['BERTH_DESKTOP_CONFIG']) return env['BERTH_DESKTOP_CONFIG'];
  const base = env['XDG_CONFIG_HOME'] || path.join(env['HOME'] || os.homedir(), '.config');
  return path.join(base, 'berth', 'desktop.json');
}

export const invalidContext = (message: string): EngineError => new EngineError(message, 0, 'INVALID');
export const unknownContext = (message: string): EngineError => new EngineError(message, 0, 'NOT_FOUND');

interface StoredRegistry {
  engines: EngineEndpoint[];
  active: string;
  /** The file's other top-level sections, in the order read (the app's `settings`). */
  sections: Record<string, unknown>;
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

/** The engines registry, loaded once and saved on every change. */
export class EngineRegistry {
  private constructor(
    readonly file: string,
    private readonly builtin: EngineEndpoint[],
    private state: StoredRegistry,
  ) {}

  static async load(file: string, env: NodeJS.ProcessEnv = process.env, localHost?: string): Promise<EngineRegistry> {
    const builtin: EngineEndpoint[] = [
      { id: LOCAL_ENGINE_ID, name: 'Local engine', kind: 'local', host: localHost ?? defaultHost(env) },
      { id: VM_ENGINE_ID, name: 'Berth VM', kind: 'vm', host: hostFor(berthHome(env).vmSocket) },
    ];
    const fallback = defaultEngineId();
    let state: StoredRegistry = { engines: [], active: fallback, sections: {} };
    const text = await fsp.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (text !== undefined) {
      const raw = parseObject(text);
      if (raw) {
        const { engines: storedEngines, active: storedActive, ...sections } = raw;
        const engines = cleanEngines(storedEngines);
        const known = [...builtin, ...engines];
        const active = typeof storedActive === 'string' && known.some((e) => e.id === storedActive) ? storedActive : fallback;
        state = { engines, active, sections };
      } else {
        await fsp.rename(file, `${file}.corrupt`).catch(() => undefined);
      }
    }
    return new EngineRegistry(file, builtin, state);
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
    if (!e) throw unknownContext(`no engine with id "${id}"`);
    return e;
  }

  /** By id, else by name (the CLI names contexts). */
  find(idOrName: string): EngineEndpoint {
    const e = this.engines().find((x) => x.id === idOrName) ?? this.engines().find((x) => x.name === idOrName);
    if (!e) throw unknownContext(`context "${idOrName}" does not exist`);
    return e;
  }

  /**
   * Checks a new engine's address and options, without saving it: unix://, tcp://, http:// or
   * ssh://user@host[:port][/socket] (with an optional identity file).
   */
  prepare(name: string, host: string, identityFile?: string): EngineEndpoint {
    const trimmed = host.trim();
    const label = name.trim() || trimmed;
    if (this.engines().some((e) => e.name === label)) throw invalidContext(`an engine named "${label}" already exists`);
    try {
      if (trimmed.startsWith('ssh://')) parseSshHost(trimmed);
      else parseHost(trimmed);
    } catch (err) {
      throw invalidContext(err instanceof Error ? err.message : String(err));
    }
    if (identityFile && !trimmed.startsWith('ssh://')) throw invalidContext('an identity file only applies to ssh:// engines');
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
    if (this.builtin.some((e) => e.id === id)) throw invalidContext(`the built-in engine "${id}" cannot be removed`);
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

  /** A section of the file the registry does not own, as read (undefined when absent). */
  section(name: string): unknown {
    return this.state.sections[name];
  }

  async setSection(name: string, value: unknown): Promise<void> {
    this.state = { ...this.state, sections: { ...this.state.sections, [name]: value } };
    await this.save();
  }

  /** Back to a first run: no added engines (the built-in ones stay), the default active, these sections. */
  async reset(sections: Record<string, unknown>): Promise<void> {
    this.state = { engines: [], active: defaultEngineId(), sections: { ...sections } };
    await this.save();
  }

  private async save(): Promise<void> {
    const { engines, active, sections } = this.state;
    await writeFileAtomic(this.file, `${JSON.stringify({ engines, active, ...sections }, null, 2)}\n`);
  }
}

/** The file's top-level object (empty for JSON that holds no object), or undefined when it is not JSON or is null. */
function parseObject(text: string): Record<string, unknown> | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (raw === null) return undefined;
  return typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
}

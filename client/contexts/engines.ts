/**
 * Adding and removing engines, shared by the app (`engine.add`) and the CLI (`berth context
 * create`). An ssh:// engine is reached once before it is saved: that is when its host key is
 * reviewed and pinned (unless ~/.ssh/known_hosts already vouches for it), and when a wrong address
 * or key is reported, so a saved engine is one that worked. A tcp:// engine's TLS files are copied
 * into Berth's home, so the context keeps working when the originals move.
 *
 * Failures are EngineErrors detected here (statusCode 0): `INVALID` for what cannot be added,
 * `CONFLICT` for a host key that differs from the one trusted.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EngineEndpoint, EngineTls, HostKeyReport } from '../../types/desktop-api.js';
import { EngineClient } from '../client.js';
import { openEngineLink } from '../engine-link.js';
import { EngineError } from '../errors.js';
import { berthHome, ensurePrivateDir, socketIn } from '../home.js';
import type { BerthHome } from '../home.js';
import { HostKeyChangedError, KnownHosts, parseSshHost, probeHostKey } from '../ssh/index.js';
import { loadTls } from '../tls.js';
import type { TlsFiles } from '../tls.js';
import { invalidContext } from './registry.js';
import type { EngineRegistry } from './registry.js';

export interface NewEngine {
  name: string;
  host: string;
  identityFile?: string;
  /**
   * Replace a trusted host key that differs from what the host presents: true for any key (the
   * CLI's --replace-host-key), or the `type SHA256:...` the user confirmed (the app).
   */
  replaceHostKey?: boolean | string;
  /** tcp:// engines: TLS as docker's flags give it (file paths); the files are copied into Berth's home. */
  tls?: TlsFiles;
}

/** The saved engine, and whether adding it pinned (or replaced) a host key nobody vouched for before. */
export type AddedEngine = EngineEndpoint & { hostKeyPinned?: boolean; hostKeyReplaced?: string[] };

function hostKeyChange(err: unknown): HostKeyChangedError | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof HostKeyChangedError) return e;
  return undefined;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function addEngine(registry: EngineRegistry, spec: NewEngine, env: NodeJS.ProcessEnv = process.env): Promise<AddedEngine> {
  // `~/.ssh/id_x` as typed in the app (the CLI expands it too; expanding twice changes nothing).
  const engine = registry.prepare(spec.name, spec.host, spec.identityFile === undefined ? undefined : expandHome(spec.identityFile, env));
  if (spec.tls) {
    if (!/^(tcp|https):\/\//.test(engine.host)) throw invalidContext('TLS settings only apply to tcp:// engines');
    engine.tls = await keepTlsFiles(berthHome(env), engine.id, spec.tls, env);
  }
  if (engine.kind !== 'ssh') return registry.add(engine);
  const home = berthHome(env);
  const probeSocket = socketIn(home, `add-${process.pid}-${engine.id.slice(0, 8)}`);
  let link;
  let pinned = false;
  // What was trusted before, to say what a replacement replaced.
  const before = spec.replaceHostKey ? await probeHostKey(engine.host, { home, env }).catch(() => undefined) : undefined;
  try {
    link = await openEngineLink(engine, {
      home,
      env,
      socketPath: probeSocket,
      connectNow: true,
      ...(spec.replaceHostKey !== undefined ? { replaceHostKey: spec.replaceHostKey } : {}),
      onNewHostKey: (_target, fp) => {
        pinned = true;
        engine.hostKey = fp;
      },
      onKnownHostKey: (_target, fp) => {
        engine.hostKey = fp;
      },
    });
  } catch (err) {
    const changed = hostKeyChange(err);
    if (changed) {
      throw new EngineError(
        `cannot add ${engine.host}: ${changed.message}. If you know why it changed, replace the pinned key: ` +
          `berth context create ... --replace-host-key, or confirm the new key when adding the engine in Berth Desktop`,
        0,
        'CONFLICT',
        { cause: err },
      );
    }
    throw invalidContext(`cannot add ${engine.host}: ${message(err)}`);
  }
  const client = new EngineClient({ host: link.host });
  try {
    await client.ping(AbortSignal.timeout(10_000));
  } catch (err) {
    throw invalidContext(`reached ${engine.host} over SSH, but no engine answered at its socket: ${message(err)}`);
  } finally {
    client.close();
    await link.close();
  }
  await registry.add(engine);
  const replaced = before?.check.verdict === 'mismatch' && pinned ? before.check.listed.map((k) => `${k.keyType} ${k.fingerprint}`) : undefined;
  return { ...engine, ...(pinned ? { hostKeyPinned: true } : {}), ...(replaced ? { hostKeyReplaced: replaced } : {}) };
}

/** The key an ssh:// address presents and the keys trusted for it, nothing pinned. */
export async function hostKeyReport(address: string, env: NodeJS.ProcessEnv = process.env): Promise<HostKeyReport> {
  if (!address.trim().startsWith('ssh://')) throw invalidContext('host keys only apply to ssh:// engines');
  try {
    const { name, check } = await probeHostKey(address.trim(), { home: berthHome(env), env });
    return { name, presented: check.presented, trusted: check.listed.map((k) => `${k.keyType} ${k.fingerprint}`), verdict: check.verdict };
  } catch (err) {
    throw invalidContext(`cannot reach ${address}: ${message(err)}`);
  }
}

/**
 * Removes an engine. An ssh engine's pinned host key goes with it unless another engine uses the
 * same host and port, so "remove it and add it again" is how a changed key is accepted.
 */
export async function removeEngine(registry: EngineRegistry, id: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const engine = registry.get(id);
  await registry.remove(id);
  if (engine.tls) await fsp.rm(tlsDir(berthHome(env), engine.id), { recursive: true, force: true });
  if (engine.kind !== 'ssh') return;
  const target = parseSshHost(engine.host);
  const shared = registry.engines().some((e) => {
    if (e.kind !== 'ssh') return false;
    const t = parseSshHost(e.host);
    return t.host === target.host && t.port === target.port;
  });
  if (!shared) await new KnownHosts(berthHome(env).knownHosts).unpin(target.host, target.port);
}

function tlsDir(home: BerthHome, engineId: string): string {
  return path.join(home.root, 'tls', engineId);
}

/** Copies a tcp:// engine's TLS files (CA, client certificate and key) into Berth's home, private, and checks that they load. */
async function keepTlsFiles(home: BerthHome, engineId: string, tls: TlsFiles, env: NodeJS.ProcessEnv): Promise<EngineTls> {
  try {
    await loadTls({ ...tls, ...(tls.ca ? { ca: expandHome(tls.ca, env) } : {}), ...(tls.cert ? { cert: expandHome(tls.cert, env) } : {}), ...(tls.key ? { key: expandHome(tls.key, env) } : {}) });
  } catch (err) {
    throw invalidContext(message(err));
  }
  const dir = tlsDir(home, engineId);
  await ensurePrivateDir(dir);
  const kept: EngineTls = { verify: tls.verify };
  for (const k of ['ca', 'cert', 'key'] as const) {
    const from = tls[k];
    if (!from) continue;
    const to = path.join(dir, `${k}.pem`);
    await fsp.writeFile(to, await fsp.readFile(expandHome(from, env)), { mode: 0o600 });
    kept[k] = to;
  }
  return kept;
}

/** `~` in a file path typed by a person. */
export function expandHome(file: string, env: NodeJS.ProcessEnv = process.env): string {
  return file.startsWith('~/') ? path.join(env['HOME'] || os.homedir(), file.slice(2)) : file;
}

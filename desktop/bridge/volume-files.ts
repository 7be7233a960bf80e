/**
 * A volume's files through the Docker API, so it works on any engine (local, the VM, remote): a
 * helper container that mounts the volume is created — never started, no network — the archive
 * endpoints (the ones `docker cp` uses) read or write under its mount, and the container is
 * removed again. Browse, download, import a tar, export a tar and clone all work this way.
 *
 * The helper is made from an image the engine already has; an engine with no image at all gets
 * an empty one imported for the occasion and removed afterwards, so nothing is pulled.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { EngineClient } from '../../client/index.js';
import { EngineError } from '../../client/index.js';
import type { FileEntry } from '../../types/desktop-api.js';
import type { Volume } from '../../types/engine-api.js';
import { BridgeFailure, invalid } from './errors.js';
import { listDir, readFile } from './files.js';

/** Label on helper containers (the Containers screen hides them; they live for one operation). */
export const HELPER_LABEL = 'com.berth.desktop.helper';
const EMPTY_IMAGE = 'berth-desktop-empty';
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Paths inside a volume: absolute, no "..", as the person sees them ("/" is the volume's root). */
function insideVolume(p: string): string {
  if (!p.startsWith('/') || p.split('/').includes('..')) throw invalid(`"${p}" is not a path inside the volume (start with /, no ..)`);
  return p;
}

async function withImage<T>(client: EngineClient, fn: (image: string) => Promise<T>): Promise<T> {
  const images = await client.listImages();
  const have = images[0]?.Id;
  if (have) return fn(have);
  // 1024 zero bytes: the end of an empty tar archive.
  const messages = client.importImage(Readable.from([Buffer.alloc(1024)]), { repo: EMPTY_IMAGE, tag: `t${randomBytes(4).toString('hex')}` });
  let id = '';
  for await (const m of messages) {
    if (m.error || m.errorDetail) throw new BridgeFailure(`could not prepare a helper image: ${m.errorDetail?.message ?? m.error}`, 500);
    if (m.status?.startsWith('sha256:')) id = m.status;
  }
  if (!id) throw new BridgeFailure('could not prepare a helper image: the engine named none', 500);
  try {
    return await fn(id);
  } finally {
    await client.removeImage(id, { force: true }).catch(() => undefined);
  }
}

/** Runs `fn` with a helper container that mounts each volume at its path (`{ '/volume': 'data' }`). */
export async function withVolumeHelper<T>(client: EngineClient, mounts: Record<string, string>, fn: (id: string) => Promise<T>, readOnly: string[] = []): Promise<T> {
  for (const name of Object.values(mounts)) {
    await client.volumes.inspect(name); // 404 "no such volume" before anything is created
  }
  return withImage(client, async (image) => {
    const { Id } = await client.containers.create({
      Hostname: '',
      Domainname: '',
      User: '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: [],
      // Never run: the container only holds the mounts for the archive endpoints.
      Cmd: ['/berth-desktop-helper'],
      Entrypoint: null,
      Image: image,
      Volumes: null,
      WorkingDir: '',
      Labels: { [HELPER_LABEL]: 'volume' },
      HostConfig: { Binds: Object.entries(mounts).map(([at, name]) => `${name}:${at}${readOnly.includes(at) ? ':ro' : ''}`), NetworkMode: 'none' },
      NetworkingConfig: { EndpointsConfig: {} },
    });
    try {
      return await fn(Id);
    } finally {
      // `volumes` takes the anonymous volumes the image's VOLUMEs made with it; named ones stay.
      await client.containers.remove(Id, { force: true, volumes: true }).catch(() => undefined);
    }
  });
}

export function volumeListDir(client: EngineClient, name: string, path: string): Promise<FileEntry[]> {
  const inside = insideVolume(path);
  return withVolumeHelper(client, { '/volume': name }, (id) => listDir(client, id, inside === '/' ? '/volume' : `/volume${inside}`), ['/volume']);
}

export function volumeReadFile(client: EngineClient, name: string, path: string): Promise<{ name: string; base64: string; size: number }> {
  const inside = insideVolume(path);
  return withVolumeHelper(client, { '/volume': name }, (id) => readFile(client, id, `/volume${inside}`), ['/volume']);
}

/** Unpacks a tar into the volume's root. */
export function volumeImport(client: EngineClient, name: string, tar: Buffer): Promise<void> {
  return withVolumeHelper(client, { '/volume': name }, (id) => client.containers.putArchive(id, '/volume', Readable.from([tar])));
}

/** The volume's contents as a tar (entries relative to its root: "./", "./file"), chunk by chunk. */
export async function volumeExport(client: EngineClient, name: string, onChunk: (chunk: Buffer) => void, signal: AbortSignal): Promise<number> {
  return withVolumeHelper(
    client,
    { '/volume': name },
    async (id) => {
      const { tar } = await client.containers.getArchive(id, '/volume/.');
      let bytes = 0;
      const stop = (): void => void tar.destroy();
      signal.addEventListener('abort', stop, { once: true });
      try {
        for await (const chunk of tar as AsyncIterable<Buffer>) {
          bytes += chunk.length;
          onChunk(chunk);
        }
      } finally {
        signal.removeEventListener('abort', stop);
      }
      return bytes;
    },
    ['/volume'],
  );
}

/** A new volume `target` (labels and driver options from `source`) holding a copy of `source`'s files. */
export async function volumeClone(client: EngineClient, source: string, target: string): Promise<Volume> {
  if (!VOLUME_NAME.test(target)) throw invalid(`"${target}" is not a valid volume name: use letters, digits, "_", "." or "-" (at least 2 characters)`);
  const from = await client.volumes.inspect(source);
  const exists = await client.volumes.inspect(target).then(
    () => true,
    (err: unknown) => {
      if (err instanceof EngineError && err.statusCode === 404) return false;
      throw err;
    },
  );
  if (exists) throw new BridgeFailure(`a volume named ${target} already exists`, 409);
  const created = await client.volumes.create({ Name: target, Driver: from.Driver, DriverOpts: from.Options ?? {}, Labels: from.Labels ?? {} });
  try {
    await withVolumeHelper(
      client,
      { '/from': source, '/to': target },
      async (id) => {
        const { tar } = await client.containers.getArchive(id, '/from/.');
        await client.containers.putArchive(id, '/to', tar);
      },
      ['/from'],
    );
  } catch (err) {
    await client.volumes.remove(target, { force: true }).catch(() => undefined);
    throw err;
  }
  return created;
}

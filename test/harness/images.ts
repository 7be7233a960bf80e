// Builds OCI images ourselves (layers from FileSpecs via tar-stream, busybox from Debian's
// busybox-static package), writes them as an OCI image layout and pushes them with skopeo.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, realpath, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import type { TestRegistry } from './registry.js';
import { cacheDir, goArch, makeTempDir, removeDir, requireTool, run, runOk, trackDir, untrackDir } from './util.js';

const gzip = promisify(gzipCb);

// ---------------------------------------------------------------- types

export type FileSpec =
  | {
      type: 'file';
      path: string;
      content?: string | Buffer;
      mode?: number;
      uid?: number;
      gid?: number;
      mtime?: Date;
      xattrs?: Record<string, string>;
    }
  | { type: 'dir'; path: string; mode?: number; uid?: number; gid?: number; mtime?: Date }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'hardlink'; path: string; target: string }
  | { type: 'char' | 'block'; path: string; major: number; minor: number }
  | { type: 'fifo'; path: string };

export type Compression = 'gzip' | 'zstd' | 'none';

export interface LayerSpec {
  files: FileSpec[];
  /** Default gzip. */
  compression?: Compression;
}

export interface ImageSpec {
  layers: LayerSpec[];
  /**
   * The OCI config's "config" section (Cmd, Env, Entrypoint, WorkingDir, Labels, ExposedPorts...),
   * used verbatim. When omitted: { Env: [PATH=<default>], Cmd: ['sh'] }.
   */
  config?: Record<string, unknown>;
  /** Default: linux / process.arch mapped to Go names (x64 -> amd64). */
  platform?: { os: string; architecture: string; variant?: string };
  /** Used verbatim; default one entry per layer. */
  history?: unknown[];
  /** Default a fixed date, so identical specs give identical digests. */
  created?: string;
}

export interface PushedImage {
  /** host/repo:tag (for the members of an index: host/repo@digest) */
  ref: string;
  manifestDigest: string;
  configDigest: string;
  /** Digests of the layer blobs as pushed (compressed). */
  layerDigests: string[];
  /** sha256 of each uncompressed layer tar (config rootfs.diff_ids). */
  diffIds: string[];
}

export interface PushOptions {
  /** "user:pass" for skopeo --dest-creds (and the verifying inspect). */
  creds?: string;
  /** Media types: OCI (default) or Docker schema 2 (manifest v2 / manifest list). */
  format?: 'oci' | 'docker';
}

// ---------------------------------------------------------------- media types

const MT = {
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    index: 'application/vnd.oci.image.index.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: {
      gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
      zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
      none: 'application/vnd.oci.image.layer.v1.tar',
    },
  },
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: {
      gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      zstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
      none: 'application/vnd.docker.image.rootfs.diff.tar',
    },
  },
} as const;

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_CREATED = '2024-01-01T00:00:00Z';
const DEFAULT_MTIME = new Date('2024-01-01T00:00:00Z');

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

// ---------------------------------------------------------------- Debian packages

const debPromises = new Map<string, Promise<string>>();

/**
 * Downloads a Debian package with `apt-get download` (never installs it) and extracts it with
 * dpkg-deb into <repo>/.cache/deb/<pkg>/. Returns that root. Safe against concurrent test processes.
 */
export function debPackageRoot(pkg: string): Promise<string> {
  let p = debPromises.get(pkg);
  if (!p) {
    p = extractDeb(pkg);
    p.catch(() => debPromises.delete(pkg));
    debPromises.set(pkg, p);
  }
  return p;
}

async function extractDeb(pkg: string): Promise<string> {
  const base = cacheDir('deb');
  const root = join(base, pkg);
  if (existsSync(join(root, '.complete'))) return root;
  await mkdir(base, { recursive: true });
  const work = join(base, `.tmp-${pkg}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(join(work, 'dl'), { recursive: true });
  try {
    const dl = await run(requireTool('apt-get'), ['download', pkg], { cwd: join(work, 'dl'), timeoutMs: 180_000 });
    const debs = (await readdir(join(work, 'dl'))).filter((f) => f.endsWith('.deb'));
    if (dl.code !== 0 || debs.length === 0) {
      throw new Error(
        `apt-get download ${pkg} failed (exit ${dl.code}). If the package lists are missing, run \`apt-get update\` once.\n${dl.stderr.toString().trim()}`,
      );
    }
    await runOk(requireTool('dpkg-deb'), ['-x', join(work, 'dl', debs[0] as string), join(work, 'root')]);
    await writeFile(join(work, 'root', '.complete'), debs[0] as string);
    try {
      await rename(join(work, 'root'), root);
    } catch (e) {
      // Another process won the race (target exists and is non-empty): use theirs.
      if (!existsSync(join(root, '.complete'))) throw e;
    }
    return root;
  } finally {
    await removeDir(work);
  }
}

/** A Debian architecture other than the host's, for images the Berth VM's arm64 guest runs. */
export type ForeignArch = 'arm64' | 'amd64';

/**
 * Path to a static busybox binary (from Debian's busybox-static package, cached under .cache/).
 * With `arch`, that architecture's package (`busybox-static:arm64`): apt must know the
 * architecture (`dpkg --add-architecture arm64 && apt-get update`, which build/setup.sh does).
 */
export async function busyboxStaticBinary(arch?: ForeignArch): Promise<string> {
  const pkg = arch && arch !== goArch() ? `busybox-static:${arch}` : 'busybox-static';
  const root = await debPackageRoot(pkg).catch((err: Error) => {
    throw arch ? new Error(`${err.message}\n(for ${pkg}: dpkg --add-architecture ${arch} && apt-get update)`) : err;
  });
  const bin = join(root, 'bin', 'busybox');
  if (!existsSync(bin)) throw new Error(`${pkg} package has no bin/busybox (looked in ${root})`);
  return bin;
}

/** The image platform for a Debian architecture name (arm64 images say variant v8, as Docker's do). */
export function platformFor(arch: ForeignArch): { os: string; architecture: string; variant?: string } {
  return arch === 'arm64' ? { os: 'linux', architecture: 'arm64', variant: 'v8' } : { os: 'linux', architecture: arch };
}

const busyboxCaches = new Map<string, Promise<{ binary: Buffer; applets: string[] }>>();

async function loadBusybox(arch?: ForeignArch): Promise<{ binary: Buffer; applets: string[] }> {
  const bin = await busyboxStaticBinary(arch);
  const binary = await readFile(bin);
  // The applet list from the host's own binary: a foreign one may not run here, and Debian builds
  // every architecture's busybox-static from the same configuration.
  const list = (await runOk(arch ? await busyboxStaticBinary() : bin, ['--list'])).toString();
  const applets = list
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'busybox' && !s.includes('/'));
  return { binary, applets };
}

/**
 * A root filesystem layer: /bin/busybox with a symlink for every applet (sh, ls, cat, echo, true,
 * false, sleep, env, id, wget, ...), /etc/passwd and /etc/group (root, nobody), /tmp (1777),
 * /root (0700), /usr/bin/env, empty /dev /proc /sys /home /var. Returns a fresh object each call.
 */
export async function busyboxLayer(opts: { arch?: ForeignArch } = {}): Promise<LayerSpec> {
  const key = opts.arch ?? 'host';
  let cached = busyboxCaches.get(key);
  if (!cached) {
    cached = loadBusybox(opts.arch);
    cached.catch(() => busyboxCaches.delete(key));
    busyboxCaches.set(key, cached);
  }
  const { binary, applets } = await cached;
  const files: FileSpec[] = [
    { type: 'dir', path: 'bin', mode: 0o755 },
    { type: 'file', path: 'bin/busybox', content: binary, mode: 0o755 },
    ...applets.map((a): FileSpec => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'dir', path: 'dev', mode: 0o755 },
    { type: 'dir', path: 'etc', mode: 0o755 },
    {
      type: 'file',
      path: 'etc/passwd',
      mode: 0o644,
      content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    },
    { type: 'file', path: 'etc/group', mode: 0o644, content: 'root:x:0:\nnobody:x:65534:\n' },
    { type: 'dir', path: 'home', mode: 0o755 },
    { type: 'dir', path: 'proc', mode: 0o555 },
    { type: 'dir', path: 'root', mode: 0o700 },
    { type: 'dir', path: 'sys', mode: 0o555 },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'usr', mode: 0o755 },
    { type: 'dir', path: 'usr/bin', mode: 0o755 },
    { type: 'symlink', path: 'usr/bin/env', target: '/bin/busybox' },
    { type: 'dir', path: 'var', mode: 0o755 },
  ];
  return { files, compression: 'gzip' };
}

let dynamicBusyboxCache: Promise<FileSpec[]> | undefined;

/** The files a dynamically linked binary needs: each library `ldd` names, at its own path, plus symlinks such as /lib64. */
async function sharedLibraryFiles(binary: string): Promise<FileSpec[]> {
  const out = (await runOk(requireTool('ldd'), [binary])).toString();
  const files: FileSpec[] = [];
  const dirs = new Set<string>();
  const addFile = async (file: string): Promise<void> => {
    const rel = file.replace(/^\/+/, '');
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    files.push({ type: 'file', path: rel, content: await readFile(file), mode: 0o755 });
  };
  for (const line of out.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (!m) continue;
    const lib = m[1] as string;
    const real = await realpath(lib);
    await addFile(real);
    if (real !== lib) {
      // The loader and libraries are looked up by the names ldd prints (/lib64/..., /lib/...).
      const rel = lib.replace(/^\/+/, '');
      files.push({ type: 'symlink', path: rel, target: real });
      for (let i = 1, p = rel.split('/'); i < p.length; i++) dirs.add(p.slice(0, i).join('/'));
    }
  }
  const dirSpecs = [...dirs].sort().map((d): FileSpec => ({ type: 'dir', path: d, mode: 0o755 }));
  return [...dirSpecs, ...files];
}

async function loadDynamicBusybox(): Promise<FileSpec[]> {
  const root = await debPackageRoot('busybox');
  const bin = join(root, 'bin', 'busybox');
  if (!existsSync(bin)) throw new Error(`busybox package has no bin/busybox (looked in ${root})`);
  return [{ type: 'file', path: 'bin/busybox', content: await readFile(bin), mode: 0o755 }, ...(await sharedLibraryFiles(bin))];
}

/**
 * A layer with one program from a Debian package (at `inPackage`, e.g. "bin/nc.openbsd") placed
 * at `at` in the image, with the shared libraries it links against, taken from the host.
 */
export async function debToolLayer(pkg: string, inPackage: string, at: string): Promise<LayerSpec> {
  const root = await debPackageRoot(pkg);
  const bin = join(root, inPackage);
  if (!existsSync(bin)) throw new Error(`package ${pkg} has no ${inPackage}`);
  const libs = await sharedLibraryFiles(bin);
  const rel = at.replace(/^\/+/, '');
  const parents = rel.split('/').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('/'));
  return {
    files: [
      ...parents.map((d): FileSpec => ({ type: 'dir', path: d, mode: 0o755 })),
      { type: 'file', path: rel, content: await readFile(bin), mode: 0o755 },
      ...libs.filter((f) => !parents.includes(f.path)),
    ],
    compression: 'gzip',
  };
}

/**
 * busyboxLayer() with Debian's dynamically linked busybox and the host's glibc in place of the
 * static one: name resolution (nslookup, ping, wget by name) goes through glibc's resolver and
 * /etc/resolv.conf, which the static build crashes on.
 */
export async function busyboxDynamicLayer(): Promise<LayerSpec> {
  const layer = await busyboxLayer();
  dynamicBusyboxCache ??= loadDynamicBusybox();
  dynamicBusyboxCache.catch(() => (dynamicBusyboxCache = undefined));
  const extra = await dynamicBusyboxCache;
  const seen = new Set(layer.files.map((f) => f.path));
  const files = layer.files.map((f) => (f.path === 'bin/busybox' ? (extra[0] as FileSpec) : f));
  for (const f of extra.slice(1)) if (!seen.has(f.path)) files.push(f);
  files.push({ type: 'file', path: 'etc/nsswitch.conf', mode: 0o644, content: 'hosts: files dns\n' });
  return { files, compression: 'gzip' };
}

/**
 * A layer of incompressible random content under `path` (a dir entry for `path` plus
 * `files` files, default 1, named <path>/random-NNNN.bin), totalling `bytes` bytes.
 */
export function randomLayer(path: string, bytes: number, opts: { files?: number; compression?: Compression } = {}): LayerSpec {
  const count = Math.max(1, opts.files ?? 1);
  const dir = path.replace(/\/+$/, '');
  const files: FileSpec[] = [{ type: 'dir', path: dir, mode: 0o755 }];
  const per = Math.floor(bytes / count);
  for (let i = 0; i < count; i++) {
    const size = i === count - 1 ? bytes - per * (count - 1) : per;
    files.push({ type: 'file', path: `${dir}/random-${String(i).padStart(4, '0')}.bin`, content: randomBytes(size), mode: 0o644 });
  }
  return { files, compression: opts.compression ?? 'gzip' };
}

// ---------------------------------------------------------------- tar

// tar-stream replaces a falsy mode with its default; OR-ing in the file-type bits (masked away
// when the header is encoded) lets a spec ask for mode 0.
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

type PackHeader = Partial<Header> & { name: string; pax?: Record<string, string> };

function headerFor(f: FileSpec): { header: PackHeader; body?: Buffer } {
  switch (f.type) {
    case 'file': {
      const body = typeof f.content === 'string' ? Buffer.from(f.content) : (f.content ?? Buffer.alloc(0));
      const header: PackHeader = {
        name: f.path,
        type: 'file',
        mode: S_IFREG | (f.mode ?? 0o644),
        uid: f.uid ?? 0,
        gid: f.gid ?? 0,
        mtime: f.mtime ?? DEFAULT_MTIME,
        size: body.length,
      };
      if (f.xattrs && Object.keys(f.xattrs).length > 0) {
        header.pax = {};
        for (const [k, v] of Object.entries(f.xattrs)) header.pax[`SCHILY.xattr.${k}`] = v;
      }
      return { header, body };
    }
    case 'dir':
      return {
        header: {
          // tar-stream doesn't add the trailing slash that tar, Go and Docker write for dirs.
          name: f.path.endsWith('/') ? f.path : `${f.path}/`,
          type: 'directory',
          mode: S_IFDIR | (f.mode ?? 0o755),
          uid: f.uid ?? 0,
          gid: f.gid ?? 0,
          mtime: f.mtime ?? DEFAULT_MTIME,
        },
      };
    case 'symlink':
      return { header: { name: f.path, type: 'symlink', linkname: f.target, mode: S_IFLNK | 0o777, mtime: DEFAULT_MTIME } };
    case 'hardlink':
      return { header: { name: f.path, type: 'link', linkname: f.target, mode: S_IFREG | 0o644, mtime: DEFAULT_MTIME } };
    case 'char':
    case 'block':
      return {
        header: {
          name: f.path,
          type: f.type === 'char' ? 'character-device' : 'block-device',
          mode: (f.type === 'char' ? S_IFCHR : S_IFBLK) | 0o666,
          devmajor: f.major,
          devminor: f.minor,
          mtime: DEFAULT_MTIME,
        },
      };
    case 'fifo':
      return { header: { name: f.path, type: 'fifo', mode: S_IFIFO | 0o644, mtime: DEFAULT_MTIME } };
  }
}

/**
 * Packs a tar with tar-stream. Entry names are used verbatim (so "../x" or "/abs" stay hostile);
 * write "etc/passwd", not "/etc/passwd", for a well-formed layer. xattrs become PAX
 * SCHILY.xattr.* records; names or link targets too long for ustar become PAX path/linkpath.
 */
export async function buildTar(files: FileSpec[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const f of files) {
    const { header, body } = headerFor(f);
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (body !== undefined) pack.entry(header, body, cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------- blobs

export interface LayerBlob {
  compression: Compression;
  /** The blob as pushed. */
  data: Buffer;
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar. */
  diffId: string;
}

async function compress(data: Buffer, compression: Compression): Promise<Buffer> {
  switch (compression) {
    case 'none':
      return data;
    case 'gzip':
      return gzip(data);
    case 'zstd':
      return runOk(requireTool('zstd'), ['-q', '-c', '-3', '-T0', '-'], { input: data });
  }
}

/** Compresses an already-built tar into a layer blob. */
export async function layerBlobFromTar(tarData: Buffer, compression: Compression = 'gzip'): Promise<LayerBlob> {
  const data = await compress(tarData, compression);
  return { compression, data, digest: sha256(data), size: data.length, diffId: sha256(tarData) };
}

const LAYER_CACHE_MAX_TAR = 16 * 1024 * 1024;
const layerCache = new Map<string, Promise<LayerBlob>>();

function layerKey(spec: LayerSpec): string {
  const h = createHash('sha256');
  h.update(spec.compression ?? 'gzip');
  for (const f of spec.files) {
    const { content, ...rest } = f as FileSpec & { content?: string | Buffer };
    h.update(JSON.stringify(rest));
    h.update(content === undefined ? '-' : createHash('sha256').update(content).digest('hex'));
  }
  return h.digest('hex');
}

/** Builds (tar + compress) one layer; small layers are cached in memory per process. */
export async function layerBlob(spec: LayerSpec): Promise<LayerBlob> {
  const approx = spec.files.reduce((n, f) => n + (f.type === 'file' ? (f.content?.length ?? 0) : 0), 0);
  if (approx > LAYER_CACHE_MAX_TAR) return layerBlobFromTar(await buildTar(spec.files), spec.compression ?? 'gzip');
  const key = layerKey(spec);
  let p = layerCache.get(key);
  if (!p) {
    p = buildTar(spec.files).then((t) => layerBlobFromTar(t, spec.compression ?? 'gzip'));
    p.catch(() => layerCache.delete(key));
    layerCache.set(key, p);
  }
  return p;
}

// ---------------------------------------------------------------- images

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface BuiltImage {
  manifest: Buffer;
  manifestDescriptor: Descriptor;
  config: Buffer;
  configDigest: string;
  layers: LayerBlob[];
  /** Every blob (config + layers) by digest. */
  blobs: Map<string, Buffer>;
}

function hostPlatform(): { os: string; architecture: string; variant?: string } {
  const architecture = goArch();
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  return { os: 'linux', architecture };
}

/** Builds config + manifest for prebuilt layer blobs. */
export function assembleImage(spec: Omit<ImageSpec, 'layers'>, layers: LayerBlob[], format: 'oci' | 'docker' = 'oci'): BuiltImage {
  const mt = MT[format];
  const platform = spec.platform ?? hostPlatform();
  const created = spec.created ?? DEFAULT_CREATED;
  const configObj: Record<string, unknown> = {
    created,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    config: spec.config ?? { Env: [DEFAULT_PATH], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: spec.history ?? layers.map((_, i) => ({ created, created_by: `berth-test-harness layer ${i}` })),
  };
  const config = Buffer.from(JSON.stringify(configObj));
  const configDigest = sha256(config);
  const manifestObj = {
    schemaVersion: 2,
    mediaType: mt.manifest,
    config: { mediaType: mt.config, digest: configDigest, size: config.length },
    layers: layers.map((l) => ({ mediaType: mt.layer[l.compression], digest: l.digest, size: l.size })),
  };
  const manifest = Buffer.from(JSON.stringify(manifestObj));
  const blobs = new Map<string, Buffer>([[configDigest, config]]);
  for (const l of layers) blobs.set(l.digest, l.data);
  return {
    manifest,
    manifestDescriptor: { mediaType: mt.manifest, digest: sha256(manifest), size: manifest.length, platform },
    config,
    configDigest,
    layers,
    blobs,
  };
}

/** Builds every layer and the config + manifest of an image spec. */
export async function buildImage(spec: ImageSpec, format: 'oci' | 'docker' = 'oci'): Promise<BuiltImage> {
  const layers = await Promise.all(spec.layers.map((l) => layerBlob(l)));
  return assembleImage(spec, layers, format);
}

function splitRepoTag(repoTag: string): { repo: string; tag: string } {
  if (repoTag.includes('@')) throw new Error(`push by digest is not supported: ${repoTag}`);
  const slash = repoTag.lastIndexOf('/');
  const colon = repoTag.lastIndexOf(':');
  if (colon > slash) return { repo: repoTag.slice(0, colon), tag: repoTag.slice(colon + 1) };
  return { repo: repoTag, tag: 'latest' };
}

/** Writes an OCI image layout with `top` tagged as `tag` in index.json. Returns the skopeo source reference. */
async function writeOciLayout(dir: string, blobs: Map<string, Buffer>, top: Descriptor, tag: string): Promise<string> {
  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const [digest, data] of blobs) await writeFile(join(blobDir, digest.slice('sha256:'.length)), data);
  const { platform: _platform, ...desc } = top;
  const index = {
    schemaVersion: 2,
    mediaType: MT.oci.index,
    manifests: [{ ...desc, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  return `oci:${dir}:${tag}`;
}

/**
 * skopeo's oci: transport only lists OCI media types in index.json, so Docker-format images go
 * through its dir: transport instead: manifest.json (the top manifest), <hex>.manifest.json for
 * the members of a list, every other blob as <hex>.
 */
async function writeDirLayout(dir: string, blobs: Map<string, Buffer>, top: Buffer, members: Buffer[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  await writeFile(join(dir, 'manifest.json'), top);
  for (const m of members) await writeFile(join(dir, `${sha256(m).slice('sha256:'.length)}.manifest.json`), m);
  for (const [digest, data] of blobs) await writeFile(join(dir, digest.slice('sha256:'.length)), data);
  return `dir:${dir}`;
}

function credArgs(prefix: '--dest-' | '--', creds: string | undefined): string[] {
  return creds !== undefined ? [`${prefix}creds`, creds] : [`${prefix}no-creds`];
}

async function skopeoPush(source: string, dest: string, creds: string | undefined, all: boolean): Promise<void> {
  await runOk(
    requireTool('skopeo'),
    [
      '--insecure-policy',
      'copy',
      '--quiet',
      '--preserve-digests',
      '--dest-tls-verify=false',
      ...credArgs('--dest-', creds),
      ...(all ? ['--all'] : []),
      source,
      `docker://${dest}`,
    ],
    { timeoutMs: 300_000 },
  );
}

/** The raw manifest bytes the registry serves for `ref` (host/repo:tag or @digest), via skopeo. */
export async function inspectRaw(ref: string, creds?: string): Promise<Buffer> {
  return runOk(requireTool('skopeo'), ['--insecure-policy', 'inspect', '--raw', '--tls-verify=false', ...credArgs('--', creds), `docker://${ref}`], {
    timeoutMs: 60_000,
  });
}

async function verifyPushed(ref: string, expected: string, creds: string | undefined): Promise<void> {
  const served = sha256(await inspectRaw(ref, creds));
  if (served !== expected) throw new Error(`registry serves ${ref} as ${served}, but the harness pushed ${expected}`);
}

async function withLayout<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await makeTempDir('berth-oci-');
  trackDir(dir);
  try {
    return await fn(dir);
  } finally {
    untrackDir(dir);
    await removeDir(dir);
  }
}

function pushedFrom(ref: string, img: BuiltImage): PushedImage {
  return {
    ref,
    manifestDigest: img.manifestDescriptor.digest,
    configDigest: img.configDigest,
    layerDigests: img.layers.map((l) => l.digest),
    diffIds: img.layers.map((l) => l.diffId),
  };
}

async function pushBuilt(registry: TestRegistry, repoTag: string, img: BuiltImage, opts: PushOptions): Promise<PushedImage> {
  const { repo, tag } = splitRepoTag(repoTag);
  const ref = `${registry.host}/${repo}:${tag}`;
  await withLayout(async (dir) => {
    let source: string;
    if ((opts.format ?? 'oci') === 'oci') {
      const blobs = new Map(img.blobs);
      blobs.set(img.manifestDescriptor.digest, img.manifest);
      source = await writeOciLayout(dir, blobs, img.manifestDescriptor, tag);
    } else {
      source = await writeDirLayout(dir, img.blobs, img.manifest, []);
    }
    await skopeoPush(source, ref, opts.creds, false);
  });
  await verifyPushed(ref, img.manifestDescriptor.digest, opts.creds);
  return pushedFrom(ref, img);
}

/** Builds an image from `spec` and pushes it as <registry>/<repoTag>. Returns digests as the registry serves them. */
export async function pushImage(registry: TestRegistry, repoTag: string, spec: ImageSpec, opts: PushOptions = {}): Promise<PushedImage> {
  return pushBuilt(registry, repoTag, await buildImage(spec, opts.format ?? 'oci'), opts);
}

/** Pushes a multi-platform index (one ImageSpec per platform; give each a distinct `platform`). */
export async function pushIndex(
  registry: TestRegistry,
  repoTag: string,
  specs: ImageSpec[],
  opts: PushOptions = {},
): Promise<{ ref: string; indexDigest: string; manifests: PushedImage[] }> {
  const format = opts.format ?? 'oci';
  const { repo, tag } = splitRepoTag(repoTag);
  const ref = `${registry.host}/${repo}:${tag}`;
  const images = await Promise.all(specs.map((s) => buildImage(s, format)));
  const blobs = new Map<string, Buffer>();
  for (const img of images) for (const [d, b] of img.blobs) blobs.set(d, b);
  const indexObj = {
    schemaVersion: 2,
    mediaType: MT[format].index,
    manifests: images.map((img) => img.manifestDescriptor),
  };
  const index = Buffer.from(JSON.stringify(indexObj));
  const indexDigest = sha256(index);
  await withLayout(async (dir) => {
    let source: string;
    if (format === 'oci') {
      for (const img of images) blobs.set(img.manifestDescriptor.digest, img.manifest);
      blobs.set(indexDigest, index);
      source = await writeOciLayout(dir, blobs, { mediaType: MT.oci.index, digest: indexDigest, size: index.length }, tag);
    } else {
      source = await writeDirLayout(dir, blobs, index, images.map((img) => img.manifest));
    }
    await skopeoPush(source, ref, opts.creds, true);
  });
  await verifyPushed(ref, indexDigest, opts.creds);
  return { ref, indexDigest, manifests: images.map((img) => pushedFrom(`${registry.host}/${repo}@${img.manifestDescriptor.digest}`, img)) };
}

/**
 * Pushes an image made of already-built, uncompressed tars (e.g. hostile layers built with
 * tar-stream by the test); the harness gzips each one. `config` is the OCI config section.
 */
export async function pushRawLayers(
  registry: TestRegistry,
  repoTag: string,
  tarLayers: Buffer[],
  config?: Record<string, unknown>,
  opts: PushOptions & { compression?: Compression } = {},
): Promise<PushedImage> {
  const layers = await Promise.all(tarLayers.map((t) => layerBlobFromTar(t, opts.compression ?? 'gzip')));
  const img = assembleImage(config !== undefined ? { config } : {}, layers, opts.format ?? 'oci');
  return pushBuilt(registry, repoTag, img, opts);
}

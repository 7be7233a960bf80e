/**
 * The upload side of the OCI distribution protocol, for one repository:
 *
 *   HEAD  /v2/<name>/blobs/<digest>                         does the repository have it?
 *   POST  /v2/<name>/blobs/uploads/?mount=<digest>&from=<r>  201: mounted from another repository
 *   POST  /v2/<name>/blobs/uploads/                          202 + Location: an upload session
 *   PUT   <location>&digest=<digest>   (whole body)          small blobs, in one request
 *   PATCH <location>  Content-Range: <start>-<end>           big blobs, chunk by chunk, each
 *   PUT   <location>&digest=<digest>   (empty)               answer giving the next Location
 *   PUT   /v2/<name>/manifests/<tag>                         the manifest, last
 *
 * Requests go through the pull session's transport (client.ts), so auth challenges,
 * tokens (with push scope) and the HTTPS/HTTP choice are shared with pulls. The
 * registry verifies every blob against its digest; a refused or broken upload is an
 * error here, and the caller (images/push.ts) decides whether to start it over.
 */
import { Transform, type Readable } from 'node:stream';
import { isDigest, sha256, type Digest } from '../common/digest.js';
import { upstream, type BerthError } from '../common/errors.js';
import type { BlobSource, BlobStream, FetchedManifest, PushSession, Reference, RepositorySession, UploadOptions } from './types.js';

/** What a pushed request answered, without committing to how its body is read. */
export interface SessionResponse {
  status: number;
  header(name: string): string | undefined;
  /** Where the answer came from. */
  url: URL;
  /** Drop the body (keeps the connection reusable). */
  discard(): Promise<void>;
  /** Read the body and explain a refusal (auth, unknown repository, registry error codes). */
  refusal(what: string): Promise<BerthError>;
}

/** The pull session plus one authorized request of any method (client.ts Session). */
export interface PushTransport extends RepositorySession {
  request(
    method: string,
    target: string,
    headers: Record<string, string>,
    body?: () => string | Buffer | Readable,
    signal?: AbortSignal,
  ): Promise<SessionResponse>;
}

/** Default size above which blobs are uploaded in chunks (and the chunk size). */
export const DEFAULT_CHUNK_SIZE = 32 * 1024 * 1024;

const OCTET_STREAM = 'application/octet-stream';

export class RegistryPushSession implements PushSession {
  constructor(private readonly t: PushTransport) {}

  get ref(): Reference {
    return this.t.ref;
  }

  getManifest(tagOrDigest: string, signal?: AbortSignal): Promise<FetchedManifest> {
    return this.t.getManifest(tagOrDigest, signal);
  }

  fetchBlob(digest: Digest, opts?: { signal?: AbortSignal; offset?: number }): Promise<BlobStream> {
    return this.t.fetchBlob(digest, opts);
  }

  private get base(): string {
    return `/v2/${this.t.ref.path}`;
  }

  async statBlob(digest: Digest, signal?: AbortSignal): Promise<number | undefined> {
    const r = await this.t.request('HEAD', `${this.base}/blobs/${digest}`, { accept: '*/*' }, undefined, signal);
    await r.discard();
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw await r.refusal(`checking blob ${digest}`);
    const size = Number(r.header('content-length'));
    return Number.isSafeInteger(size) && size >= 0 ? size : 0;
  }

  async mountBlob(digest: Digest, fromPath: string, signal?: AbortSignal): Promise<boolean> {
    const q = new URLSearchParams({ mount: digest, from: fromPath });
    const r = await this.t.request('POST', `${this.base}/blobs/uploads/?${q}`, { 'content-length': '0' }, () => '', signal);
    await r.discard();
    if (r.status === 201) return true;
    // 202: the registry could not mount and opened an upload instead; let it go.
    if (r.status === 202) {
      const location = r.header('location');
      if (location !== undefined) await this.cancel(this.resolve(location, r.url), signal);
    }
    return false;
  }

  async uploadBlob(blob: BlobSource, opts: UploadOptions = {}): Promise<void> {
    const { signal } = opts;
    const chunkSize = Math.max(1, opts.chunkSize ?? DEFAULT_CHUNK_SIZE);
    const start = await this.t.request('POST', `${this.base}/blobs/uploads/`, { 'content-length': '0' }, () => '', signal);
    await start.discard();
    if (start.status !== 202) throw await start.refusal(`starting the upload of ${blob.digest}`);
    let location = this.location(start);
    try {
      if (blob.size <= chunkSize) {
        const put = await this.t.request(
          'PUT',
          withDigest(location, blob.digest),
          { 'content-type': OCTET_STREAM, 'content-length': String(blob.size) },
          () => counted(blob.open(), 0, opts.onProgress),
          signal,
        );
        await this.expectCreated(put, blob.digest);
        return;
      }
      for (let offset = 0; offset < blob.size; offset += chunkSize) {
        const end = Math.min(blob.size, offset + chunkSize) - 1;
        const patch = await this.t.request(
          'PATCH',
          location,
          { 'content-type': OCTET_STREAM, 'content-length': String(end - offset + 1), 'content-range': `${offset}-${end}` },
          () => counted(blob.open({ start: offset, end }), offset, opts.onProgress),
          signal,
        );
        await patch.discard();
        if (patch.status !== 202) throw await patch.refusal(`uploading ${blob.digest}`);
        const range = /^(?:bytes=)?0-(\d+)$/.exec(patch.header('range') ?? '');
        if (range !== null && Number(range[1]) !== end) {
          throw upstream(`registry holds ${Number(range[1]) + 1} bytes of ${blob.digest} after a chunk ending at ${end + 1}`, 'UPLOAD_RANGE');
        }
        location = this.location(patch);
      }
      const close = await this.t.request('PUT', withDigest(location, blob.digest), { 'content-length': '0' }, () => '', signal);
      await this.expectCreated(close, blob.digest);
    } catch (err) {
      await this.cancel(location, signal);
      throw err;
    }
  }

  async putManifest(tagOrDigest: string, mediaType: string, body: Buffer, signal?: AbortSignal): Promise<Digest> {
    const r = await this.t.request(
      'PUT',
      `${this.base}/manifests/${tagOrDigest}`,
      { 'content-type': mediaType, 'content-length': String(body.length) },
      () => body,
      signal,
    );
    await r.discard();
    if (r.status !== 201 && r.status !== 200) throw await r.refusal(`pushing the manifest for ${tagOrDigest}`);
    const digest = sha256(body);
    const claimed = r.header('docker-content-digest');
    if (claimed !== undefined && isDigest(claimed) && claimed !== digest) {
      throw upstream(`registry stored the manifest as ${claimed}, but its digest is ${digest}`, 'DIGEST_MISMATCH');
    }
    return digest;
  }

  private async expectCreated(r: SessionResponse, digest: Digest): Promise<void> {
    await r.discard();
    if (r.status !== 201) throw await r.refusal(`uploading ${digest}`);
  }

  /** The Location of an upload session, absolute, and only on the registry itself. */
  private location(r: SessionResponse): string {
    const raw = r.header('location');
    if (raw === undefined) throw upstream('registry answered an upload request without a Location', 'BAD_UPLOAD');
    return this.resolve(raw, r.url);
  }

  private resolve(raw: string, base: URL): string {
    const u = new URL(raw, base);
    // Our credentials go only to the registry's own origin.
    if (u.origin !== base.origin) throw upstream(`registry sent an upload location on another host: ${u.origin}`, 'BAD_UPLOAD');
    return u.href;
  }

  /** Best effort: a registry purges abandoned uploads on its own anyway. */
  private async cancel(location: string, signal?: AbortSignal): Promise<void> {
    try {
      const r = await this.t.request('DELETE', location, {}, undefined, signal);
      await r.discard();
    } catch {
      /* nothing more to do */
    }
  }
}

function withDigest(location: string, digest: Digest): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.href;
}

/** Pass bytes through, reporting `base` + bytes so far. */
function counted(src: Readable, base: number, onProgress: ((sent: number) => void) | undefined): Readable {
  if (!onProgress) return src;
  let n = base;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      onProgress(n);
      cb(null, chunk);
    },
  });
  src.on('error', (err) => t.destroy(err));
  // A request that ends early (refused, aborted) must not leave the file open.
  t.on('close', () => src.destroy());
  return src.pipe(t);
}

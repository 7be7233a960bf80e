/**
 * What the rest of the engine needs from a registry. Implementations live in
 * client.ts (OCI distribution over HTTP) — see reference.ts and manifest.ts.
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../common/digest.js';

import type { Reference } from '../../common/reference.js';

export type { Reference };

/** Docker's AuthConfig (the JSON inside X-Registry-Auth and the body of POST /auth). */
export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string; // base64("user:pass")
  email?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

export interface FetchedManifest {
  mediaType: string;
  digest: Digest;
  body: Buffer;
}

export interface BlobStream {
  stream: Readable;
  /** Content-Length when the registry sent one. */
  size?: number;
}

export interface RepositorySession {
  readonly ref: Reference;
  /** GET a manifest by tag or digest, with Accept for OCI + Docker schema 2 (lists too). */
  getManifest(tagOrDigest: string, signal?: AbortSignal): Promise<FetchedManifest>;
  /**
   * Stream a blob, following redirects and retrying transient failures before the
   * first byte. `offset` resumes with a Range request when the registry supports it.
   */
  fetchBlob(digest: Digest, opts?: { signal?: AbortSignal; offset?: number }): Promise<BlobStream>;
}

/** A blob to upload: what it is, and its bytes (all, or a range for one chunk), opened afresh each time. */
export interface BlobSource {
  digest: Digest;
  size: number;
  /** `end` is inclusive. */
  open(range?: { start: number; end: number }): Readable;
}

export interface UploadOptions {
  signal?: AbortSignal;
  /** Bytes sent so far (called as the upload proceeds). */
  onProgress?: (sent: number) => void;
  /** Blobs larger than this go up in PATCH chunks of this size; smaller ones in one PUT. */
  chunkSize?: number;
}

/** The upload side of the distribution protocol for one repository (see push.ts). */
export interface PushSession extends RepositorySession {
  /** HEAD a blob: its size when this repository has it, undefined when not. */
  statBlob(digest: Digest, signal?: AbortSignal): Promise<number | undefined>;
  /** Cross-repository mount from `fromPath` on the same registry; false when the registry did not mount it. */
  mountBlob(digest: Digest, fromPath: string, signal?: AbortSignal): Promise<boolean>;
  /** Upload a blob (monolithic PUT, or chunked PATCHes and a closing PUT), verified by the registry. */
  uploadBlob(blob: BlobSource, opts?: UploadOptions): Promise<void>;
  /** PUT a manifest under a tag (or digest); resolves with the digest the registry stored it by. */
  putManifest(tagOrDigest: string, mediaType: string, body: Buffer, signal?: AbortSignal): Promise<Digest>;
}

export interface Registry {
  session(ref: Reference, auth?: AuthConfig, actions?: readonly ('pull' | 'push')[]): RepositorySession;
  /** A push session on `ref`'s repository that may also mount blobs from the `mountFrom` repositories. */
  pushSession(ref: Reference, auth?: AuthConfig, mountFrom?: readonly string[]): PushSession;
  /** Validate credentials against a registry (POST /auth). Resolves with an optional identity token. */
  login(auth: AuthConfig): Promise<{ identityToken?: string }>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

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

export interface Registry {
  session(ref: Reference, auth?: AuthConfig, actions?: readonly ('pull' | 'push')[]): RepositorySession;
  /** Validate credentials against a registry (POST /auth). Resolves with an optional identity token. */
  login(auth: AuthConfig): Promise<{ identityToken?: string }>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

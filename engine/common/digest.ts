import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { invalid } from './errors.js';

/** A content digest, always in "algorithm:hex" form. Only sha256 is produced here. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

export function parseDigest(s: string): Digest {
  if (!isDigest(s)) {
    if (/^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(s) && !s.startsWith('sha256:')) {
      throw invalid(`unsupported digest algorithm: ${s}`);
    }
    throw invalid(`invalid digest: ${s}`);
  }
  return s;
}

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function digestHex(d: Digest): string {
  return d.slice('sha256:'.length);
}

export function newHasher(): Hash {
  return createHash('sha256');
}

export function hasherDigest(h: Hash): Digest {
  return `sha256:${h.digest('hex')}`;
}

/** Docker's short ID: the first 12 hex characters of a digest. */
export function shortId(d: string): string {
  const hex = d.startsWith('sha256:') ? d.slice(7) : d;
  return hex.slice(0, 12);
}

/**
 * Chain ID of a layer stack (OCI image spec): ChainID(L0) = DiffID(L0);
 * ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)).
 */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : sha256(`${prev} ${d}`));
  }
  return out;
}

/** A pass-through stream that hashes and counts the bytes flowing through it (DiffIDs, blob digests). */
export class DigestTap extends Transform {
  private readonly hash = newHasher();
  /** Bytes seen so far. */
  bytes = 0;

  constructor() {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  /** The digest of everything seen; call once, after the stream ended. */
  digest(): Digest {
    return hasherDigest(this.hash);
  }
}

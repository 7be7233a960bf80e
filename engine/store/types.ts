/**
 * Storage roles, declared apart from their implementations (see content.ts,
 * layers.ts). The composition root (engine/daemon) picks implementations.
 *
 * Lifecycle of a layer during a pull:
 *   1. ContentStore.ingest(expected) -> ContentWriter; bytes are hashed while written
 *      to <root>/content/ingest/<random>.
 *   2. ContentWriter.commit() verifies size and digest and renames the file to
 *      <root>/content/blobs/sha256/<hex>. A blob that already exists is success.
 *   3. LayerStore.prepare() -> a private temporary directory; the tar stream is
 *      unpacked there (unpack.ts) while it downloads.
 *   4. PreparedLayer.commit(info) renames the directory to <root>/layers/sha256/<chainid>
 *      only after the compressed digest and the DiffID both verified. Anything left in
 *      ingest/ or layers/tmp/ at start-up is an interrupted write and is deleted.
 */
import type { Readable, Writable } from 'node:stream';
import type { Digest } from '../common/digest.js';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

export interface ContentWriter {
  /** Write side; hashing happens as bytes pass. */
  readonly stream: Writable;
  /** Bytes written so far. */
  readonly written: number;
  /**
   * sha256 of every byte written; only once `stream` has finished. Lets a caller that must know
   * the digest before commit (a pull reporting a bad download its own way) skip hashing again.
   */
  digest(): Digest;
  /** Verify against the expected digest/size (if given) and move into place. */
  commit(): Promise<BlobInfo>;
  /** Drop the in-flight data. Safe to call more than once. */
  abort(): Promise<void>;
}

export interface ContentStore {
  has(digest: Digest): Promise<boolean>;
  info(digest: Digest): Promise<BlobInfo | undefined>;
  /** Absolute path of a committed blob (for streaming reads). */
  blobPath(digest: Digest): string;
  readBuffer(digest: Digest): Promise<Buffer>;
  createReadStream(digest: Digest): Readable;
  ingest(expected?: Partial<BlobInfo>): Promise<ContentWriter>;
  /** Store a small blob (manifest, config) and return its descriptor. */
  putBuffer(data: Uint8Array, expected?: Digest): Promise<BlobInfo>;
  delete(digest: Digest): Promise<void>;
  list(): Promise<BlobInfo[]>;
  /** Remove interrupted ingests (called once at start-up). */
  cleanup(): Promise<void>;
}

export interface LayerInfo {
  chainId: Digest;
  diffId: Digest;
  parent?: Digest;
  /** Uncompressed size of this layer's diff in bytes (tar content). */
  size: number;
  /** Compressed blob this layer was unpacked from, if any. */
  blob?: BlobInfo & { mediaType: string };
}

export interface PreparedLayer {
  /** Empty directory to unpack into. */
  readonly dir: string;
  commit(info: LayerInfo): Promise<void>;
  abort(): Promise<void>;
}

export interface LayerStore {
  has(chainId: Digest): Promise<boolean>;
  get(chainId: Digest): Promise<LayerInfo | undefined>;
  /** The overlayfs lower dir of a committed layer. */
  diffDir(chainId: Digest): string;
  prepare(): Promise<PreparedLayer>;
  delete(chainId: Digest): Promise<void>;
  list(): Promise<LayerInfo[]>;
  cleanup(): Promise<void>;
}

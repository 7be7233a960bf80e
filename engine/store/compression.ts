/**
 * Layer compression: media type mapping, magic-byte sniffing and streaming
 * decompressors. Every decompression failure surfaces as a BerthError of kind
 * 'invalid' (code BAD_COMPRESSION) so the API layer reports a corrupt layer as
 * such rather than as an internal error.
 */
import { PassThrough, Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { Decompress as ZstdStream } from 'fzstd';
import { BerthError, errorMessage, isBerthError } from '../common/errors.js';

export type Compression = 'gzip' | 'zstd' | 'none';

const MEDIA_TYPES: ReadonlyMap<string, Compression> = new Map<string, Compression>([
  ['application/vnd.oci.image.layer.v1.tar', 'none'],
  ['application/vnd.oci.image.layer.v1.tar+gzip', 'gzip'],
  ['application/vnd.oci.image.layer.v1.tar+zstd', 'zstd'],
  ['application/vnd.oci.image.layer.nondistributable.v1.tar', 'none'],
  ['application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'gzip'],
  ['application/vnd.oci.image.layer.nondistributable.v1.tar+zstd', 'zstd'],
  ['application/vnd.docker.image.rootfs.diff.tar', 'none'],
  ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'gzip'],
  ['application/vnd.docker.image.rootfs.diff.tar.zstd', 'zstd'],
  ['application/vnd.docker.image.rootfs.foreign.diff.tar', 'none'],
  ['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'gzip'],
]);

/**
 * Compression of a layer blob from its descriptor media type, or undefined
 * when the media type is not a known layer type. Parameters (";...") and case
 * are ignored.
 */
export function compressionForMediaType(mediaType: string): Compression | undefined {
  const base = mediaType.split(';', 1)[0] ?? '';
  return MEDIA_TYPES.get(base.trim().toLowerCase());
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** Bytes detectCompression wants to see (it copes with fewer). */
export const SNIFF_BYTES = 4;

function startsWith(buf: Uint8Array, magic: readonly number[]): boolean {
  if (buf.length < magic.length) return false;
  return magic.every((b, i) => buf[i] === b);
}

/** True for a zstd skippable frame (magic 0x184D2A50..0x184D2A5F, little endian). */
function isZstdSkippable(buf: Uint8Array): boolean {
  return buf.length >= 4 && (buf[0]! & 0xf0) === 0x50 && buf[1] === 0x2a && buf[2] === 0x4d && buf[3] === 0x18;
}

/** Compression of a stream from its first bytes (at least SNIFF_BYTES when available). */
export function detectCompression(firstBytes: Uint8Array): Compression {
  if (startsWith(firstBytes, GZIP_MAGIC)) return 'gzip';
  if (startsWith(firstBytes, ZSTD_MAGIC) || isZstdSkippable(firstBytes)) return 'zstd';
  return 'none';
}

function badCompression(format: string, cause: unknown): BerthError {
  return new BerthError('invalid', `layer data is not valid ${format}: ${errorMessage(cause)}`, {
    code: 'BAD_COMPRESSION',
    cause,
  });
}

/** zlib reports its own failures with codes like Z_DATA_ERROR / Z_BUF_ERROR (ZSTD_error_* for zstd). */
function isZlibError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('Z_') || code.startsWith('ZSTD_') || code.startsWith('ERR_ZSTD'));
}

/**
 * A node:zlib stream fails by destroying itself with its own error; translate
 * exactly those (an error injected from outside, e.g. by pipeline(), passes
 * through as is).
 */
function translatingErrors(stream: Transform, format: string): Transform {
  const destroy = stream.destroy.bind(stream);
  stream.destroy = (err?: Error): Transform =>
    destroy(err !== undefined && err !== null && isZlibError(err) ? badCompression(format, err) : err);
  return stream;
}

function gunzip(): Transform {
  // zlib runs each write as a thread-pool job: big output chunks (and big input
  // writes, see the pull's coalescing) make gunzip several times faster.
  return translatingErrors(zlib.createGunzip({ chunkSize: 256 * 1024 }), 'gzip');
}

/**
 * Native zstd arrived in node:zlib with Node 22.15 / 23.8 and is used when
 * present; on Node 20 the pure-JS fzstd below is the fallback (several times slower).
 */
const nativeZstd = (zlib as unknown as { createZstdDecompress?: (opts?: object) => Transform }).createZstdDecompress;

/**
 * fzstd decompresses synchronously: a single input chunk can expand to a great
 * deal of output (a 4-byte RLE block yields up to 128 KiB), so input is fed in
 * small slices (at most 2 MiB of output each) and feeding pauses whenever the
 * readable side is above its high-water mark. fzstd buffers partial blocks
 * without copying until a whole block is present, so small slices are cheap.
 */
const ZSTD_SLICE = 64;

class ZstdDecompressor extends Transform {
  private readonly dec: ZstdStream;
  private wake: (() => void) | undefined;

  constructor() {
    super({ readableHighWaterMark: 256 * 1024 });
    this.dec = new ZstdStream((data) => {
      // Blocks are freshly allocated by fzstd, so they can be handed on without copying.
      if (data.length > 0) this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    });
  }

  override _read(size: number): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
    super._read(size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.feed(chunk).then(
      () => cb(),
      (err: unknown) => cb(isBerthError(err) ? err : badCompression('zstd', err)),
    );
  }

  private async feed(chunk: Buffer): Promise<void> {
    for (let off = 0; off < chunk.length; off += ZSTD_SLICE) {
      this.dec.push(chunk.subarray(off, off + ZSTD_SLICE));
      if (this.readableLength >= this.readableHighWaterMark && !this.destroyed) {
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.dec.push(new Uint8Array(0), true);
    } catch (err) {
      cb(badCompression('zstd', err));
      return;
    }
    cb();
  }
}

/** A fresh streaming decompressor for the given compression. */
export function decompressor(c: Compression): Transform {
  switch (c) {
    case 'gzip':
      return gunzip();
    case 'zstd':
      return nativeZstd ? translatingErrors(nativeZstd({ chunkSize: 256 * 1024 }), 'zstd') : new ZstdDecompressor();
    case 'none':
      return new PassThrough();
  }
}

/**
 * A decompressor that sniffs the first bytes of the stream and picks gzip,
 * zstd or pass-through. Useful when the media type is missing or untrusted.
 */
export function autoDecompressor(): Transform {
  return new AutoDecompressor();
}

class AutoDecompressor extends Transform {
  private head: Buffer[] = [];
  private headLen = 0;
  /** undefined until sniffed; null for uncompressed data (bytes pass straight through). */
  private inner: Transform | null | undefined;
  private innerEnded: (() => void) | undefined;

  private start(): void {
    const head = Buffer.concat(this.head, this.headLen);
    this.head = [];
    const c = detectCompression(head);
    if (c === 'none') {
      this.inner = null;
      if (head.length > 0) this.push(head);
      return;
    }
    const inner = decompressor(c);
    this.inner = inner;
    inner.on('data', (d: Buffer) => {
      if (!this.push(d)) inner.pause();
    });
    inner.on('error', (err: Error) => this.destroy(err));
    inner.on('end', () => this.innerEnded?.());
    if (head.length > 0) inner.write(head);
  }

  override _read(size: number): void {
    if (this.inner?.isPaused()) this.inner.resume();
    super._read(size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.inner === undefined) {
      this.head.push(chunk);
      this.headLen += chunk.length;
      if (this.headLen < SNIFF_BYTES) {
        cb();
        return;
      }
      try {
        this.start();
      } catch (err) {
        cb(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      cb();
      return;
    }
    if (this.inner === null) {
      cb(null, chunk);
      return;
    }
    if (this.inner.write(chunk)) cb();
    else this.inner.once('drain', () => cb());
  }

  override _flush(cb: TransformCallback): void {
    try {
      if (this.inner === undefined) this.start();
    } catch (err) {
      cb(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const inner = this.inner;
    if (!inner) {
      cb();
      return;
    }
    this.innerEnded = () => cb();
    inner.end();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this.inner && !this.inner.destroyed) this.inner.destroy();
    super._destroy(err, cb);
  }
}

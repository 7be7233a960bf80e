/**
 * The tar writer on a Node Writable: entries go straight to the output, each chunk waiting for
 * 'drain', so memory stays bounded however large the archive is (`docker cp` out of a container,
 * `docker export`, `docker save`, a commit's layer).
 */
import type { Writable } from 'node:stream';
import { END_OF_ARCHIVE, entryChunks, type BodySource, type TarHeader } from '../common/tar/index.js';

export class TarSink {
  constructor(
    private readonly out: Writable,
    private readonly signal?: AbortSignal,
  ) {}

  /** Appends one entry; exactly h.size bytes of `body` end up in the archive (cut or zero-padded). */
  async add(h: TarHeader, body?: BodySource): Promise<void> {
    for await (const chunk of entryChunks(h, body)) await this.write(chunk);
  }

  /** The end-of-archive marker. */
  async finish(): Promise<void> {
    await this.write(END_OF_ARCHIVE);
  }

  private async write(b: Uint8Array): Promise<void> {
    this.signal?.throwIfAborted();
    if (this.out.destroyed) throw new Error('the archive output was closed');
    if (this.out.write(b)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        this.out.off('drain', onDrain);
        this.out.off('close', onClose);
        this.out.off('error', onError);
        this.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = (): void => done();
      const onClose = (): void => done(new Error('the archive output was closed'));
      const onError = (err: Error): void => done(err);
      const onAbort = (): void => done(this.signal?.reason instanceof Error ? this.signal.reason : new Error('the archive was cancelled'));
      this.out.on('drain', onDrain);
      this.out.on('close', onClose);
      this.out.on('error', onError);
      this.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

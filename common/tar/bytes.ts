/**
 * Exact-size reads over a stream of byte chunks (an async iterable: a Node Readable, a fetch
 * body, a generator), counting what was consumed. The tar reader pulls from it; callers that
 * stream an entry's body pull through the reader, so chunks are handed on without copying.
 */

/** Chunks of bytes; strings (a stream with an encoding set) are taken as UTF-8. */
export type ByteChunks = AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

export class ByteReader {
  private readonly it: AsyncIterator<unknown> | Iterator<unknown>;
  private cur: Uint8Array = EMPTY;
  private eof = false;
  /** Bytes handed out (or skipped) so far. */
  consumed = 0;
  /** The error the underlying stream failed with, if it did (to tell it apart from a format error). */
  failure: unknown;

  constructor(source: ByteChunks) {
    this.it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.cur.length === 0) {
      if (this.eof) return false;
      let r: IteratorResult<unknown>;
      try {
        r = await this.it.next();
      } catch (err) {
        this.failure = err;
        throw err;
      }
      if (r.done) {
        this.eof = true;
        return false;
      }
      const v = r.value;
      this.cur = v instanceof Uint8Array ? v : typeof v === 'string' ? encoder.encode(v) : new Uint8Array(v as ArrayBuffer);
    }
    return true;
  }

  /** Up to max bytes (at least one), or null at the end of the stream. */
  async next(max: number): Promise<Uint8Array | null> {
    if (this.cur.length === 0 && !(await this.fill())) return null;
    const cur = this.cur;
    if (max >= cur.length) {
      this.cur = EMPTY;
      this.consumed += cur.length;
      return cur;
    }
    this.cur = cur.subarray(max);
    this.consumed += max;
    return cur.subarray(0, max);
  }

  /** n bytes, or fewer when the stream ends first (possibly none). */
  async read(n: number): Promise<Uint8Array> {
    const first = await this.next(n);
    if (first === null) return EMPTY;
    if (first.length === n) return first;
    const parts = [first];
    let got = first.length;
    while (got < n) {
      const more = await this.next(n - got);
      if (more === null) break;
      parts.push(more);
      got += more.length;
    }
    const out = new Uint8Array(got);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  /** Skips n bytes; returns how many there were (fewer when the stream ends first). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const b = await this.next(left);
      if (b === null) break;
      left -= b.length;
    }
    return n - left;
  }

  /** Reads to the end, discarding. */
  async drain(): Promise<void> {
    while ((await this.next(Number.MAX_SAFE_INTEGER)) !== null) {
      /* discard */
    }
  }

  /** Stops reading: the source is told (a Node stream is destroyed). */
  async cancel(): Promise<void> {
    this.eof = true;
    this.cur = EMPTY;
    await this.it.return?.();
  }
}

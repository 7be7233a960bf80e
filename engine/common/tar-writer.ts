/**
 * A streaming tar writer for archives built from a live filesystem (`docker cp` from a
 * container, `docker export`): ustar headers, preceded by a PAX record when a name, link name,
 * size or id does not fit the ustar fields (as Go's archive/tar, which Docker clients use,
 * writes them). Every block goes straight to the output and waits for 'drain', so memory stays
 * bounded however large the archive is.
 *
 * Bodies come from files that may change while they are read (a running container): a body
 * that turns out longer than the header said is cut, a shorter one is padded with zeros, so the
 * archive itself always stays well-formed.
 */
import type { Writable } from 'node:stream';

const BLOCK = 512;
const ZERO = Buffer.alloc(BLOCK);

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

const TYPEFLAG: Record<TarEntryType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

export interface TarEntryHeader {
  name: string;
  type: TarEntryType;
  /** Permission bits plus setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Body size; 0 for everything but files. */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, written as PAX `SCHILY.xattr.<name>` records (binary values kept as they are, like Go). */
  xattrs?: ReadonlyMap<string, Buffer>;
}

/** A PAX record: "<len> <key>=<value>\n", where len counts the whole record. */
function paxRecord(key: string, value: string | Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  const n = body.length;
  let len = n + String(n).length;
  if (String(len).length !== String(n).length) len = n + String(len).length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

const fitsOctal = (v: number, width: number): boolean => Number.isSafeInteger(v) && v >= 0 && v < 8 ** (width - 1);

function octal(b: Buffer, off: number, width: number, v: number): void {
  b.write(Math.max(0, Math.floor(v)).toString(8).padStart(width - 1, '0'), off, width - 1, 'latin1');
}

function encodeHeader(name: string, type: string, h: Omit<TarEntryHeader, 'name' | 'type'>): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100, 'utf8');
  octal(b, 100, 8, h.mode & 0o7777);
  octal(b, 108, 8, fitsOctal(h.uid, 8) ? h.uid : 0);
  octal(b, 116, 8, fitsOctal(h.gid, 8) ? h.gid : 0);
  octal(b, 124, 12, fitsOctal(h.size, 12) ? h.size : 0);
  octal(b, 136, 12, fitsOctal(h.mtime, 12) ? h.mtime : 0);
  b.fill(0x20, 148, 156);
  b.write(type, 156, 1, 'latin1');
  b.write(h.linkname ?? '', 157, 100, 'utf8');
  b.write('ustar\x0000', 257, 8, 'latin1');
  octal(b, 329, 8, h.devmajor ?? 0);
  octal(b, 337, 8, h.devminor ?? 0);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i] as number;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return b;
}

export class TarWriter {
  constructor(
    private readonly out: Writable,
    private readonly signal?: AbortSignal,
  ) {}

  /** Appends one entry; a file's body is read from `body` (exactly h.size bytes end up in the archive). */
  async add(h: TarEntryHeader, body?: AsyncIterable<Buffer>): Promise<void> {
    const pax: Buffer[] = [];
    const nameBytes = Buffer.byteLength(h.name);
    if (nameBytes > 100) pax.push(paxRecord('path', h.name));
    if (h.linkname !== undefined && Buffer.byteLength(h.linkname) > 100) pax.push(paxRecord('linkpath', h.linkname));
    if (!fitsOctal(h.size, 12)) pax.push(paxRecord('size', String(h.size)));
    if (!fitsOctal(h.uid, 8)) pax.push(paxRecord('uid', String(h.uid)));
    if (!fitsOctal(h.gid, 8)) pax.push(paxRecord('gid', String(h.gid)));
    for (const [name, value] of h.xattrs ?? []) pax.push(paxRecord(`SCHILY.xattr.${name}`, value));
    if (pax.length > 0) {
      const data = Buffer.concat(pax);
      const base = h.name.replace(/\/+$/, '').split('/').pop() ?? '';
      await this.write(encodeHeader(`PaxHeaders.0/${base}`.slice(0, 100), 'x', { ...h, size: data.length, linkname: '' }));
      await this.write(data);
      await this.pad(data.length);
    }
    // A longer name is cut to what fits (whole characters only); readers take the PAX path.
    await this.write(encodeHeader(h.name, TYPEFLAG[h.type], h));
    if (h.type !== 'file' || h.size === 0) return;
    let written = 0;
    if (body) {
      for await (const chunk of body) {
        const room = h.size - written;
        if (room <= 0) break;
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        await this.write(part);
        written += part.length;
      }
    }
    while (written < h.size) {
      const n = Math.min(BLOCK * 128, h.size - written);
      await this.write(Buffer.alloc(n));
      written += n;
    }
    await this.pad(h.size);
  }

  /** The end-of-archive marker: two zero blocks. */
  async finish(): Promise<void> {
    await this.write(Buffer.concat([ZERO, ZERO]));
  }

  private async pad(n: number): Promise<void> {
    const rest = (BLOCK - (n % BLOCK)) % BLOCK;
    if (rest > 0) await this.write(ZERO.subarray(0, rest));
  }

  private async write(b: Buffer): Promise<void> {
    this.signal?.throwIfAborted();
    if (this.out.destroyed) throw new Error('the archive output was closed');
    if (this.out.write(b)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        this.out.off('drain', onDrain);
        this.out.off('close', onClose);
        this.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = (): void => done();
      const onClose = (): void => done(new Error('the archive output was closed'));
      const onAbort = (): void => done(new Error('the archive was cancelled'));
      this.out.on('drain', onDrain);
      this.out.on('close', onClose);
      this.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

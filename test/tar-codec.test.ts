/**
 * The one tar codec (common/tar) on its own: round trips through its writer and reader in any
 * chunking, archives from other writers (GNU tar in gnu, posix and sparse forms, tar-stream),
 * the stream endings Go's archive/tar accepts (and the docker CLI sends), and the malformed or
 * hostile streams it must refuse.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tar from 'tar-stream';
import {
  END_OF_ARCHIVE,
  TarFormatError,
  TarReader,
  encodeHeader,
  packEntries,
  tarBytes,
  tarPadding,
  type TarEntry,
  type TarHeader,
} from '../common/tar/index.js';

const utf8 = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/** The bytes in pieces of `step` bytes. */
function* chunks(b: Uint8Array, step: number): Generator<Uint8Array> {
  for (let i = 0; i < b.length; i += step) yield b.subarray(i, i + step);
}

/** Every entry with its body, read in pieces of `step` bytes. */
async function readAll(b: Uint8Array, step = 1 << 20): Promise<Array<TarEntry & { body: string }>> {
  const reader = new TarReader(chunks(b, step));
  const out: Array<TarEntry & { body: string }> = [];
  for await (const e of reader) {
    const parts: Buffer[] = [];
    for await (const c of reader.body()) parts.push(Buffer.from(c));
    out.push({ ...e, body: Buffer.concat(parts).toString('latin1') });
  }
  return out;
}

const base = { mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000 };
const file = (name: string, data: string | Uint8Array, h: Partial<TarHeader> = {}): { header: TarHeader; data: string | Uint8Array } => ({
  header: { ...base, name, type: 'file', ...h },
  data,
});
const entry = (h: Partial<TarHeader> & Pick<TarHeader, 'name' | 'type'>): { header: TarHeader } => ({ header: { ...base, ...h } });

async function tmpdir(): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'berth-tar-codec-'));
}

describe('writer and reader round trip', () => {
  const long = `${'d'.repeat(120)}/${'f'.repeat(150)}.txt`;
  const archive = tarBytes([
    entry({ name: 'dir', type: 'dir', mode: 0o755 }),
    file('dir/file.txt', 'hello\n', { mode: 0o600, uid: 1000, gid: 1001 }),
    entry({ name: 'dir/link', type: 'symlink', linkname: '/etc/passwd' }),
    file(long, 'x'.repeat(1000)),
    file('ünïcode/名前.txt', 'u'),
    entry({ name: 'hl', type: 'link', linkname: 'l'.repeat(150) }),
    entry({ name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }),
    entry({ name: 'dev/big', type: 'block', devmajor: 3_000_000, devminor: 5 }),
    entry({ name: 'fifo', type: 'fifo' }),
    file('ids', '', { uid: 5_000_000, gid: 4_000_000_000 }),
    file('xattrs', 'x', { xattrs: new Map([['user.note', Buffer.from('text')], ['security.capability', Uint8Array.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0xff])]]) }),
  ]);

  for (const step of [1, 7, 512, 1 << 20]) {
    test(`every field survives, read in pieces of ${step} bytes`, async () => {
      const got = await readAll(archive, step);
      assert.deepEqual(
        got.map((e) => [e.name, e.type]),
        [
          ['dir/', 'dir'],
          ['dir/file.txt', 'file'],
          ['dir/link', 'symlink'],
          [long, 'file'],
          ['ünïcode/名前.txt', 'file'],
          ['hl', 'link'],
          ['dev/null', 'char'],
          ['dev/big', 'block'],
          ['fifo', 'fifo'],
          ['ids', 'file'],
          ['xattrs', 'file'],
        ],
      );
      const by = new Map(got.map((e) => [e.name, e]));
      assert.deepEqual([by.get('dir/file.txt')?.mode, by.get('dir/file.txt')?.uid, by.get('dir/file.txt')?.gid], [0o600, 1000, 1001]);
      assert.equal(by.get('dir/file.txt')?.mtime, 1_700_000_000);
      assert.equal(by.get('dir/file.txt')?.body, 'hello\n');
      assert.equal(by.get('dir/link')?.linkname, '/etc/passwd');
      assert.equal(by.get(long)?.body, 'x'.repeat(1000));
      assert.equal(by.get('hl')?.linkname, 'l'.repeat(150));
      assert.deepEqual([by.get('dev/null')?.devmajor, by.get('dev/null')?.devminor], [1, 3]);
      assert.deepEqual([by.get('dev/big')?.devmajor, by.get('dev/big')?.devminor], [3_000_000, 5]);
      assert.deepEqual([by.get('ids')?.uid, by.get('ids')?.gid], [5_000_000, 4_000_000_000]);
      assert.equal(utf8(by.get('xattrs')!.xattrs!.get('user.note')!), 'text');
      assert.deepEqual([...by.get('xattrs')!.xattrs!.get('security.capability')!], [1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0xff]);
    });
  }

  test('GNU tar reads what the writer writes', async () => {
    const dir = await tmpdir();
    try {
      const f = path.join(dir, 'a.tar');
      await fsp.writeFile(f, archive);
      const listed = execFileSync('tar', ['-tf', f], { encoding: 'utf8' }).trim().split('\n');
      assert.deepEqual(listed, ['dir/', 'dir/file.txt', 'dir/link', long, 'ünïcode/名前.txt', 'hl', 'dev/null', 'dev/big', 'fifo', 'ids', 'xattrs']);
      assert.equal(execFileSync('tar', ['-xOf', f, long], { encoding: 'utf8' }), 'x'.repeat(1000));
      assert.match(execFileSync('tar', ['--numeric-owner', '-tvf', f, 'ids'], { encoding: 'utf8' }), /5000000\/4000000000/);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  test('bodies are cut or zero-padded to the size in the header; the stream is packed lazily', async () => {
    const parts: Uint8Array[] = [];
    for await (const c of packEntries([
      { header: { ...base, name: 'short', type: 'file', size: 10 }, body: [Buffer.from('abc')] },
      { header: { ...base, name: 'long', type: 'file', size: 3 }, body: [Buffer.from('abcdef'), Buffer.from('ghi')] },
    ])) {
      parts.push(c);
    }
    const got = await readAll(Buffer.concat(parts));
    assert.deepEqual(got.map((e) => [e.name, e.body]), [
      ['short', 'abc\0\0\0\0\0\0\0'],
      ['long', 'abc'],
    ]);
  });
});

describe('archives from other writers', () => {
  test('tar-stream: ustar, long names as PAX, empty files, directories', async () => {
    const pack = tar.pack();
    const out: Buffer[] = [];
    const done = (async () => {
      for await (const c of pack) out.push(c as Buffer);
    })();
    const add = (h: Partial<tar.Header> & { name: string }, body?: string): Promise<void> => new Promise((r, j) => pack.entry(h, body ?? '', (e) => (e ? j(e) : r())));
    await add({ name: 'a', type: 'directory', mode: 0o755 });
    await add({ name: `a/${'n'.repeat(200)}`, mode: 0o600 }, 'body');
    await add({ name: 'a/empty' }, '');
    pack.finalize();
    await done;
    const got = await readAll(Buffer.concat(out), 100);
    // tar-stream writes directory names without the trailing slash.
    assert.deepEqual(got.map((e) => [e.name, e.type, e.body]), [
      ['a', 'dir', ''],
      [`a/${'n'.repeat(200)}`, 'file', 'body'],
      ['a/empty', 'file', ''],
    ]);
  });

  for (const format of ['gnu', 'posix', 'oldgnu', 'ustar', 'v7']) {
    test(`GNU tar --format=${format}`, async () => {
      const dir = await tmpdir();
      try {
        const src = path.join(dir, 'src');
        const longDir = format === 'ustar' || format === 'v7' ? 'd' : 'd'.repeat(130);
        await fsp.mkdir(path.join(src, longDir), { recursive: true });
        await fsp.writeFile(path.join(src, longDir, 'f'), 'content');
        await fsp.symlink('f', path.join(src, longDir, 'ln'));
        await fsp.link(path.join(src, longDir, 'f'), path.join(src, longDir, 'hard'));
        const f = path.join(dir, 'a.tar');
        execFileSync('tar', [`--format=${format}`, '-C', src, '-cf', f, '--sort=name', longDir]);
        const got = await readAll(await fsp.readFile(f), 333);
        const by = new Map(got.map((e) => [e.name.replace(/\/$/, ''), e]));
        assert.equal(by.get(longDir)?.type, 'dir');
        assert.equal(by.get(`${longDir}/f`)?.body, 'content');
        assert.equal(by.get(`${longDir}/ln`)?.linkname, 'f');
        assert.equal(by.get(`${longDir}/hard`)?.type, 'link');
        assert.equal(by.get(`${longDir}/hard`)?.linkname, `${longDir}/f`);
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    });
  }

  for (const [format, extra] of [
    ['gnu', []],
    ['posix', ['--sparse-version=0.1']],
    ['posix', ['--sparse-version=1.0']],
    ['posix', ['--sparse-version=0.0']],
  ] as const) {
    test(`sparse files (GNU tar --format=${format} ${extra.join(' ')}) read as their full content`, async () => {
      const dir = await tmpdir();
      try {
        const sparse = path.join(dir, 'sparse');
        const fh = await fsp.open(sparse, 'w');
        await fh.write('head', 0);
        await fh.write('middle', 300_000);
        await fh.write('tail', 1_000_000);
        await fh.close();
        const f = path.join(dir, 'a.tar');
        execFileSync('tar', [`--format=${format}`, ...extra, '--sparse', '-C', dir, '-cf', f, 'sparse']);
        const got = await readAll(await fsp.readFile(f), 1000);
        assert.equal(got.length, 1);
        assert.equal(got[0]?.name, 'sparse');
        assert.equal(got[0]?.size, 1_000_004);
        assert.equal(got[0]?.body, (await fsp.readFile(sparse)).toString('latin1'));
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('how a stream may end', () => {
  const one = (): Uint8Array => tarBytes([file('a.txt', 'hello'), file('b.txt', 'world!')]);
  const withoutEnd = (b: Uint8Array): Uint8Array => b.subarray(0, b.length - END_OF_ARCHIVE.length);

  test('without the end-of-archive blocks (at an entry boundary)', async () => {
    const got = await readAll(withoutEnd(one()), 64);
    assert.deepEqual(got.map((e) => [e.name, e.body]), [['a.txt', 'hello'], ['b.txt', 'world!']]);
  });

  test("without the last entry's padding, as the docker CLI sends a build context with a Dockerfile from elsewhere", async () => {
    const full = withoutEnd(one());
    const cut = full.subarray(0, full.length - tarPadding(6).length);
    assert.equal(cut.length % 512, 6);
    const got = await readAll(cut, 7);
    assert.deepEqual(got.map((e) => [e.name, e.body]), [['a.txt', 'hello'], ['b.txt', 'world!']]);
    // And inside the padding: some of it there, the rest missing.
    const partial = await readAll(full.subarray(0, full.length - 100), 50);
    assert.deepEqual(partial.map((e) => e.body), ['hello', 'world!']);
  });

  test('with one zero block only, and with trailing bytes after the two', async () => {
    const body = withoutEnd(one());
    assert.equal((await readAll(Buffer.concat([body, Buffer.alloc(512)]))).length, 2);
    const reader = new TarReader([Buffer.concat([body, Buffer.alloc(1024), Buffer.from('trailing garbage')])]);
    let n = 0;
    for await (const _ of reader) n++;
    assert.equal(n, 2);
    assert.equal(reader.bytes, body.length + 1024 + 16, 'what follows the end marker is consumed');
  });

  test('an empty stream is an empty archive', async () => {
    assert.deepEqual(await readAll(new Uint8Array(0)), []);
  });
});

describe('malformed and hostile streams', () => {
  const refuse = async (bytes: Uint8Array, re: RegExp): Promise<void> => {
    await assert.rejects(readAll(bytes, 100), (err: unknown) => err instanceof TarFormatError && re.test(err.message));
  };
  const good = tarBytes([file('a.txt', 'x'.repeat(700))]);

  test('a stream that ends inside a header or a body', async () => {
    await refuse(good.subarray(0, 300), /truncated inside a header/);
    await refuse(good.subarray(0, 512 + 600), /truncated inside the data of "a.txt"/);
  });

  test('bad checksum, bad numbers, data after a zero block, a partial end marker', async () => {
    const corrupt = Buffer.from(good);
    corrupt[10] = 0x41;
    await refuse(corrupt, /checksum/);
    const badMode = Buffer.from(encodeHeader({ ...base, name: 'm', type: 'file' }));
    badMode.write('0009', 100, 'latin1');
    fixChecksum(badMode);
    await refuse(badMode, /invalid mode/);
    await refuse(Buffer.concat([Buffer.alloc(512), good]), /data after an end-of-archive block/);
    await refuse(Buffer.concat([good.subarray(0, 1024 + 512), Buffer.alloc(700)]), /truncated inside its end-of-archive marker/);
    await refuse(Buffer.from('this is not a tar archive '.repeat(40)), /checksum/);
  });

  test('extended headers: oversized, malformed, NUL in a path, negative numbers', async () => {
    const pax = (records: string | Buffer, size?: number): Buffer => {
      const body = Buffer.isBuffer(records) ? records : Buffer.from(records);
      const h = Buffer.from(encodeHeader({ ...base, name: 'PaxHeaders/x', type: 'file', size: size ?? body.length }));
      h[156] = 'x'.charCodeAt(0);
      fixChecksum(h);
      return Buffer.concat([h, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
    };
    const after = encodeHeader({ ...base, name: 'f', type: 'file' });
    await refuse(Buffer.concat([pax('', 64 << 20)]), /oversized extended header/);
    await refuse(Buffer.concat([pax('15 path=a\n'), after]), /malformed PAX record/);
    await refuse(Buffer.concat([pax('12 path=a\0b\n'), after]), /NUL byte in its PAX path/);
    await refuse(Buffer.concat([pax('12 uid=-100\n'), after]), /invalid PAX uid/);
    const negative = Buffer.from(after);
    negative.fill(0xff, 124, 136);
    fixChecksum(negative);
    await refuse(negative, /negative size/);
  });

  test('GNU long names and links (L, K) apply to the next entry only', async () => {
    const gnu = (flag: string, text: string): Buffer => {
      const body = Buffer.from(text + '\0');
      const h = Buffer.from(encodeHeader({ ...base, name: '././@LongLink', type: 'file', size: body.length }));
      h[156] = flag.charCodeAt(0);
      fixChecksum(h);
      return Buffer.concat([h, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
    };
    const longName = 'n/'.repeat(200) + 'leaf';
    const longLink = 't/'.repeat(200) + 'target';
    const bytes = Buffer.concat([gnu('L', longName), gnu('K', longLink), encodeHeader({ ...base, name: 'short', type: 'symlink', linkname: 'x' }), encodeHeader({ ...base, name: 'next', type: 'dir' }), END_OF_ARCHIVE]);
    const got = await readAll(bytes, 13);
    assert.deepEqual(got.map((e) => [e.name, e.linkname]), [
      [longName, longLink],
      ['next/', ''],
    ]);
  });

  test('header-only types carry no body whatever their size field says (as in Go)', async () => {
    const dir = Buffer.from(encodeHeader({ ...base, name: 'd', type: 'dir' }));
    dir.write('00000001000', 124, 'latin1'); // size 512
    fixChecksum(dir);
    const got = await readAll(Buffer.concat([dir, encodeHeader({ ...base, name: 'f', type: 'file' }), END_OF_ARCHIVE]));
    assert.deepEqual(got.map((e) => [e.name, e.size]), [
      ['d/', 0],
      ['f', 0],
    ]);
  });

  test('unknown type flags are reported, with their body skippable', async () => {
    const h = Buffer.from(encodeHeader({ ...base, name: 'label', type: 'file', size: 3 }));
    h[156] = 'V'.charCodeAt(0);
    fixChecksum(h);
    const got = await readAll(Buffer.concat([h, Buffer.from('abc'), Buffer.alloc(509), encodeHeader({ ...base, name: 'f', type: 'file' }), END_OF_ARCHIVE]));
    assert.deepEqual(got.map((e) => [e.name, e.type, e.typeflag]), [
      ['label', 'other', 'V'],
      ['f', 'file', '0'],
    ]);
  });

  test('the abort signal stops reading', async () => {
    const ac = new AbortController();
    const reader = new TarReader([good], { signal: ac.signal });
    ac.abort(new Error('stop'));
    await assert.rejects(reader.next(), /stop/);
  });
});

function fixChecksum(h: Buffer): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
}

#!/usr/bin/env node
/**
 * Writes a directory tree as a "newc" cpio archive (the format the kernel unpacks as an
 * initramfs) to stdout, reproducibly: entries sorted by path, owner root, one fixed mtime,
 * inode numbers in order, and a /dev/console node so the kernel can give /init a console.
 * (GNU cpio is not on the build host and busybox cpio records the host's inode numbers.)
 *
 * usage: node vm/lib/cpio.mjs <dir> <mtime seconds> > initrd.cpio
 */
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';

const [dir, mtimeArg] = process.argv.slice(2);
if (!dir || !mtimeArg) {
  console.error('usage: cpio.mjs <dir> <mtime>');
  process.exit(2);
}
const mtime = Number(mtimeArg);
const chunks = [];
let ino = 0;

const pad4 = (n) => (4 - (n % 4)) % 4;
const hex = (n) => n.toString(16).padStart(8, '0');

function entry(name, mode, data = Buffer.alloc(0), rdev = [0, 0]) {
  const nameBuf = Buffer.from(`${name}\0`);
  const nlink = (mode & 0o170000) === 0o040000 ? 2 : 1;
  const fields = [++ino, mode, 0, 0, nlink, mtime, data.length, 0, 0, rdev[0], rdev[1], nameBuf.length, 0];
  const header = Buffer.from(`070701${fields.map(hex).join('')}`);
  chunks.push(header, nameBuf, Buffer.alloc(pad4(header.length + nameBuf.length)), data, Buffer.alloc(pad4(data.length)));
}

function walk(rel) {
  for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const full = path.join(dir, r);
    const st = fs.lstatSync(full);
    const perm = st.mode & 0o7777;
    if (st.isDirectory()) {
      entry(r, 0o040000 | perm);
      walk(r);
    } else if (st.isSymbolicLink()) entry(r, 0o120000 | 0o777, Buffer.from(fs.readlinkSync(full)));
    else if (st.isFile()) entry(r, 0o100000 | perm, fs.readFileSync(full));
    else throw new Error(`cpio: unsupported file type: ${r}`);
  }
}

if (!fs.statSync(path.join(dir, 'dev')).isDirectory()) throw new Error('cpio: <dir>/dev must exist');
walk('');
entry('dev/console', 0o020600, undefined, [5, 1]);
entry('TRAILER!!!', 0);
process.stdout.write(Buffer.concat(chunks));

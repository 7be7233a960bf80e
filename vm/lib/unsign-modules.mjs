#!/usr/bin/env node
/**
 * Removes the signature appended to each kernel module under a directory.
 *
 * Why: Debian signs its modules, and the kernel checks a module's signature (an RSA signature over
 * a SHA-512 of the whole file) whenever it loads one, enforced or not. Under an emulated CPU that
 * costs about 0.8 s per module, and the guest loads some thirty (its own at boot, and berthd's
 * bridge and nftables ones): tens of seconds of a TCG boot. Unsigned modules load the same; the
 * kernel notes the first one ("module verification failed ... tainting kernel"). Only root loads
 * modules in the guest, and root owns the guest.
 *
 * Layout of a signed module: [ELF][PKCS#7 signature][struct module_signature, 12 bytes, sig_len a
 * big-endian u32 in its last 4][the marker "~Module signature appended~\n"].
 *
 * usage: node vm/lib/unsign-modules.mjs <modules dir>
 */
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';

const MARKER = Buffer.from('~Module signature appended~\n');
const dir = process.argv[2];
if (!dir) {
  console.error('usage: unsign-modules.mjs <dir>');
  process.exit(2);
}
let count = 0;
const walk = (d) => {
  for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, ent.name);
    if (ent.isDirectory()) walk(p);
    else if (ent.isFile() && ent.name.endsWith('.ko')) {
      const buf = fs.readFileSync(p);
      if (buf.length < MARKER.length + 12 || !buf.subarray(buf.length - MARKER.length).equals(MARKER)) continue;
      const sigLen = buf.readUInt32BE(buf.length - MARKER.length - 4);
      const end = buf.length - MARKER.length - 12 - sigLen;
      if (end <= 0 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${p}: unexpected signature layout`);
      fs.writeFileSync(p, buf.subarray(0, end));
      count++;
    }
  }
};
walk(dir);
console.log(`unsign-modules: ${count} modules`);

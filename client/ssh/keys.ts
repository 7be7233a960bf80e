/**
 * The installation's own SSH identity: one ed25519 key pair, generated the first time it is
 * needed and kept at `<dir>/id_ed25519` (0600) and `<dir>/id_ed25519.pub` (0644) inside a 0700
 * directory. The VM trusts exactly this public key (it reaches the guest on the kernel command
 * line), so every installation has its own and none is shipped.
 *
 * Key files of the user's choosing (remote engines) go through `readPrivateKey`, which refuses
 * files other users can read, as OpenSSH does.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { ensurePrivateDir } from '../home.js';

export interface KeyPair {
  privateKeyPath: string;
  publicKeyPath: string;
  privateKey: Buffer;
  /** The authorized_keys line: `ssh-ed25519 AAAA... berth@host`. */
  publicKey: string;
}

/** Load the key pair in `dir`, creating it (and the directory) on first use. */
export async function ensureKeyPair(dir: string): Promise<KeyPair> {
  await ensurePrivateDir(dir);
  const privateKeyPath = path.join(dir, 'id_ed25519');
  const publicKeyPath = `${privateKeyPath}.pub`;
  const existing = await fsp.readFile(privateKeyPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (existing) {
    // Our own file: put its mode back rather than refuse to start.
    await fsp.chmod(privateKeyPath, 0o600);
    const publicKey = (await fsp.readFile(publicKeyPath, 'utf8').catch(() => '')).trim() || publicLine(existing);
    return { privateKeyPath, publicKeyPath, privateKey: existing, publicKey };
  }
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: `berth@${os.hostname()}` });
  const privateKey = Buffer.from(pair.private, 'utf8');
  // Written under a temporary name and renamed, so a crash never leaves a half key behind.
  const tmp = `${privateKeyPath}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, privateKey, { mode: 0o600, flag: 'wx' });
  await fsp.writeFile(publicKeyPath, `${pair.public.trim()}\n`, { mode: 0o644 });
  await fsp.rename(tmp, privateKeyPath);
  return { privateKeyPath, publicKeyPath, privateKey, publicKey: pair.public.trim() };
}

/** The public half of a private key, as an authorized_keys line. */
function publicLine(privateKey: Buffer): string {
  const parsed = ssh2.utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) throw new Error(`cannot read the Berth SSH key: ${key instanceof Error ? key.message : 'no key'}`);
  return `${key.type} ${key.getPublicSSH().toString('base64')}`;
}

/** Read a private key file the user named, refusing one that others can read (as ssh does). */
export async function readPrivateKey(file: string): Promise<Buffer> {
  const st = await fsp.stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new Error(err.code === 'ENOENT' ? `identity file ${file} does not exist` : `cannot read identity file ${file}: ${err.message}`);
  });
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new Error(`permissions ${(st.mode & 0o777).toString(8).padStart(4, '0')} for ${file} are too open: a private key must not be readable by others (chmod 600 ${file})`);
  }
  const data = await fsp.readFile(file);
  const parsed = ssh2.utils.parseKey(data);
  if (parsed instanceof Error) throw new Error(`cannot use identity file ${file}: ${parsed.message}`);
  return data;
}

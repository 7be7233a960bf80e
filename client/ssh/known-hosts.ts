/**
 * Host key pinning. A host key is trusted when it matches a line of Berth's own pinned file
 * (`~/.berth/ssh/known_hosts`) or of the user's `~/.ssh/known_hosts`, both in OpenSSH's format:
 * `host|[host]:port keytype base64`, hashed names (`|1|salt|hmac`) included. A name listed with a
 * different key is a mismatch and the connection is refused; an unlisted name is unknown, and only
 * an explicit step (adding the engine, or the VM's first boot, which reads the key off the serial
 * console) pins it.
 */
import { createHash, createHmac } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, writeFileAtomic } from '../home.js';

export type HostKeyVerdict = 'match' | 'mismatch' | 'unknown';

interface Entry {
  matches(name: string): boolean;
  keyType: string;
  key: string;
}

/** The name a host goes by in known_hosts: `host` on port 22, else `[host]:port`. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type written inside an SSH public key blob (`ssh-ed25519`, `ssh-rsa`, ...). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** OpenSSH's fingerprint: `SHA256:` and the unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

export function parseKnownHosts(text: string): Entry[] {
  const entries: Entry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('@')) continue;
    const [hosts, keyType, key] = line.split(/\s+/);
    if (!hosts || !keyType || !key) continue;
    const patterns = hosts.startsWith('|') ? [hosts] : hosts.split(',');
    const positive = patterns.filter((p) => !p.startsWith('!'));
    const negative = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
    entries.push({
      keyType,
      key,
      matches: (name) => positive.some((p) => patternMatches(p, name)) && !negative.some((p) => patternMatches(p, name)),
    });
  }
  return entries;
}

export class KnownHosts {
  /**
   * @param pinnedFile Berth's own file: read and written.
   * @param extraFiles other files to trust (the user's ~/.ssh/known_hosts): read only.
   */
  constructor(
    readonly pinnedFile: string,
    private readonly extraFiles: string[] = [],
  ) {}

  async verify(host: string, port: number, blob: Buffer): Promise<HostKeyVerdict> {
    const name = knownHostName(host, port);
    const keyType = keyTypeOf(blob);
    const key = blob.toString('base64');
    let listed = false;
    for (const file of [this.pinnedFile, ...this.extraFiles]) {
      const text = await fsp.readFile(file, 'utf8').catch(() => '');
      for (const e of parseKnownHosts(text)) {
        if (!e.matches(name)) continue;
        if (e.keyType === keyType && e.key === key) return 'match';
        // Only a key of the same type contradicts: a host may have several.
        if (e.keyType === keyType) listed = true;
      }
    }
    return listed ? 'mismatch' : 'unknown';
  }

  /** Records `blob` as the key of host:port, replacing whatever Berth had pinned for that name. */
  async pin(host: string, port: number, blob: Buffer): Promise<void> {
    const name = knownHostName(host, port);
    const text = await fsp.readFile(this.pinnedFile, 'utf8').catch(() => '');
    const kept = text.split('\n').filter((line) => line.trim() && !(line.split(/\s+/)[0] === name));
    kept.push(`${name} ${keyTypeOf(blob)} ${blob.toString('base64')}`);
    await ensurePrivateDir(path.dirname(this.pinnedFile));
    await writeFileAtomic(this.pinnedFile, `${kept.join('\n')}\n`);
  }

  /** Forgets Berth's pin for host:port (the VM's data disk, and so its host key, was deleted). */
  async unpin(host: string, port: number): Promise<void> {
    const name = knownHostName(host, port);
    const text = await fsp.readFile(this.pinnedFile, 'utf8').catch(() => undefined);
    if (text === undefined) return;
    const kept = text.split('\n').filter((line) => line.trim() && line.split(/\s+/)[0] !== name);
    await writeFileAtomic(this.pinnedFile, kept.length ? `${kept.join('\n')}\n` : '');
  }
}

/** Parses an authorized_keys-style line (`ssh-ed25519 AAAA... comment`) into the key blob. */
export function blobFromPublicLine(line: string): Buffer {
  const [type, b64] = line.trim().split(/\s+/);
  if (!type || !b64) throw new Error(`not an SSH public key: "${line}"`);
  const blob = Buffer.from(b64, 'base64');
  if (keyTypeOf(blob) !== type) throw new Error(`malformed SSH public key: "${line}"`);
  return blob;
}

/**
 * Host key trust. A host key is trusted when it is listed for the host's name in Berth's own pinned
 * file (`~/.berth/ssh/known_hosts`) or in the user's `~/.ssh/known_hosts`, both in OpenSSH's format:
 *
 *   [@revoked|@cert-authority] patterns keytype base64 [comment]
 *
 * where patterns are comma-separated names with `*`/`?` wildcards and `!` negation, `[host]:port`
 * for ports other than 22, or one hashed name (`|1|salt|hmac-sha1`). A host may have several keys
 * (one per type, usually); any of them matches.
 *
 * Stricter than OpenSSH's prompt, on purpose: when a name has keys listed and the host presents any
 * other key, of the same type or another one, it is a mismatch and is refused everywhere, with the
 * listed fingerprints shown. Replacing a pin is always an explicit act (`pin(..., {replace})`).
 * Connections ask for the listed key types first (`preferredHostKeyAlgorithms`), as OpenSSH does,
 * so a host with several keys presents one that is listed.
 *
 * `@revoked` keys are refused whatever else lists them. `@cert-authority` lines are honoured for
 * host certificates (`*-cert-v01@openssh.com`): signed by a listed CA, of host type, naming the host,
 * inside their validity window. ssh2 (the SSH library) does not negotiate certificate host key
 * algorithms, so servers only ever present plain keys to Berth today; the certificate check is here
 * for the day it does, and is exercised with certificates made by ssh-keygen.
 */
import { createHash, createHmac, createPublicKey, verify as verifySignature } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, writeFileAtomic } from '../home.js';

export type HostKeyVerdict = 'match' | 'mismatch' | 'unknown';

/** A key listed for a host, for messages. */
export interface ListedKey {
  keyType: string;
  /** `SHA256:...` */
  fingerprint: string;
  file: string;
}

export interface HostKeyCheck {
  /** `revoked`: the key is on an @revoked line; never acceptable. */
  verdict: HostKeyVerdict | 'revoked';
  /** The presented key as `type SHA256:...`. */
  presented: string;
  /** The plain keys listed for this host (empty when unknown). */
  listed: ListedKey[];
  /** Why a certificate was not accepted, when the presented key is one. */
  certificateProblem?: string;
}

type Marker = 'revoked' | 'cert-authority' | undefined;

interface Entry {
  marker: Marker;
  matches(name: string): boolean;
  keyType: string;
  /** base64 of the key blob */
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

/** `ssh-ed25519 SHA256:...` */
export function describeKey(blob: Buffer): string {
  return `${keyTypeOf(blob)} ${fingerprint(blob)}`;
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  return globToRegExp(pattern).test(name);
}

export function parseKnownHosts(text: string): Entry[] {
  const entries: Entry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: Marker;
    if (fields[0]?.startsWith('@')) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else continue; // an unknown marker: OpenSSH ignores the line too
    }
    const [hosts, keyType, key] = fields;
    if (!hosts || !keyType || !key) continue;
    const patterns = hosts.startsWith('|') ? [hosts] : hosts.split(',');
    const positive = patterns.filter((p) => !p.startsWith('!'));
    const negative = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
    entries.push({
      marker,
      keyType,
      key,
      matches: (name) => positive.some((p) => patternMatches(p, name)) && !negative.some((p) => patternMatches(p, name)),
    });
  }
  return entries;
}

/** The SSH host key algorithms that present a key of `keyType`. */
export function algorithmsForKeyType(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [keyType];
}

/** ssh2's default host key algorithms, in its order of preference. */
const DEFAULT_HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/** Raised by pin() when a different key is already trusted for the host and replacing was not asked for. */
export class HostKeyChangedError extends Error {
  readonly code = 'HOST_KEY_CHANGED';
  constructor(
    readonly host: string,
    readonly presented: string,
    readonly listed: ListedKey[],
    advice = '',
  ) {
    super(
      `the host key of ${host} changed: it presented ${presented}, but ${listed.map((k) => `${k.keyType} ${k.fingerprint}`).join(', ')} ${listed.length > 1 ? 'are' : 'is'} trusted for it` +
        ` (${[...new Set(listed.map((k) => k.file))].join(', ')}). The host was reinstalled, or someone is intercepting the connection${advice}`,
    );
    this.name = 'HostKeyChangedError';
  }
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

  private async entries(): Promise<{ file: string; entry: Entry }[]> {
    const out: { file: string; entry: Entry }[] = [];
    for (const file of [this.pinnedFile, ...this.extraFiles]) {
      const text = await fsp.readFile(file, 'utf8').catch(() => '');
      for (const entry of parseKnownHosts(text)) out.push({ file, entry });
    }
    return out;
  }

  /** What the files say about `blob` presented by host:port. */
  async check(host: string, port: number, blob: Buffer, now: Date = new Date()): Promise<HostKeyCheck> {
    const name = knownHostName(host, port);
    const all = (await this.entries()).filter(({ entry }) => entry.matches(name));
    const presented = describeKey(blob);
    const listed: ListedKey[] = all
      .filter(({ entry }) => entry.marker === undefined)
      .map(({ file, entry }) => ({ keyType: entry.keyType, fingerprint: fingerprint(Buffer.from(entry.key, 'base64')), file }));
    const revoked = new Set(all.filter(({ entry }) => entry.marker === 'revoked').map(({ entry }) => entry.key));
    const b64 = blob.toString('base64');
    if (revoked.has(b64)) return { verdict: 'revoked', presented, listed };

    const cert = isCertificateType(keyTypeOf(blob)) ? parseCertificate(blob) : undefined;
    if (cert) {
      if (revoked.has(cert.publicKey.toString('base64')) || revoked.has(cert.signatureKey.toString('base64'))) {
        return { verdict: 'revoked', presented, listed };
      }
      const authorities = all.filter(({ entry }) => entry.marker === 'cert-authority').map(({ entry }) => entry.key);
      const problem = certificateProblem(cert, host, authorities, now);
      if (!problem) return { verdict: 'match', presented, listed };
      // A certificate whose plain key is listed is still that key.
      if (listed.some((k) => k.fingerprint === fingerprint(cert.publicKey))) return { verdict: 'match', presented, listed };
      return { verdict: listed.length > 0 ? 'mismatch' : 'unknown', presented, listed, certificateProblem: problem };
    }
    if (all.some(({ entry }) => entry.marker === undefined && entry.key === b64)) return { verdict: 'match', presented, listed };
    return { verdict: listed.length > 0 ? 'mismatch' : 'unknown', presented, listed };
  }

  /** match, mismatch (a revoked key is one), or unknown. */
  async verify(host: string, port: number, blob: Buffer): Promise<HostKeyVerdict> {
    const { verdict } = await this.check(host, port, blob);
    return verdict === 'revoked' ? 'mismatch' : verdict;
  }

  /**
   * Host key algorithms for a connection to host:port: those of the key types listed for it
   * first, so a host with several keys presents a listed one, then the rest.
   */
  async preferredHostKeyAlgorithms(host: string, port: number): Promise<string[]> {
    const name = knownHostName(host, port);
    const types = (await this.entries()).filter(({ entry }) => entry.marker === undefined && entry.matches(name)).map(({ entry }) => entry.keyType);
    const first = [...new Set(types.flatMap(algorithmsForKeyType))].filter((a) => DEFAULT_HOST_KEY_ALGORITHMS.includes(a));
    return [...first, ...DEFAULT_HOST_KEY_ALGORITHMS.filter((a) => !first.includes(a))];
  }

  /**
   * Records `blob` as the key of host:port. When a different key is already trusted for it (here or
   * in the user's file) this throws HostKeyChangedError, unless `replace` is given: then Berth's
   * pins for the name are replaced by this one key. A revoked key is never pinned.
   */
  async pin(host: string, port: number, blob: Buffer, opts: { replace?: boolean } = {}): Promise<void> {
    const checked = await this.check(host, port, blob);
    if (checked.verdict === 'revoked') throw new Error(`the host key ${checked.presented} of ${knownHostName(host, port)} is revoked`);
    if (checked.verdict === 'match' && !opts.replace) return;
    if (checked.verdict === 'mismatch' && !opts.replace) throw new HostKeyChangedError(knownHostName(host, port), checked.presented, checked.listed);
    const name = knownHostName(host, port);
    const text = await fsp.readFile(this.pinnedFile, 'utf8').catch(() => '');
    const kept = text.split('\n').filter((line) => line.trim() && !lineNames(line, name));
    kept.push(`${name} ${keyTypeOf(blob)} ${blob.toString('base64')}`);
    await ensurePrivateDir(path.dirname(this.pinnedFile));
    await writeFileAtomic(this.pinnedFile, `${kept.join('\n')}\n`);
  }

  /** Forgets Berth's pin for host:port (the VM's data disk, and so its host key, was deleted). */
  async unpin(host: string, port: number): Promise<void> {
    const name = knownHostName(host, port);
    const text = await fsp.readFile(this.pinnedFile, 'utf8').catch(() => undefined);
    if (text === undefined) return;
    const kept = text.split('\n').filter((line) => line.trim() && !lineNames(line, name));
    await writeFileAtomic(this.pinnedFile, kept.length ? `${kept.join('\n')}\n` : '');
  }
}

/** True when a plain line of Berth's file is exactly for `name` (Berth writes one name per line). */
function lineNames(line: string, name: string): boolean {
  const first = line.trim().split(/\s+/)[0];
  return first === name;
}

/** Parses an authorized_keys-style line (`ssh-ed25519 AAAA... comment`) into the key blob. */
export function blobFromPublicLine(line: string): Buffer {
  const [type, b64] = line.trim().split(/\s+/);
  if (!type || !b64) throw new Error(`not an SSH public key: "${line}"`);
  const blob = Buffer.from(b64, 'base64');
  if (keyTypeOf(blob) !== type) throw new Error(`malformed SSH public key: "${line}"`);
  return blob;
}

// ---------------------------------------------------------------------------------------------
// OpenSSH certificates (PROTOCOL.certkeys)

const CERT_SUFFIX = '-cert-v01@openssh.com';

export function isCertificateType(keyType: string): boolean {
  return keyType.endsWith(CERT_SUFFIX);
}

export interface SshCertificate {
  keyType: string;
  /** The certified key as a plain public key blob. */
  publicKey: Buffer;
  serial: bigint;
  /** 1 user, 2 host */
  type: number;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  /** The CA's public key blob. */
  signatureKey: Buffer;
  /** The signature blob (type and bytes). */
  signature: Buffer;
  /** The bytes the signature covers. */
  signed: Buffer;
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  u32(): number {
    if (this.pos + 4 > this.buf.length) throw new Error('truncated');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    if (this.pos + 8 > this.buf.length) throw new Error('truncated');
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  bytes(): Buffer {
    const len = this.u32();
    if (this.pos + len > this.buf.length) throw new Error('truncated');
    const v = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }
  string(): string {
    return this.bytes().toString('utf8');
  }
}

function sshString(b: Buffer | string): Buffer {
  const data = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
}

/** The public fields each key type carries, as strings/mpints in order. */
const PUBLIC_FIELDS: Record<string, number> = {
  'ssh-ed25519': 1,
  'ssh-rsa': 2,
  'ecdsa-sha2-nistp256': 2,
  'ecdsa-sha2-nistp384': 2,
  'ecdsa-sha2-nistp521': 2,
};

/** Parses an OpenSSH certificate blob; undefined when it is not one Berth knows. */
export function parseCertificate(blob: Buffer): SshCertificate | undefined {
  try {
    const r = new Reader(blob);
    const keyType = r.string();
    if (!isCertificateType(keyType)) return undefined;
    const plainType = keyType.slice(0, -CERT_SUFFIX.length);
    const fields = PUBLIC_FIELDS[plainType];
    if (fields === undefined) return undefined;
    r.bytes(); // nonce
    const parts: Buffer[] = [];
    for (let i = 0; i < fields; i++) parts.push(r.bytes());
    const publicKey = Buffer.concat([sshString(plainType), ...parts.map((p) => sshString(p))]);
    const serial = r.u64();
    const type = r.u32();
    const keyId = r.string();
    const packed = r.bytes();
    const pr = new Reader(packed);
    const principals: string[] = [];
    while (pr.pos < packed.length) principals.push(pr.string());
    const validAfter = r.u64();
    const validBefore = r.u64();
    r.bytes(); // critical options
    r.bytes(); // extensions
    r.bytes(); // reserved
    const signatureKey = r.bytes();
    const signedEnd = r.pos;
    const signature = r.bytes();
    return { keyType, publicKey, serial, type, keyId, principals, validAfter, validBefore, signatureKey, signature, signed: blob.subarray(0, signedEnd) };
  } catch {
    return undefined;
  }
}

/** A node KeyObject for an SSH public key blob (ed25519, ECDSA P-256/384/521, RSA). */
function publicKeyObject(blob: Buffer): KeyObject {
  const r = new Reader(blob);
  const type = r.string();
  const b64url = (b: Buffer): string => b.toString('base64url');
  const unsigned = (b: Buffer): Buffer => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    return b.subarray(i);
  };
  if (type === 'ssh-ed25519') return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(r.bytes()) }, format: 'jwk' });
  if (type === 'ssh-rsa') {
    const e = unsigned(r.bytes());
    const n = unsigned(r.bytes());
    return createPublicKey({ key: { kty: 'RSA', e: b64url(e), n: b64url(n) }, format: 'jwk' });
  }
  const curves: Record<string, [string, number]> = {
    'ecdsa-sha2-nistp256': ['P-256', 32],
    'ecdsa-sha2-nistp384': ['P-384', 48],
    'ecdsa-sha2-nistp521': ['P-521', 66],
  };
  const curve = curves[type];
  if (curve) {
    r.string(); // curve name
    const q = r.bytes();
    if (q[0] !== 4 || q.length !== 1 + 2 * curve[1]) throw new Error('unsupported ECDSA point encoding');
    return createPublicKey({
      key: { kty: 'EC', crv: curve[0], x: b64url(q.subarray(1, 1 + curve[1])), y: b64url(q.subarray(1 + curve[1])) },
      format: 'jwk',
    });
  }
  throw new Error(`unsupported key type ${type}`);
}

/** Checks an SSH signature blob (`string type, string bytes`) over `data` with the key `keyBlob`. */
export function verifySshSignature(keyBlob: Buffer, data: Buffer, signature: Buffer): boolean {
  try {
    const sig = new Reader(signature);
    const sigType = sig.string();
    const bytes = sig.bytes();
    const key = publicKeyObject(keyBlob);
    if (sigType === 'ssh-ed25519') return verifySignature(null, data, key, bytes);
    if (sigType === 'rsa-sha2-256') return verifySignature('sha256', data, key, bytes);
    if (sigType === 'rsa-sha2-512') return verifySignature('sha512', data, key, bytes);
    if (sigType === 'ssh-rsa') return verifySignature('sha1', data, key, bytes);
    const hashes: Record<string, [string, number]> = {
      'ecdsa-sha2-nistp256': ['sha256', 32],
      'ecdsa-sha2-nistp384': ['sha384', 48],
      'ecdsa-sha2-nistp521': ['sha512', 66],
    };
    const h = hashes[sigType];
    if (!h) return false;
    const rs = new Reader(bytes);
    const pad = (b: Buffer): Buffer => {
      let i = 0;
      while (i < b.length - 1 && b[i] === 0) i++;
      const v = b.subarray(i);
      return v.length >= h[1] ? v : Buffer.concat([Buffer.alloc(h[1] - v.length), v]);
    };
    const rawSig = Buffer.concat([pad(rs.bytes()), pad(rs.bytes())]);
    return verifySignature(h[0], data, { key, dsaEncoding: 'ieee-p1363' }, rawSig);
  } catch {
    return false;
  }
}

/** Why `cert` is not a valid host certificate of `host` from one of `authorities` (base64 CA keys), or undefined. */
export function certificateProblem(cert: SshCertificate, host: string, authorities: string[], now: Date): string | undefined {
  if (cert.type !== 2) return 'it is a user certificate, not a host certificate';
  if (!authorities.includes(cert.signatureKey.toString('base64'))) return `its CA (${describeKey(cert.signatureKey)}) is not a @cert-authority for this host`;
  if (!verifySshSignature(cert.signatureKey, cert.signed, cert.signature)) return 'its signature does not verify';
  const t = BigInt(Math.floor(now.getTime() / 1000));
  if (t < cert.validAfter) return 'it is not valid yet';
  if (t >= cert.validBefore) return 'it has expired';
  if (cert.principals.length === 0) return 'it names no host (no principals)';
  if (!cert.principals.some((p) => globToRegExp(p).test(host))) return `it is for ${cert.principals.join(', ')}, not ${host}`;
  return undefined;
}

/**
 * TLS settings for a tcp:// engine, resolved the way the docker CLI resolves them, so the same
 * flags and environment work for `berth`: --tlsverify or DOCKER_TLS_VERIFY (any non-empty value)
 * turns TLS on and checks the engine's certificate against the CA; --tls or DOCKER_TLS turns TLS on
 * without checking it. Files come from --tlscacert/--tlscert/--tlskey, else from DOCKER_CERT_PATH
 * (default ~/.docker) as ca.pem, cert.pem and key.pem, the client pair only when both exist there.
 * Contexts store their own copies (TlsFiles) and are loaded with loadTls.
 */
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TlsOptions } from './http.js';

/** TLS as a context stores it: whether to verify, and the files (paths). */
export interface TlsFiles {
  verify: boolean;
  ca?: string;
  cert?: string;
  key?: string;
}

export interface TlsSettingsInput {
  tls?: boolean;
  tlsVerify?: boolean;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** The TLS files for an engine address given docker's flags and environment; undefined when TLS is off. */
export function dockerTlsSettings(flags: TlsSettingsInput, env: NodeJS.ProcessEnv): TlsFiles | undefined {
  const verify = flags.tlsVerify ?? Boolean(env['DOCKER_TLS_VERIFY']);
  const enabled = verify || flags.tls === true || Boolean(env['DOCKER_TLS']) || Boolean(flags.caFile || flags.certFile || flags.keyFile);
  if (!enabled) return undefined;
  const dir = env['DOCKER_CERT_PATH'] || path.join(env['HOME'] || os.homedir(), '.docker');
  const files: TlsFiles = { verify };
  const ca = flags.caFile ?? path.join(dir, 'ca.pem');
  if (flags.caFile || existsSync(ca)) files.ca = ca;
  const cert = flags.certFile ?? path.join(dir, 'cert.pem');
  const key = flags.keyFile ?? path.join(dir, 'key.pem');
  if (flags.certFile || flags.keyFile || (existsSync(cert) && existsSync(key))) {
    files.cert = cert;
    files.key = key;
  }
  return files;
}

/** Reads a context's or the flags' TLS files. */
export async function loadTls(files: TlsFiles): Promise<TlsOptions> {
  const read = async (file: string, what: string): Promise<Buffer> => {
    try {
      return await fsp.readFile(file);
    } catch (err) {
      throw new Error(`could not read the TLS ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const out: TlsOptions = { verify: files.verify };
  if (files.ca) out.ca = await read(files.ca, 'CA certificate');
  if (files.cert) out.cert = await read(files.cert, 'certificate');
  if (files.key) out.key = await read(files.key, 'key');
  if (Boolean(out.cert) !== Boolean(out.key)) throw new Error('a TLS client certificate needs its key, and a key its certificate');
  return out;
}

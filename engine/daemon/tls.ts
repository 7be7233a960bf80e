/**
 * TCP hosts and TLS, as dockerd does them. The API is root on this machine, so a tcp:// host that
 * other machines can reach is refused without TLS unless the operator said --tls=false; loopback
 * addresses only get a warning (a browser's scripts can still reach them). With --tlsverify only
 * clients holding a certificate signed by --tlscacert get in (mutual TLS); with --tls alone the
 * connection is encrypted but anyone may connect, which is warned about too.
 */
import { promises as dns } from 'node:dns';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import type { TlsOptions } from 'node:tls';
import type { Logger } from '../common/log.js';
import { FlagError, type TlsFlags } from './flags.js';

/** The certificate, key and (with --tlsverify) client CA for the TLS listeners. */
export async function loadServerTls(flags: TlsFlags): Promise<TlsOptions> {
  const read = async (file: string, what: string, flag: string): Promise<Buffer> => {
    try {
      return await fsp.readFile(file);
    } catch (err) {
      throw new FlagError(`could not read the TLS ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}): name it with ${flag}`);
    }
  };
  const cert = await read(flags.certFile, 'certificate', '--tlscert');
  const key = await read(flags.keyFile, 'key', '--tlskey');
  const options: TlsOptions = { cert, key, minVersion: 'TLSv1.2' };
  if (flags.verify) {
    options.ca = await read(flags.caFile, 'CA certificate', '--tlscacert');
    options.requestCert = true;
    options.rejectUnauthorized = true;
  }
  return options;
}

function isLoopbackAddress(ip: string): boolean {
  if (net.isIPv4(ip)) return ip.startsWith('127.');
  const v = ip.toLowerCase();
  return v === '::1' || v.startsWith('::ffff:127.');
}

/** True when `host` (an address or a name) only ever means this machine. */
export async function isLoopbackHost(host: string): Promise<boolean> {
  if (host === 'localhost') return true;
  if (net.isIP(host)) return isLoopbackAddress(host);
  const addrs = await dns.lookup(host, { all: true }).catch(() => []);
  return addrs.length > 0 && addrs.every((a) => isLoopbackAddress(a.address));
}

/** Refuses an unprotected tcp:// host that is not loopback; warns about the ones that are allowed. */
export async function checkTcpHost(address: string, bindHost: string, flags: TlsFlags, log: Logger): Promise<void> {
  if (flags.enabled && flags.verify) return;
  if (flags.enabled) {
    log.warn('API listening on TCP with TLS but without --tlsverify: anyone who can reach it controls this host', { host: address });
    return;
  }
  if (flags.explicitlyDisabled || (await isLoopbackHost(bindHost))) {
    log.warn('API listening on TCP without TLS: anyone who can reach it controls this host, scripts in a browser included', { host: address });
    return;
  }
  throw new FlagError(
    `refusing to serve ${address} without TLS: binding to an IP address without --tlsverify is insecure and gives root access ` +
      'on this machine to everyone who has access to your network. Serve it with --tlsverify, --tlscacert, --tlscert and --tlskey, ' +
      'or give --tls=false to serve it unprotected anyway',
  );
}

/**
 * The DNS server berthd runs on each user-defined network's gateway address (UDP and TCP,
 * port 53), as dockerd's embedded resolver does: containers on the network get
 * `nameserver <gateway>` and find each other by name.
 *
 * Names the network knows (container names, aliases: the caller's DnsRecords decides) are
 * answered here, authoritatively, TTL 600. A known name asked for AAAA gets an empty NOERROR at
 * once (forwarding it would make clients wait on the host's resolver for a name it cannot know).
 * Everything else is forwarded, raw, to the host's resolvers, one after the other on failure:
 * over UDP with a fresh socket and a random ID per attempt (a spoofed answer must guess both),
 * over TCP when the client asked over TCP; the reply goes back with the client's ID. No resolver
 * or none answering gives SERVFAIL. Forwarding is bounded (maxConcurrentForwards); past it the
 * client gets SERVFAIL at once rather than the daemon queueing without limit.
 *
 * Packets come from containers: malformed ones are dropped (a TCP client sending one is
 * disconnected), and nothing a client sends can throw out of a handler.
 */
import { randomInt } from 'node:crypto';
import type { Socket as UdpSocket } from 'node:dgram';
import { createSocket } from 'node:dgram';
import type { Server, Socket } from 'node:net';
import { connect, createServer, isIP } from 'node:net';
import { BerthError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { DnsQuery } from './dns-wire.js';
import {
  CLASS_IN,
  RCODE_FORMERR,
  RCODE_NOERROR,
  RCODE_NOTIMP,
  RCODE_SERVFAIL,
  TYPE_A,
  TYPE_AAAA,
  TYPE_PTR,
  aRecord,
  buildHeaderOnlyReply,
  buildReply,
  encodeName,
  parseQuery,
  ptrNameToIPv4,
  readHeader,
  withId,
} from './dns-wire.js';

export interface DnsRecords {
  /** IPv4 addresses for a name asked by a client at `client` (source IP), [] if unknown.
   *  Names arrive lower-cased without the trailing dot; the resolver decides on container name,
   *  alias, compose service name, name.<network>, etc. */
  lookupA(name: string, client: string): string[];
  /** PTR: the name for an IPv4 address on this network, or undefined. */
  lookupPtr(ip: string, client: string): string | undefined;
}

export interface DnsServerOptions {
  /** IP to bind (the network's gateway). */
  address: string;
  /** Default 53; 0 picks a free port (the same one for UDP and TCP). */
  port?: number;
  records: DnsRecords;
  /** The host's resolvers (IPs, optionally ip:port or [ipv6]:port), asked on every forward. */
  upstreams: (client: string) => string[];
  log: Logger;
  /** Per upstream attempt; default 2000 ms. */
  forwardTimeoutMs?: number;
  /** Forwarded queries in flight at once; default 256. */
  maxConcurrentForwards?: number;
}

export interface DnsServer {
  close(): Promise<void>;
  address: string;
  port: number;
}

/** Docker's embedded DNS answers with this TTL. */
const TTL = 600;
const DEFAULT_PORT = 53;
const DEFAULT_FORWARD_TIMEOUT_MS = 2000;
const DEFAULT_MAX_FORWARDS = 256;
const MAX_TCP_CLIENTS = 128;
/** An idle TCP client is disconnected after this long (RFC 7766 suggests seconds). */
const TCP_IDLE_MS = 10_000;
const TCP_MAX_MESSAGE = 65_535;

interface Upstream {
  host: string;
  port: number;
  family: 4 | 6;
}

/** "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:5353" → host, port, family; undefined if not an IP. */
export function parseUpstream(spec: string): Upstream | undefined {
  const s = spec.trim();
  const bare = isIP(s);
  if (bare) return { host: s, port: DEFAULT_PORT, family: bare as 4 | 6 };
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) return undefined;
  const host = m[1] as string;
  const port = Number(m[2]);
  const family = isIP(host);
  if (!family || port < 1 || port > 65535) return undefined;
  return { host, port, family: family as 4 | 6 };
}

/** The host's resolvers from resolv.conf text (nameserver lines, incl. loopback ones: berthd runs in the host netns). */
export function parseResolvConf(text: string): { nameservers: string[]; search: string[]; options: string[] } {
  const nameservers: string[] = [];
  let search: string[] = [];
  const options: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (line === '') continue;
    const [key, ...values] = line.split(/\s+/);
    switch (key) {
      case 'nameserver':
        if (values[0] !== undefined && isIP(values[0].replace(/%.*$/, ''))) nameservers.push(values[0]);
        break;
      // The last `search` or `domain` line wins, as in glibc.
      case 'search':
        search = values;
        break;
      case 'domain':
        search = values.slice(0, 1);
        break;
      case 'options':
        options.push(...values);
        break;
    }
  }
  return { nameservers, search, options };
}

function bindError(err: unknown, address: string, port: number, proto: string): BerthError {
  const code = (err as NodeJS.ErrnoException | null)?.code ?? 'EUNKNOWN';
  const why: Record<string, string> = {
    EADDRINUSE: 'address already in use',
    EADDRNOTAVAIL: 'address not available on this host',
    EACCES: 'permission denied',
  };
  return new BerthError('system', `cannot start the DNS server on ${address}:${port}/${proto}: ${why[code] ?? errorMessage(err)} (${code})`, {
    code,
    cause: err,
  });
}

function bindUdp(address: string, port: number): Promise<UdpSocket> {
  const sock = createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4' });
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      sock.close();
      reject(bindError(err, address, port, 'udp'));
    };
    sock.once('error', onError);
    sock.bind({ address, port, exclusive: true }, () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

function listenTcp(server: Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(bindError(err, address, port, 'tcp'));
    server.once('error', onError);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

type Settle = (err: Error | undefined, reply?: Buffer) => void;

/**
 * One exchange with an upstream: `start` opens its socket and calls `done` with the reply or an
 * error; the first call wins, and the timeout, the server closing and the socket's release are
 * handled once here for UDP and TCP alike.
 */
function exchange(timeoutMs: number, signal: AbortSignal, start: (done: Settle) => { release(): void }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    // Filled in once `start` returned (it may already have settled by then).
    const opened: { sock?: { release(): void } } = {};
    const done: Settle = (err, reply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      opened.sock?.release();
      if (err) reject(err);
      else resolve(reply as Buffer);
    };
    const onAbort = (): void => done(new Error('server closing'));
    const timer = setTimeout(() => done(new Error('timed out')), timeoutMs);
    signal.addEventListener('abort', onAbort);
    opened.sock = start(done);
    if (settled) opened.sock.release();
  });
}

/** One query/answer with an upstream over UDP: a fresh socket, a random ID, the first valid reply. */
function exchangeUdp(up: Upstream, query: Buffer, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  const id = randomInt(0, 0x10000);
  return exchange(timeoutMs, signal, (done) => {
    const sock = createSocket({ type: up.family === 6 ? 'udp6' : 'udp4' });
    sock.on('error', (err) => done(err));
    sock.on('message', (msg, rinfo) => {
      if (rinfo.address !== up.host || rinfo.port !== up.port) return;
      const h = readHeader(msg);
      if (!h || !h.response || h.id !== id) return;
      done(undefined, msg);
    });
    sock.send(withId(query, id), up.port, up.host);
    return { release: () => sock.close() };
  });
}

/** One query/answer with an upstream over TCP (2-byte length framing, RFC 1035 4.2.2). */
function exchangeTcp(up: Upstream, query: Buffer, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  const id = randomInt(0, 0x10000);
  return exchange(timeoutMs, signal, (done) => {
    const sock = connect({ host: up.host, port: up.port });
    let buf: Buffer = Buffer.alloc(0);
    sock.on('error', (err) => done(err));
    sock.on('close', () => done(new Error('connection closed before a reply')));
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2) return;
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) return;
      const msg = buf.subarray(2, 2 + len);
      const h = readHeader(msg);
      if (!h || !h.response || h.id !== id) done(new Error('unexpected reply'));
      else done(undefined, Buffer.from(msg));
    });
    const framed = Buffer.alloc(2 + query.length);
    framed.writeUInt16BE(query.length, 0);
    withId(query, id).copy(framed, 2);
    sock.write(framed);
    return { release: () => sock.destroy() };
  });
}

export async function startDnsServer(o: DnsServerOptions): Promise<DnsServer> {
  const log = o.log.child({ component: 'dns', address: o.address });
  const timeoutMs = o.forwardTimeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
  const maxForwards = o.maxConcurrentForwards ?? DEFAULT_MAX_FORWARDS;
  const closing = new AbortController();
  const tcpClients = new Set<Socket>();
  let forwards = 0;
  let rotation = 0;

  // ---- answering -----------------------------------------------------------

  const servfail = (raw: Buffer, q: DnsQuery): Buffer => buildReply(raw, q, { rcode: RCODE_SERVFAIL, authoritative: false });

  /** The reply for a name the network knows, or undefined to forward. */
  const answerLocally = (raw: Buffer, q: DnsQuery, client: string, maxSize: number): Buffer | undefined => {
    const { name, type } = q.question;
    if (q.question.class !== CLASS_IN) return undefined;
    if (type === TYPE_A || type === TYPE_AAAA) {
      const rdata = o.records
        .lookupA(name, client)
        .map(aRecord)
        .filter((b): b is Buffer => b !== undefined);
      if (rdata.length === 0) return undefined;
      if (type === TYPE_AAAA) return buildReply(raw, q, { rcode: RCODE_NOERROR, authoritative: true });
      const start = rotation++ % rdata.length;
      const answers = [...rdata.slice(start), ...rdata.slice(0, start)];
      return buildReply(raw, q, { rcode: RCODE_NOERROR, authoritative: true, answers, ttl: TTL, maxSize });
    }
    if (type === TYPE_PTR) {
      const ip = ptrNameToIPv4(name);
      const target = ip === undefined ? undefined : o.records.lookupPtr(ip, client);
      const rdata = target === undefined ? undefined : encodeName(target);
      if (!rdata) return undefined;
      return buildReply(raw, q, { rcode: RCODE_NOERROR, authoritative: true, answers: [rdata], ttl: TTL, maxSize });
    }
    return undefined;
  };

  const forward = async (raw: Buffer, q: DnsQuery, client: string, tcp: boolean): Promise<Buffer> => {
    if (forwards >= maxForwards) {
      log.debug('too many forwarded queries in flight; answering SERVFAIL', { name: q.question.name });
      return servfail(raw, q);
    }
    forwards++;
    try {
      const upstreams = o
        .upstreams(client)
        .map(parseUpstream)
        .filter((u): u is Upstream => u !== undefined && !(u.host === o.address && u.port === port));
      for (const up of upstreams) {
        if (closing.signal.aborted) break;
        try {
          const reply = tcp ? await exchangeTcp(up, raw, timeoutMs, closing.signal) : await exchangeUdp(up, raw, timeoutMs, closing.signal);
          return withId(reply, q.header.id);
        } catch (err) {
          log.debug('upstream resolver failed', { upstream: `${up.host}:${up.port}`, name: q.question.name, err });
        }
      }
      return servfail(raw, q);
    } finally {
      forwards--;
    }
  };

  /** The reply to one message from a client, or undefined to drop it. */
  const handle = async (raw: Buffer, client: string, tcp: boolean): Promise<Buffer | undefined> => {
    const header = readHeader(raw);
    if (!header || header.response) return undefined;
    if (header.opcode !== 0) return buildHeaderOnlyReply(header, RCODE_NOTIMP);
    if (header.qdcount !== 1) return buildHeaderOnlyReply(header, RCODE_FORMERR);
    const q = parseQuery(raw);
    if (!q) return undefined;
    try {
      const local = answerLocally(raw, q, client, tcp ? TCP_MAX_MESSAGE : q.udpSize);
      if (local) return local;
    } catch (err) {
      log.warn('DNS record lookup failed', { name: q.question.name, err });
      return servfail(raw, q);
    }
    return forward(raw, q, client, tcp);
  };

  const clientAddress = (a: string | undefined): string => (a ?? '').replace(/^::ffff:(?=\d+\.)/, '');

  // ---- sockets --------------------------------------------------------------

  const onTcpClient = (conn: Socket): void => {
    tcpClients.add(conn);
    conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
    conn.on('close', () => tcpClients.delete(conn));
    conn.on('error', () => conn.destroy());
    const client = clientAddress(conn.remoteAddress);
    let buf: Buffer = Buffer.alloc(0);
    conn.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        // Replies may go out of order; each carries its query's ID (RFC 7766 6.2.1.1).
        handle(msg, client, true).then(
          (reply) => {
            if (!reply) {
              conn.destroy();
              return;
            }
            if (conn.destroyed) return;
            const framed = Buffer.alloc(2 + reply.length);
            framed.writeUInt16BE(reply.length, 0);
            reply.copy(framed, 2);
            conn.write(framed);
          },
          (err: unknown) => {
            log.error('DNS query failed', { err });
            conn.destroy();
          },
        );
      }
    });
  };

  const requested = o.port ?? DEFAULT_PORT;
  let udp: UdpSocket | undefined;
  let tcp: Server | undefined;
  // With port 0 the kernel picks the UDP port; TCP must get the same one, which another process
  // may hold: try a few times.
  for (let attempt = 0; ; attempt++) {
    const u = await bindUdp(o.address, requested);
    const t = createServer(onTcpClient);
    t.maxConnections = MAX_TCP_CLIENTS;
    try {
      await listenTcp(t, o.address, u.address().port);
      udp = u;
      tcp = t;
      break;
    } catch (err) {
      u.close();
      if (requested !== 0 || attempt >= 8) throw err;
    }
  }
  const port = udp.address().port;
  const udpSock = udp;
  const tcpServer = tcp;

  udpSock.on('error', (err) => log.warn('DNS UDP socket error', { err }));
  udpSock.on('message', (msg, rinfo) => {
    handle(msg, clientAddress(rinfo.address), false).then(
      (reply) => {
        if (reply && !closing.signal.aborted) udpSock.send(reply, rinfo.port, rinfo.address, () => undefined);
      },
      (err: unknown) => log.error('DNS query failed', { err }),
    );
  });
  log.debug('DNS server listening', { port });

  let closed: Promise<void> | undefined;
  return {
    address: o.address,
    port,
    close(): Promise<void> {
      closed ??= (async () => {
        closing.abort();
        for (const c of tcpClients) c.destroy();
        await Promise.all([
          new Promise<void>((resolve) => udpSock.close(() => resolve())),
          new Promise<void>((resolve) => tcpServer.close(() => resolve())),
        ]);
      })();
      return closed;
    },
  };
}

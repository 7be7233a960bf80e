// The embedded DNS server (engine/network/dns.ts) on loopback: a "network" server with fake
// records that forwards to a second instance of the same server acting as the host's resolver.
// Clients: node's resolver (c-ares, which also retries over TCP on truncation), Debian's
// glibc-linked busybox nslookup, and raw packets built here for what clients never send
// (compression pointers in questions, pointer loops, garbage, odd opcodes).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { silentLogger } from '../engine/common/log.js';
import { isBerthError } from '../engine/common/errors.js';
import type { DnsRecords, DnsServer } from '../engine/network/dns.js';
import { parseResolvConf, parseUpstream, startDnsServer } from '../engine/network/dns.js';
import { encodeName, parseQuery, readHeader, readName } from '../engine/network/dns-wire.js';
import { debPackageRoot } from './harness/images.js';

const run = promisify(execFile);

// ---- raw packets -------------------------------------------------------------

interface RawQuery {
  id?: number;
  name: string;
  type: number;
  flags?: number;
  qdcount?: number;
  /** EDNS UDP size: adds an OPT record. */
  edns?: number;
}

function query(q: RawQuery): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id ?? 0x1234, 0);
  header.writeUInt16BE(q.flags ?? 0x0100, 2);
  header.writeUInt16BE(q.qdcount ?? 1, 4);
  header.writeUInt16BE(q.edns ? 1 : 0, 10);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(q.type, 0);
  tail.writeUInt16BE(1, 2);
  const parts = [header, encodeName(q.name) as Buffer, tail];
  if (q.edns) {
    const opt = Buffer.alloc(11);
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(q.edns, 3);
    parts.push(opt);
  }
  return Buffer.concat(parts);
}

interface Reply {
  id: number;
  rcode: number;
  aa: boolean;
  tc: boolean;
  ra: boolean;
  questionName: string;
  answers: { type: number; ttl: number; data: string }[];
}

function decode(msg: Buffer): Reply {
  const flags = msg.readUInt16BE(2);
  const q = readName(msg, 12);
  assert.ok(q, 'reply has a question');
  let pos = q.next + 4;
  const answers: Reply['answers'] = [];
  for (let i = 0; i < msg.readUInt16BE(6); i++) {
    const owner = readName(msg, pos);
    assert.ok(owner);
    const type = msg.readUInt16BE(owner.next);
    const ttl = msg.readUInt32BE(owner.next + 4);
    const len = msg.readUInt16BE(owner.next + 8);
    const rdata = owner.next + 10;
    const data = type === 1 ? [...msg.subarray(rdata, rdata + 4)].join('.') : type === 12 ? (readName(msg, rdata)?.name ?? '?') : '';
    answers.push({ type, ttl, data });
    pos = rdata + len;
  }
  return {
    id: msg.readUInt16BE(0),
    rcode: flags & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    ra: (flags & 0x0080) !== 0,
    questionName: q.name,
    answers,
  };
}

/** A UDP client socket that collects every reply, in order. */
class UdpClient {
  readonly replies: Buffer[] = [];
  private waiters: (() => void)[] = [];
  private constructor(readonly sock: UdpSocket, private readonly port: number) {
    sock.on('message', (m) => {
      this.replies.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async open(port: number): Promise<UdpClient> {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    return new UdpClient(sock, port);
  }
  send(msg: Buffer): void {
    this.sock.send(msg, this.port, '127.0.0.1');
  }
  /** Wait for the reply with this ID (every reply is kept in `replies`). */
  async reply(id: number): Promise<Buffer> {
    for (;;) {
      const found = this.replies.find((r) => r.readUInt16BE(0) === id);
      if (found) return found;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  close(): void {
    this.sock.close();
  }
}

async function udpAsk(port: number, msg: Buffer): Promise<Reply> {
  const c = await UdpClient.open(port);
  try {
    c.send(msg);
    return decode(await c.reply(msg.readUInt16BE(0)));
  } finally {
    c.close();
  }
}

/** Send framed messages over one TCP connection; resolves with the replies (or [] if closed). */
function tcpAsk(port: number, msgs: Buffer[], expect: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    const replies: Buffer[] = [];
    let buf = Buffer.alloc(0);
    sock.on('error', reject);
    sock.on('close', () => resolve(replies));
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (replies.length >= expect) sock.end();
    });
    for (const m of msgs) {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(m.length);
      sock.write(Buffer.concat([len, m]));
    }
  });
}

// ---- the servers ----------------------------------------------------------------

const MANY = Array.from({ length: 60 }, (_, i) => `10.89.1.${i + 1}`);

/** Fake network records; `asked` records every A lookup as "name@client". */
function records(table: Record<string, string[]>, ptr: Record<string, string> = {}): DnsRecords & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    lookupA: (name, client) => {
      asked.push(`${name}@${client}`);
      return table[name] ?? [];
    },
    lookupPtr: (ip) => ptr[ip],
  };
}

const upstreamRecords = records({ 'example.test': ['192.0.2.10'], 'big.example.test': MANY });
const netRecords = records(
  { web: ['10.89.0.2', '10.89.0.3'], 'web.mynet': ['10.89.0.2', '10.89.0.3'], db: ['10.89.0.4'], many: MANY, bad: ['not-an-ip', '10.89.0.9'] },
  { '10.89.0.2': 'web.mynet' },
);
let upstream: DnsServer;
let server: DnsServer;
const servers: DnsServer[] = [];
const resolver = new Resolver({ timeout: 5000, tries: 1 });

before(async () => {
  // The "host resolver": knows example.test, has no upstream of its own (so SERVFAIL otherwise).
  upstream = await startDnsServer({ address: '127.0.0.1', port: 0, records: upstreamRecords, upstreams: () => [], log: silentLogger });
  server = await startDnsServer({
    address: '127.0.0.1',
    port: 0,
    records: netRecords,
    upstreams: () => [`127.0.0.1:${upstream.port}`],
    log: silentLogger,
  });
  servers.push(upstream, server);
  resolver.setServers([`127.0.0.1:${server.port}`]);
});

after(async () => {
  for (const s of servers) await s.close();
});

describe('names the network knows', () => {
  test('A: every address, TTL 600, authoritative, whatever the case asked', async () => {
    assert.deepEqual((await resolver.resolve4('web')).sort(), ['10.89.0.2', '10.89.0.3']);
    const withTtl = await resolver.resolve4('web.mynet', { ttl: true });
    assert.deepEqual(
      withTtl.sort((a, b) => a.address.localeCompare(b.address)),
      [
        { address: '10.89.0.2', ttl: 600 },
        { address: '10.89.0.3', ttl: 600 },
      ],
    );
    const r = await udpAsk(server.port, query({ id: 7, name: 'DB', type: 1 }));
    assert.equal(r.id, 7);
    assert.equal(r.rcode, 0);
    assert.ok(r.aa && r.ra);
    assert.equal(r.questionName, 'db');
    assert.deepEqual(r.answers, [{ type: 1, ttl: 600, data: '10.89.0.4' }]);
    assert.ok(netRecords.asked.includes('db@127.0.0.1'), 'the lookup gets the name lower-cased and the client address');
    assert.deepEqual(await resolver.resolve4('bad'), ['10.89.0.9'], 'addresses that are not IPv4 are left out');
  });

  test('A: the order rotates between answers', async () => {
    const first = await udpAsk(server.port, query({ id: 1, name: 'web', type: 1 }));
    const second = await udpAsk(server.port, query({ id: 2, name: 'web', type: 1 }));
    assert.notDeepEqual(first.answers, second.answers);
    assert.deepEqual(first.answers.map((a) => a.data).sort(), second.answers.map((a) => a.data).sort());
  });

  test('AAAA for a known name: NOERROR, no answers, not forwarded', async () => {
    upstreamRecords.asked.length = 0;
    await assert.rejects(resolver.resolve6('web'), { code: 'ENODATA' });
    const r = await udpAsk(server.port, query({ id: 3, name: 'web', type: 28 }));
    assert.equal(r.rcode, 0);
    assert.ok(r.aa);
    assert.deepEqual(r.answers, []);
    assert.deepEqual(upstreamRecords.asked, [], 'the upstream was never asked');
  });

  test('PTR for an address on the network', async () => {
    assert.deepEqual(await resolver.reverse('10.89.0.2'), ['web.mynet']);
    const r = await udpAsk(server.port, query({ id: 4, name: '2.0.89.10.in-addr.arpa', type: 12 }));
    assert.deepEqual(r.answers, [{ type: 12, ttl: 600, data: 'web.mynet' }]);
    assert.ok(r.aa);
  });

  test('too many addresses for 512 bytes: truncated over UDP, all of them over TCP, or with EDNS', async () => {
    const udp = await udpAsk(server.port, query({ id: 5, name: 'many', type: 1 }));
    assert.ok(udp.tc, 'TC set');
    assert.ok(udp.answers.length > 0 && udp.answers.length < MANY.length);
    const [tcpReply] = await tcpAsk(server.port, [query({ id: 6, name: 'many', type: 1 })], 1);
    assert.ok(tcpReply);
    const tcp = decode(tcpReply);
    assert.ok(!tcp.tc);
    assert.equal(tcp.answers.length, MANY.length);
    const edns = await udpAsk(server.port, query({ id: 8, name: 'many', type: 1, edns: 4096 }));
    assert.ok(!edns.tc);
    assert.equal(edns.answers.length, MANY.length);
    // c-ares retries over TCP on TC.
    assert.equal((await resolver.resolve4('many')).length, MANY.length);
  });
});

describe('forwarding', () => {
  test('unknown names go to the upstream; the reply carries the client ID', async () => {
    assert.deepEqual(await resolver.resolve4('example.test'), ['192.0.2.10']);
    const r = await udpAsk(server.port, query({ id: 0xbeef, name: 'Example.Test', type: 1 }));
    assert.equal(r.id, 0xbeef);
    assert.ok(r.aa, "the upstream's flags are relayed (it is authoritative for example.test)");
    assert.deepEqual(r.answers, [{ type: 1, ttl: 600, data: '192.0.2.10' }]);
    assert.ok(upstreamRecords.asked.includes('example.test@127.0.0.1'));
    // A known name with a type we do not serve (MX) is forwarded too (the upstream fails it).
    await assert.rejects(resolver.resolveMx('web'), { code: 'ESERVFAIL' });
  });

  test("the upstream's SERVFAIL is relayed", async () => {
    await assert.rejects(resolver.resolve4('nowhere.test'), { code: 'ESERVFAIL' });
    const r = await udpAsk(server.port, query({ id: 9, name: 'nowhere.test', type: 1 }));
    assert.equal(r.rcode, 2);
    assert.equal(r.questionName, 'nowhere.test');
  });

  test('TCP queries are forwarded over TCP (the whole 60-address answer arrives)', async () => {
    const udp = await udpAsk(server.port, query({ id: 10, name: 'big.example.test', type: 1 }));
    assert.ok(udp.tc, 'over UDP the upstream truncates');
    const replies = await tcpAsk(
      server.port,
      [query({ id: 11, name: 'big.example.test', type: 1 }), query({ id: 12, name: 'web', type: 1 })],
      2,
    );
    const byId = new Map(replies.map((m) => [m.readUInt16BE(0), decode(m)]));
    assert.equal(byId.get(11)?.answers.length, MANY.length);
    assert.ok(!byId.get(11)?.tc);
    assert.equal(byId.get(12)?.answers.length, 2, 'several queries on one connection');
  });

  test('no upstream, a dead upstream, the server itself: SERVFAIL or the next upstream', async () => {
    const lonely = await startDnsServer({ address: '127.0.0.1', port: 0, records: records({}), upstreams: () => [], log: silentLogger });
    servers.push(lonely);
    assert.equal((await udpAsk(lonely.port, query({ id: 13, name: 'example.test', type: 1 }))).rcode, 2);

    // A resolver that never answers, and junk entries, before the working one.
    const blackhole = createSocket('udp4');
    await new Promise<void>((r) => blackhole.bind(0, '127.0.0.1', r));
    try {
      let selfPort = 0;
      const fallback = await startDnsServer({
        address: '127.0.0.1',
        port: 0,
        records: records({}),
        upstreams: () => [`127.0.0.1:${selfPort}`, 'not-an-ip', `127.0.0.1:${blackhole.address().port}`, `127.0.0.1:${upstream.port}`],
        log: silentLogger,
        forwardTimeoutMs: 300,
      });
      servers.push(fallback);
      selfPort = fallback.port;
      const r = await udpAsk(fallback.port, query({ id: 14, name: 'example.test', type: 1 }));
      assert.deepEqual(r.answers.map((a) => a.data), ['192.0.2.10']);
    } finally {
      blackhole.close();
    }
  });

  test('forwarded queries in flight are bounded: past the limit, SERVFAIL at once; close() ends them', async () => {
    const blackhole = createSocket('udp4');
    const seen: number[] = [];
    let sawTwo: () => void = () => undefined;
    const two = new Promise<void>((r) => (sawTwo = r));
    blackhole.on('message', (m) => {
      seen.push(m.readUInt16BE(0));
      if (seen.length === 2) sawTwo();
    });
    await new Promise<void>((r) => blackhole.bind(0, '127.0.0.1', r));
    const bounded = await startDnsServer({
      address: '127.0.0.1',
      port: 0,
      records: records({}),
      upstreams: () => [`127.0.0.1:${blackhole.address().port}`],
      log: silentLogger,
      maxConcurrentForwards: 2,
      forwardTimeoutMs: 600_000,
    });
    const c = await UdpClient.open(bounded.port);
    try {
      c.send(query({ id: 21, name: 'a.test', type: 1 }));
      c.send(query({ id: 22, name: 'b.test', type: 1 }));
      await two;
      c.send(query({ id: 23, name: 'c.test', type: 1 }));
      assert.equal(decode(await c.reply(23)).rcode, 2);
      assert.deepEqual(c.replies.map((r) => r.readUInt16BE(0)), [23], 'the first two are still waiting on the upstream');
      await bounded.close();
    } finally {
      c.close();
      blackhole.close();
    }
  });
});

describe('busybox nslookup (glibc-linked, as in a container)', () => {
  let busybox = '';
  before(async () => {
    const root = await debPackageRoot('busybox');
    busybox = join(root, 'bin', 'busybox');
    assert.ok(existsSync(busybox));
  });

  const nslookup = async (...args: string[]): Promise<{ code: number; out: string }> => {
    try {
      const r = await run(busybox, ['nslookup', ...args, `127.0.0.1:${server.port}`], { timeout: 20_000 });
      return { code: 0, out: r.stdout };
    } catch (e) {
      const err = e as { code?: number; stdout?: string };
      return { code: typeof err.code === 'number' ? err.code : -1, out: err.stdout ?? '' };
    }
  };

  test('A and AAAA of a container name, PTR, a forwarded name, SERVFAIL', async () => {
    const web = await nslookup('web');
    assert.equal(web.code, 0, web.out);
    assert.match(web.out, /Name:\s+web\nAddress: 10\.89\.0\.[23]\nName:\s+web\nAddress: 10\.89\.0\.[23]/);
    assert.doesNotMatch(web.out, /can't find/, 'the AAAA half answers NOERROR');
    const ptr = await nslookup('10.89.0.2');
    assert.equal(ptr.code, 0, ptr.out);
    assert.match(ptr.out, /2\.0\.89\.10\.in-addr\.arpa\s+name = web\.mynet/);
    const fwd = await nslookup('-type=a', 'example.test');
    assert.equal(fwd.code, 0, fwd.out);
    assert.match(fwd.out, /Address: 192\.0\.2\.10/);
    const fail = await nslookup('-type=a', 'nowhere.test');
    assert.notEqual(fail.code, 0);
    assert.match(fail.out, /server can't find nowhere\.test: SERVFAIL/);
  });
});

describe('hostile input', () => {
  test('compression pointers in the question are followed', async () => {
    // Question name = pointer to "web" placed after the question (a forward pointer).
    const msg = Buffer.concat([
      Buffer.from([0x00, 0x31, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
      Buffer.from([0xc0, 18, 0, 1, 0, 1]),
      Buffer.from([3, ...Buffer.from('wEb'), 0]),
    ]);
    const r = await udpAsk(server.port, msg);
    assert.equal(r.questionName, 'web');
    assert.equal(r.answers.length, 2);
    // "web" + pointer to "mynet" (a label then a pointer).
    const msg2 = Buffer.concat([
      Buffer.from([0x00, 0x32, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
      Buffer.from([3, ...Buffer.from('web'), 0xc0, 22, 0, 1, 0, 1]),
      Buffer.from([5, ...Buffer.from('mynet'), 0]),
    ]);
    assert.equal((await udpAsk(server.port, msg2)).answers.length, 2);
  });

  test('malformed packets are dropped; the server keeps answering (UDP and TCP)', async () => {
    const header = (id: number, flags = 0x0100, qd = 1): Buffer => {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(id, 0);
      h.writeUInt16BE(flags, 2);
      h.writeUInt16BE(qd, 4);
      return h;
    };
    const bad: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from([1, 2, 3]),
      Buffer.concat([header(0x41), Buffer.from([0xc0, 12, 0, 1, 0, 1])]), // pointer to itself
      Buffer.concat([header(0x42), Buffer.from([0xc0, 20, 0, 1, 0, 1, 0, 0, 0xc0, 12])]), // two-pointer loop
      Buffer.concat([header(0x43), Buffer.from([64, ...Buffer.alloc(64, 0x61), 0, 0, 1, 0, 1])]), // label > 63
      Buffer.concat([header(0x44), Buffer.from([3, 0x61, 0x62])]), // name runs off the end
      Buffer.concat([header(0x45), Buffer.from([3, 0x61, 0x62, 0x63, 0, 0, 1])]), // no class
      Buffer.concat([header(0x46), Buffer.from([0x80, 0x61, 0, 0, 1, 0, 1])]), // reserved label type
      Buffer.concat([header(0x47), ...Array.from({ length: 5 }, () => Buffer.from([63, ...Buffer.alloc(63, 0x61)])), Buffer.from([0, 0, 1, 0, 1])]), // name > 255
      Buffer.concat([header(0x48, 0x8100), Buffer.from([3, 0x77, 0x65, 0x62, 0, 0, 1, 0, 1])]), // a response, not a query
    ];
    // Random garbage from its own socket (some of it parses as a header and earns a FORMERR),
    // in batches each followed by a real query, so the socket buffers never overflow.
    const fuzz = await UdpClient.open(server.port);
    try {
      for (let batch = 0; batch < 40; batch++) {
        for (let i = 0; i < 50; i++) {
          const junk = randomBytes(Math.floor(Math.random() * 600));
          if (junk.length > 0) junk[0] = (junk[0] as number) & 0x7f; // IDs below 0x8000: never a sentinel's
          fuzz.send(junk);
        }
        const id = 0x8000 + batch;
        fuzz.send(query({ id, name: 'db', type: 1 }));
        assert.equal(decode(await fuzz.reply(id)).answers.length, 1);
      }
    } finally {
      fuzz.close();
    }
    const c = await UdpClient.open(server.port);
    try {
      for (const b of bad) c.send(b);
      // Valid but unanswerable locally: odd opcode and question counts get header-only errors.
      c.send(query({ id: 0x51, name: 'web', type: 1, flags: 0x1100 }));
      c.send(query({ id: 0x52, name: 'web', type: 1, qdcount: 2 }));
      c.send(query({ id: 0x53, name: 'web', type: 1 }));
      assert.equal(decode(await c.reply(0x53)).answers.length, 2);
      assert.equal((await c.reply(0x51)).readUInt16BE(2) & 0xf, 4, 'NOTIMP for opcode 2');
      assert.equal((await c.reply(0x52)).readUInt16BE(2) & 0xf, 1, 'FORMERR for two questions');
      const ids = c.replies.map((r) => r.readUInt16BE(0));
      for (const id of [0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48]) assert.ok(!ids.includes(id), `0x${id.toString(16)} was dropped`);
    } finally {
      c.close();
    }
    // TCP: garbage closes that connection; a new one is served.
    assert.deepEqual(await tcpAsk(server.port, [Buffer.from([0xc0, 12, 0xff])], 1), []);
    const [ok] = await tcpAsk(server.port, [query({ id: 0x54, name: 'db', type: 1 })], 1);
    assert.ok(ok);
    assert.deepEqual(decode(ok).answers.map((a) => a.data), ['10.89.0.4']);
    assert.deepEqual(await resolver.resolve4('db'), ['10.89.0.4']);
  });

  test('fuzz: the parser never throws on random or mutated packets', () => {
    const valid = query({ name: 'web.mynet', type: 1, edns: 1232 });
    let parsed = 0;
    for (let i = 0; i < 20_000; i++) {
      const msg = i % 2 === 0 ? randomBytes(Math.floor(Math.random() * 300)) : Buffer.from(valid);
      if (i % 2 === 1) for (let k = 0; k < 1 + (i % 5); k++) msg[Math.floor(Math.random() * msg.length)] = Math.floor(Math.random() * 256);
      const q = parseQuery(msg);
      readHeader(msg);
      if (q) {
        parsed++;
        assert.ok(q.question.name.length <= 4 * 255);
        assert.ok(q.udpSize >= 512 && q.udpSize <= 4096);
      }
    }
    assert.ok(parsed > 0, 'some mutated queries are still valid');
  });
});

describe('lifecycle', () => {
  test('bind failures reject with the errno; close() frees the port', async () => {
    await assert.rejects(
      startDnsServer({ address: '127.0.0.1', port: server.port, records: records({}), upstreams: () => [], log: silentLogger }),
      (e: unknown) => isBerthError(e) && e.code === 'EADDRINUSE' && /address already in use/.test(e.message),
    );
    await assert.rejects(
      startDnsServer({ address: '192.0.2.1', port: 0, records: records({}), upstreams: () => [], log: silentLogger }),
      (e: unknown) => isBerthError(e) && e.code === 'EADDRNOTAVAIL' && e.message.includes('192.0.2.1'),
    );
    const a = await startDnsServer({ address: '127.0.0.1', port: 0, records: records({ x: ['10.0.0.1'] }), upstreams: () => [], log: silentLogger });
    const port = a.port;
    await a.close();
    await a.close();
    const b = await startDnsServer({ address: '127.0.0.1', port, records: records({ x: ['10.0.0.2'] }), upstreams: () => [], log: silentLogger });
    try {
      assert.equal(b.port, port);
      assert.deepEqual((await udpAsk(port, query({ name: 'x', type: 1 }))).answers.map((r) => r.data), ['10.0.0.2']);
    } finally {
      await b.close();
    }
  });
});

describe('resolv.conf and upstream specs', () => {
  test('parseResolvConf', () => {
    const text = [
      '# generated',
      'nameserver 127.0.0.53',
      'nameserver ::1',
      'nameserver fe80::1%eth0',
      'nameserver not-an-ip',
      'nameserver 10.0.0.1 ; trailing comment',
      'domain corp.example',
      'search a.example b.example',
      'options ndots:2 timeout:1',
      'options edns0',
      '',
    ].join('\n');
    assert.deepEqual(parseResolvConf(text), {
      nameservers: ['127.0.0.53', '::1', 'fe80::1%eth0', '10.0.0.1'],
      search: ['a.example', 'b.example'],
      options: ['ndots:2', 'timeout:1', 'edns0'],
    });
    assert.deepEqual(parseResolvConf('search x.example\ndomain y.example\n').search, ['y.example'], 'the last of search/domain wins');
  });

  test('parseUpstream', () => {
    assert.deepEqual(parseUpstream('10.0.0.1'), { host: '10.0.0.1', port: 53, family: 4 });
    assert.deepEqual(parseUpstream('10.0.0.1:5353'), { host: '10.0.0.1', port: 5353, family: 4 });
    assert.deepEqual(parseUpstream('::1'), { host: '::1', port: 53, family: 6 });
    assert.deepEqual(parseUpstream('[::1]:5353'), { host: '::1', port: 5353, family: 6 });
    assert.equal(parseUpstream('resolver.example'), undefined);
    assert.equal(parseUpstream('10.0.0.1:70000'), undefined);
  });
});

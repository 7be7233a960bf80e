/**
 * The perl SOCK_SEQPACKET bridge that conmon attach uses where node-unix-socket has no binary (the
 * arm64 VM), tested here against a real SOCK_SEQPACKET server (the addon's, which x64 has):
 * packet boundaries both ways, half-close, errors worded as the addon's, long paths; and
 * connectAttach over the bridge splitting conmon's stdout/stderr packets.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SeqpacketServer, type SeqpacketSocket } from 'node-unix-socket';
import { BridgedSeqpacketSocket } from '../engine/runtime/monitor/seqpacket-bridge.js';
import { ATTACH_PIPE_STDERR, ATTACH_PIPE_STDOUT, connectAttach } from '../engine/runtime/monitor/attach.js';

let dir = '';
before(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-seqpacket-'));
});
after(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

/** A SEQPACKET server at `file`; resolves each accepted connection through `onConn`. */
function serve(file: string, onConn: (s: SeqpacketSocket) => void): SeqpacketServer {
  const server = new SeqpacketServer();
  server.on('connection', onConn);
  server.listen(file);
  return server;
}

function connected(sock: BridgedSeqpacketSocket, file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
    sock.connect(file);
  });
}

test('packets keep their boundaries both ways; end() half-closes; the peer closing ends it', { timeout: 20_000 }, async () => {
  const file = path.join(dir, 's1');
  const got: Buffer[] = [];
  let peerEnded!: () => void;
  const peerEnd = new Promise<void>((r) => (peerEnded = r));
  const server = serve(file, (peer) => {
    peer.on('data', (b: Buffer) => got.push(b));
    peer.on('end', () => {
      // After our half-close the peer can still send; then it closes.
      peer.write(Buffer.from('after-eof'));
      setTimeout(() => peer.destroy(), 50);
      peerEnded();
    });
    peer.write(Buffer.from('one'));
    peer.write(Buffer.alloc(70_000, 7));
    peer.write(Buffer.from('three'));
  });
  try {
    const sock = new BridgedSeqpacketSocket();
    const received: Buffer[] = [];
    sock.on('data', (b: Buffer) => received.push(b));
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    const ended = new Promise<void>((r) => sock.on('end', () => r()));
    await connected(sock, file);
    await new Promise<void>((r) => sock.write(Buffer.from('xxhelloxx'), 2, 5, r));
    await new Promise<void>((r) => sock.write(Buffer.from('world'), 0, 5, r));
    await new Promise<void>((r) => setTimeout(r, 200));
    sock.end();
    await peerEnd;
    await ended;
    await closed;
    assert.deepEqual(got.map((b) => b.toString()), ['hello', 'world'], 'one packet per write');
    assert.deepEqual(received.map((b) => b.length), [3, 70_000, 5, 9]);
    assert.equal(received[0]?.toString(), 'one');
    assert.ok(received[1]?.every((x) => x === 7));
    assert.equal(received[3]?.toString(), 'after-eof');
  } finally {
    server.close();
  }
});

test('errors read as the addon words them: missing socket, refused, long paths work', { timeout: 20_000 }, async () => {
  const missing = new BridgedSeqpacketSocket();
  await assert.rejects(connected(missing, path.join(dir, 'nope')), /No such file or directory/);
  // A socket file nobody listens on any more refuses.
  const stale = path.join(dir, 'stale');
  const s = serve(stale, () => undefined);
  s.close();
  await assert.rejects(connected(new BridgedSeqpacketSocket(), stale), /refused|No such file/);

  const deep = path.join(dir, 'd'.repeat(60), 'e'.repeat(60));
  await fsp.mkdir(deep, { recursive: true });
  const long = path.join(deep, 'attach');
  assert.ok(Buffer.byteLength(long) > 108);
  // The addon cannot bind a path that long either; bind through a relative path from its dir.
  const cwd = process.cwd();
  process.chdir(deep);
  const longServer = serve('attach', (peer) => peer.write(Buffer.from('hi')));
  process.chdir(cwd);
  try {
    const sock = new BridgedSeqpacketSocket();
    const first = new Promise<Buffer>((r) => sock.once('data', r));
    await connected(sock, long);
    assert.equal((await first).toString(), 'hi');
    sock.destroy();
  } finally {
    longServer.close();
  }
});

test('connectAttach over the bridge: conmon pipe bytes split stdout and stderr; stdin reaches the peer', { timeout: 20_000 }, async () => {
  const file = path.join(dir, 'attach');
  const stdinSeen: string[] = [];
  const server = serve(file, (peer) => {
    peer.on('data', (b: Buffer) => {
      stdinSeen.push(b.toString());
      peer.write(Buffer.concat([Buffer.from([ATTACH_PIPE_STDOUT]), Buffer.from(`out:${b.toString()}`)]));
      peer.write(Buffer.concat([Buffer.from([ATTACH_PIPE_STDERR]), Buffer.from('err')]));
      setTimeout(() => peer.destroy(), 50);
    });
  });
  const before = process.env['BERTH_SEQPACKET_BRIDGE'];
  process.env['BERTH_SEQPACKET_BRIDGE'] = '1';
  try {
    const session = await connectAttach(file);
    const read = async (r: NodeJS.ReadableStream): Promise<string> => {
      let s = '';
      for await (const c of r) s += (c as Buffer).toString();
      return s;
    };
    const out = read(session.stdout);
    const err = read(session.stderr);
    session.stdin.write('ping');
    assert.deepEqual(await session.closed, {});
    assert.equal(await out, 'out:ping');
    assert.equal(await err, 'err');
    assert.deepEqual(stdinSeen, ['ping']);
    await assert.rejects(connectAttach(path.join(dir, 'gone')), (e: Error & { code?: string }) => e.code === 'ATTACH_SOCKET_MISSING');
  } finally {
    if (before === undefined) delete process.env['BERTH_SEQPACKET_BRIDGE'];
    else process.env['BERTH_SEQPACKET_BRIDGE'] = before;
    server.close();
  }
});

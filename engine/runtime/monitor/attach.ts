/**
 * Client for conmon's attach socket: a SOCK_SEQPACKET unix socket, which Node cannot open by
 * itself; the native addon `node-unix-socket` (napi-rs, prebuilt on npm for linux-x64-gnu/musl
 * only) provides it, loaded lazily; elsewhere (the arm64 VM) a perl process bridges the socket
 * (seqpacket-bridge.ts).
 *
 * Wire protocol (conmon 2.1, observed):
 *  - conmon → client: one packet per chunk of container output; byte 0 is the pipe
 *    (2 = stdout, 3 = stderr; 1 would be stdin), the rest is the data. A tty's output is all 2.
 *    Only output produced while a client is connected is sent (the log file has the rest).
 *  - client → conmon: each packet's bytes go to the container's stdin as they are (no prefix).
 *    conmon reads a packet with a 32 KiB buffer and silently drops the rest of a longer one,
 *    so stdin is sent in packets of at most STDIN_PACKET_MAX bytes. An empty packet reads as
 *    EOF, so empty writes are never sent.
 *  - client shutdown(SHUT_WR) or close: conmon closes the container's stdin, unless conmon was
 *    started with --leave-stdin-open.
 *  - conmon closes the connection when the container exits.
 *
 * Addon quirks handled here: writing before the 'connect' event silently breaks the socket (it
 * never connects and never reads), so attach resolves only once connected; connect() throws
 * synchronously (code "Unknown", message from strerror) for a missing or refusing socket; paths
 * longer than sun_path (108 bytes) are refused, so long ones go through /proc/self/fd/<dirfd>/.
 * The addon has no read-side flow control (no pause): output is pushed into the Readables as it
 * arrives, whatever their highWaterMark.
 */
import { execFile } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { closeSync, constants as fsc, openSync } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import type * as NodeUnixSocket from 'node-unix-socket';
import { BerthError, conflict, notFound } from '../../common/errors.js';
import { BridgedSeqpacketSocket } from './seqpacket-bridge.js';

export const ATTACH_PIPE_STDIN = 1;
export const ATTACH_PIPE_STDOUT = 2;
export const ATTACH_PIPE_STDERR = 3;
/** Largest stdin packet we send (conmon 2.1.6 reads 32 KiB per packet; older ones less). */
export const STDIN_PACKET_MAX = 8192;
const SUN_PATH_MAX = 107;

export interface AttachSession {
  /**
   * Bytes written here reach the container's stdin (when conmon was started with stdin: true).
   * end() half-closes the connection, which makes conmon close the container's stdin. After the
   * session closed, writes are accepted and dropped (the container is gone); they never error.
   */
  stdin: Writable;
  /** Container stdout (everything, for a tty). Ends when the session closes. */
  stdout: Readable;
  /** Container stderr (nothing, for a tty). Ends when the session closes. */
  stderr: Readable;
  /**
   * Resolves when the connection is over: conmon closed it (the container exited), detach() was
   * called, or the socket failed (then with that error). Never rejects.
   */
  closed: Promise<{ error?: Error }>;
  /** Drops the connection. Without --leave-stdin-open conmon then closes the container's stdin. */
  detach(): void;
}

type SeqpacketModule = typeof NodeUnixSocket;
/** What attach needs of a SOCK_SEQPACKET socket: the addon's SeqpacketSocket, or the perl bridge. */
interface PacketSocket extends EventEmitter {
  connect(path: string): void;
  write(buf: Buffer, offset: number, length: number, cb?: () => void): void;
  end(cb?: () => void): void;
  destroy(): void;
}
let addon: Promise<SeqpacketModule> | undefined;

/**
 * A new unconnected socket: the addon's where it loads; where it has no binary for this platform
 * (linux-arm64), the perl bridge. BERTH_SEQPACKET_BRIDGE=1 picks the bridge (its tests on x64).
 */
async function newSocket(): Promise<{ sock: PacketSocket; bridged: boolean }> {
  if (process.env['BERTH_SEQPACKET_BRIDGE'] === '1') return { sock: new BridgedSeqpacketSocket(), bridged: true };
  addon ??= import('node-unix-socket');
  try {
    return { sock: new (await addon).SeqpacketSocket(), bridged: false };
  } catch (err) {
    if (await hasPerl()) return { sock: new BridgedSeqpacketSocket(), bridged: true };
    addon = undefined;
    throw new BerthError(
      'system',
      `attach needs the native module node-unix-socket (SOCK_SEQPACKET), which failed to load (${(err as Error).message}), or perl for its fallback`,
      { code: 'ATTACH_UNSUPPORTED', cause: err },
    );
  }
}

let perlFound: Promise<boolean> | undefined;
function hasPerl(): Promise<boolean> {
  perlFound ??= new Promise((resolve) => {
    execFile('perl', ['-e', 'use Socket; exit(SOCK_SEQPACKET ? 0 : 1)'], (err) => resolve(!err));
  });
  return perlFound;
}

function connectError(err: unknown, socketPath: string): BerthError {
  const msg = err instanceof Error ? err.message : String(err);
  if (/no such file/i.test(msg)) return notFound(`attach socket ${socketPath} does not exist`, 'ATTACH_SOCKET_MISSING');
  if (/refused/i.test(msg)) {
    return conflict(`attach socket ${socketPath} refused the connection (container monitor gone)`, 'ATTACH_REFUSED');
  }
  return new BerthError('system', `cannot connect to attach socket ${socketPath}: ${msg}`, { cause: err });
}

/** Connects to a conmon attach socket; resolves once connected. */
export async function connectAttach(socketPath: string, timeoutMs = 10_000): Promise<AttachSession> {
  const { sock, bridged } = await newSocket();
  let dirFd: number | undefined;
  const closeDirFd = (): void => {
    if (dirFd !== undefined) closeSync(dirFd);
    dirFd = undefined;
  };
  let target = socketPath;
  // (The bridge handles long paths itself: the directory fd would not reach its process.)
  if (!bridged && Buffer.byteLength(socketPath) > SUN_PATH_MAX) {
    try {
      dirFd = openSync(path.dirname(socketPath), fsc.O_RDONLY | fsc.O_DIRECTORY);
    } catch (err) {
      sock.destroy();
      throw connectError(err, socketPath);
    }
    target = `/proc/self/fd/${dirFd}/${path.basename(socketPath)}`;
  }
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new BerthError('unavailable', `timed out connecting to attach socket ${socketPath}`));
      }, timeoutMs);
      const onError = (e: Error): void => {
        cleanup();
        reject(e);
      };
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        sock.off('error', onError);
        sock.off('connect', onConnect);
      };
      sock.on('error', onError);
      sock.on('connect', onConnect);
      try {
        sock.connect(target);
      } catch (e) {
        cleanup();
        reject(e);
      }
    });
  } catch (err) {
    sock.destroy();
    throw err instanceof BerthError ? err : connectError(err, socketPath);
  } finally {
    closeDirFd();
  }
  return session(sock);
}

function session(sock: PacketSocket): AttachSession {
  let finished = false;
  let resolveClosed!: (v: { error?: Error }) => void;
  const closed = new Promise<{ error?: Error }>((r) => (resolveClosed = r));
  // Write callbacks the addon has not called yet: released when the socket goes away.
  const pendingWrites = new Set<() => void>();

  const stdout = new Readable({ read() {} });
  const stderr = new Readable({ read() {} });

  const finish = (error?: Error): void => {
    if (finished) return;
    finished = true;
    sock.destroy();
    for (const cb of [...pendingWrites]) cb();
    pendingWrites.clear();
    stdout.push(null);
    stderr.push(null);
    resolveClosed(error ? { error } : {});
  };

  const send = (buf: Buffer, cb: () => void): void => {
    let once = false;
    const done = (): void => {
      if (once) return;
      once = true;
      pendingWrites.delete(done);
      cb();
    };
    pendingWrites.add(done);
    try {
      sock.write(buf, 0, buf.length, done);
    } catch (err) {
      done();
      finish(err as Error);
    }
  };

  const stdin = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (finished || chunk.length === 0) {
        cb();
        return;
      }
      const pieces: Buffer[] = [];
      for (let off = 0; off < chunk.length; off += STDIN_PACKET_MAX) {
        pieces.push(chunk.subarray(off, Math.min(off + STDIN_PACKET_MAX, chunk.length)));
      }
      let left = pieces.length;
      for (const p of pieces) {
        send(p, () => {
          if (--left === 0) cb();
        });
      }
    },
    final(cb) {
      if (finished) {
        cb();
        return;
      }
      let called = false;
      const done = (): void => {
        if (called) return;
        called = true;
        pendingWrites.delete(done);
        cb();
      };
      pendingWrites.add(done);
      try {
        sock.end(done);
      } catch {
        done();
      }
    },
  });

  sock.on('data', (buf: Buffer) => {
    if (buf.length === 0) return;
    const pipe = buf[0];
    const data = buf.subarray(1);
    if (pipe === ATTACH_PIPE_STDOUT) stdout.push(data);
    else if (pipe === ATTACH_PIPE_STDERR) stderr.push(data);
    // Anything else (no other pipe is defined) is ignored.
  });
  sock.on('end', () => finish());
  sock.on('close', () => finish());
  sock.on('error', (err: Error) => finish(err));

  return { stdin, stdout, stderr, closed, detach: () => finish() };
}

import net from 'node:net';
import type { TlsOptions } from 'node:tls';
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { createLogger, type Logger } from '../common/log.js';
import { errorMessage } from '../common/errors.js';
import { createApiServer, type ApiServer } from '../api/server.js';
import { parseFlags, FlagError, USAGE, defaultLogFile, type DaemonConfig } from './flags.js';
import { RotatingLogFile } from '../common/log-file.js';
import { currentLaunch, writeLaunchRecords } from './launch-record.js';
import { lockDataRoot, DataRootLockedError } from './lock.js';
import { createEngine, ENGINE_VERSION } from './engine.js';
import { checkTcpHost, loadServerTls } from './tls.js';

const TCP_HOST = /^tcp:\/\/([^/]+):(\d+)$/;

/** Find a group's gid in /etc/group (Node has no getgrnam). */
function groupId(name: string): number | undefined {
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const [g, , gid] = line.split(':');
      if (g === name && gid !== undefined) return Number(gid);
    }
  } catch {
    // no /etc/group: no group to hand the socket to
  }
  return undefined;
}

/** Refuse to steal a socket another live daemon is serving; remove a stale one. */
async function clearStaleSocket(file: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(file);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`socket ${file} is in use by another daemon`);
  await fsp.rm(file, { force: true });
}

async function listen(server: ApiServer, host: string, cfg: DaemonConfig, log: Logger): Promise<() => Promise<void>> {
  if (host.startsWith('unix://')) {
    const file = host.slice('unix://'.length);
    await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    await clearStaleSocket(file);
    // Never world-writable: create it with a tight umask, then open it to the group.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(file, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(oldMask);
    }
    const gid = groupId(cfg.group);
    if (gid !== undefined) await fsp.chown(file, 0, gid).catch(() => undefined);
    await fsp.chmod(file, 0o660);
    log.info('API listening', { host, group: gid === undefined ? 'root' : cfg.group });
    return async () => {
      await fsp.rm(file, { force: true });
    };
  }
  const m = TCP_HOST.exec(host);
  if (!m) throw new FlagError(`unsupported host ${host}`);
  const bindHost = (m[1] as string).replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), bindHost, () => resolve());
  });
  log.info('API listening', { host, tls: cfg.tls.enabled, verifyClients: cfg.tls.verify });
  return async () => undefined;
}

/** The daemon's own log file (--log-file), readable by the socket's group; undefined when disabled. */
function openLogFile(cfg: DaemonConfig): RotatingLogFile | undefined {
  if (cfg.logFile === null) return undefined;
  const file = cfg.logFile ?? defaultLogFile(cfg.dataRoot);
  const gid = groupId(cfg.group);
  return new RotatingLogFile(file, {
    maxBytes: cfg.logFileMaxBytes,
    maxFiles: cfg.logFileMaxFiles,
    mode: 0o640,
    ...(gid !== undefined ? { gid } : {}),
    onError: (err) => process.stderr.write(`berthd: the log file ${file} cannot be written (${err.message}); logging to stderr only\n`),
  });
}

export async function main(argv: string[]): Promise<void> {
  let cfg: DaemonConfig;
  try {
    const parsed = parseFlags(argv);
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return;
    }
    if (parsed === 'version') {
      process.stdout.write(`Berth engine version ${ENGINE_VERSION}\n`);
      return;
    }
    cfg = parsed;
  } catch (err) {
    process.stderr.write(`berthd: ${errorMessage(err)}\n\n${USAGE}`);
    process.exitCode = 125;
    return;
  }
  // TCP hosts and TLS are settled before anything is touched (not even the log file): a refused
  // configuration leaves no trace.
  const early = createLogger(cfg.logLevel, {});
  let tls: TlsOptions | undefined;
  try {
    for (const host of cfg.hosts) {
      const m = TCP_HOST.exec(host);
      if (m) await checkTcpHost(host, (m[1] as string).replace(/^\[|\]$/g, ''), cfg.tls, early);
    }
    if (cfg.tls.enabled) tls = await loadServerTls(cfg.tls);
  } catch (err) {
    early.error(errorMessage(err));
    process.stderr.write(`berthd: ${errorMessage(err)}\n`);
    process.exitCode = 1;
    return;
  }
  await fsp.mkdir(cfg.dataRoot, { recursive: true, mode: 0o711 });
  await fsp.mkdir(cfg.execRoot, { recursive: true, mode: 0o700 });
  const logFile = openLogFile(cfg);
  const log = createLogger(cfg.logLevel, {}, (line) => {
    process.stderr.write(line);
    logFile?.write(line);
  });
  if (process.getuid?.() !== 0) log.warn('berthd is not running as root; most operations will fail');
  let lock;
  try {
    lock = await lockDataRoot(cfg.dataRoot);
  } catch (err) {
    if (err instanceof DataRootLockedError) {
      log.error(err.message);
      process.exitCode = 1;
      return;
    }
    throw err;
  }

  const engine = await createEngine(cfg, log);
  const servers: ApiServer[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  try {
    for (const host of cfg.hosts) {
      const server = createApiServer(
        engine.router,
        log.child({ subsystem: 'api' }),
        { version: ENGINE_VERSION, timeouts: cfg.apiTimeouts },
        TCP_HOST.test(host) ? tls : undefined,
      );
      cleanups.push(await listen(server, host, cfg, log));
      servers.push(server);
    }
  } catch (err) {
    log.error('cannot listen', { err: errorMessage(err) });
    for (const s of servers) s.close();
    for (const c of cleanups) await c();
    await lock.release();
    process.exitCode = 1;
    return;
  }
  if (cfg.pidfile) await fsp.writeFile(cfg.pidfile, `${process.pid}\n`);
  await writeLaunchRecords(
    currentLaunch({ version: ENGINE_VERSION, dataRoot: cfg.dataRoot, execRoot: cfg.execRoot, hosts: cfg.hosts, logFile: logFile?.file ?? null }),
  ).catch((err: unknown) => log.warn('could not write the launch record beside the socket', { err: errorMessage(err) }));
  engine.events.publish('daemon', 'start', '', {});
  log.info('berthd started', { version: ENGINE_VERSION, pid: process.pid, dataRoot: cfg.dataRoot, execRoot: cfg.execRoot });

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    // Stop accepting, let quick requests finish, then cut long streams (events, pulls).
    const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const s of servers) s.closeIdleConnections();
    const grace = setTimeout(() => {
      for (const s of servers) s.closeAllConnections();
    }, 2000);
    await Promise.all(closed);
    clearTimeout(grace);
    await engine.close();
    for (const c of cleanups) await c();
    if (cfg.pidfile) await fsp.rm(cfg.pidfile, { force: true }).catch(() => undefined);
    await lock.release();
    log.info('berthd stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () => log.info('SIGHUP received; configuration reload is not supported, ignoring'));
  // A bug in one request must not take the daemon (and everyone's containers' API) down. Whatever
  // lands here is a bug, a client's EPIPE included (a stream without an 'error' listener): it is
  // logged, and the test harness fails any test whose daemon logged one.
  process.on('uncaughtException', (err) => {
    log.error('uncaught exception', { err: errorMessage(err), code: (err as NodeJS.ErrnoException).code, stack: err.stack });
  });
  process.on('unhandledRejection', (err) => {
    log.error('unhandled rejection', { err: errorMessage(err), stack: (err as Error)?.stack });
  });
}

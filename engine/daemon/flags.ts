import os from 'node:os';
import path from 'node:path';
import { isLogLevel, type LogLevel } from '../common/log.js';
import { DEFAULT_API_TIMEOUTS, parseDuration, type ApiTimeouts } from '../api/timeouts.js';

export interface DaemonConfig {
  hosts: string[];
  dataRoot: string;
  execRoot: string;
  pidfile?: string;
  insecureRegistries: string[];
  logLevel: LogLevel;
  group: string;
  maxConcurrentDownloads: number;
  maxDownloadAttempts: number;
  maxConcurrentUploads: number;
  /** --push-chunk-size: blobs above this many bytes are pushed in PATCH chunks of this size. */
  pushChunkSize: number;
  /** --default-runtime: a runtime name (runc, crun or one of --add-runtime); undefined = detect. */
  defaultRuntime?: string;
  /** --add-runtime name=path */
  addRuntimes: Record<string, string>;
  /** --log-driver and --log-opt: the containers' default log config. */
  logDriver: string;
  logOpts: Record<string, string>;
  /** --bip: the default bridge's gateway and prefix ("172.30.0.1/16"); undefined = pick a free subnet. */
  bip?: string;
  /** --bridge none: no default bridge network. */
  noDefaultBridge: boolean;
  /** --init: containers run an init (docker-init) as PID 1 unless they say otherwise. */
  init: boolean;
  /** --init-path: the static init binary; undefined = look for docker-init, then Debian's tini-static. */
  initPath?: string;
  /** --api-header-timeout, --api-body-idle-timeout: how long a client may stall a request. */
  apiTimeouts: ApiTimeouts;
  /** TLS for tcp:// hosts (--tls, --tlsverify, --tlscacert, --tlscert, --tlskey), resolved as dockerd does. */
  tls: TlsFlags;
  /** --log-file: the daemon's own log; undefined = <data-root>/berthd.log, null = none (stderr only). */
  logFile?: string | null;
  /** --log-file-max-size / --log-file-max-files: rotation of that file. */
  logFileMaxBytes: number;
  logFileMaxFiles: number;
}

export interface TlsFlags {
  /** Serve tcp:// hosts over TLS. */
  enabled: boolean;
  /** --tls=false was given (and no --tlsverify, which would turn TLS on): plain TCP is wanted, knowingly. */
  explicitlyDisabled: boolean;
  /** Require client certificates signed by the CA (mutual TLS). */
  verify: boolean;
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** Where the daemon's log goes when --log-file is not given: beside the data it describes. */
export function defaultLogFile(dataRoot: string): string {
  return `${dataRoot.replace(/\/+$/, '')}/berthd.log`;
}

export const DEFAULT_HOST = 'unix:///run/berth/docker.sock';

export const USAGE = `Usage: berthd [OPTIONS]

A Docker-compatible container engine. Serves the Docker Engine API.

Options:
  -H, --host list                    Daemon socket(s) to listen on (default ${DEFAULT_HOST})
      --data-root string             Root directory of persistent state (default /var/lib/berth)
      --exec-root string             Root directory for execution state (default /run/berth)
  -p, --pidfile string               Path to write the daemon PID to
      --insecure-registry list       Registries reachable over plain HTTP (host[:port]); loopback always is
  -l, --log-level string             debug, info, warn, error or fatal (default info)
      --log-file string              The daemon's own log, besides stderr; "" for none (default <data-root>/berthd.log)
      --log-file-max-size bytes      Rotate the log file past this size, e.g. 10m (default 10m)
      --log-file-max-files int       Rotated log files kept (default 3)
  -D, --debug                        Same as --log-level debug
  -G, --group string                 Group owning the unix socket (default docker, if it exists)
      --max-concurrent-downloads int Layers downloaded at once per pull (default 4)
      --max-download-attempts int    Attempts per layer download (default 5)
      --max-concurrent-uploads int   Layers uploaded at once per push (default 5)
      --push-chunk-size bytes        Blobs above this size are pushed in chunks of it (default 33554432)
      --default-runtime string       OCI runtime for containers (default: runc, else crun, whichever works here)
      --add-runtime name=path        Register another OCI runtime (repeatable)
      --log-driver string            Default log driver for containers: json-file, local or k8s-file (default json-file)
      --log-opt key=value            Default log options, e.g. max-size=10m, max-file=3 (repeatable)
      --bip string                   Default bridge address and prefix, e.g. 172.30.0.1/16 (default: a free private subnet)
  -b, --bridge string                "none" disables the default bridge network
      --init                         Run an init in containers to forward signals and reap processes
      --init-path string             Path to the docker-init binary (default: docker-init, else tini-static, in PATH)
      --api-header-timeout duration  A request's head must arrive within this (default 60s)
      --api-body-idle-timeout duration
                                     A request body may pause this long, never longer (default 60s)
  -v, --version                      Print version and exit
      --tls                          Serve tcp:// hosts over TLS; implied by --tlsverify
      --tlsverify                    Serve tcp:// hosts over TLS and require client certificates signed by --tlscacert
      --tlscacert string             CA that client certificates must be signed by (default ~/.docker/ca.pem)
      --tlscert string               The server's certificate (default ~/.docker/cert.pem)
      --tlskey string                The server's private key (default ~/.docker/key.pem)
                                     (~/.docker is $DOCKER_CERT_PATH when set.) A tcp:// host that is not a
                                     loopback address is refused without TLS unless --tls=false is given.
  -h, --help                         Print this help and exit
`;

export class FlagError extends Error {}

/** Where dockerd looks for TLS files by default: $DOCKER_CERT_PATH, else ~/.docker. */
function defaultCertDir(env: NodeJS.ProcessEnv): string {
  return env['DOCKER_CERT_PATH'] || path.join(env['HOME'] || os.homedir(), '.docker');
}

/** "1048576", "512k", "10m", "1g" (powers of 1024, as Docker's log-opt max-size reads them). */
function byteSize(name: string, v: string): number {
  const m = /^(\d+)([kmg]?)b?$/i.exec(v.trim());
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m?.[2] ?? '').toLowerCase()];
  const n = m && unit !== undefined ? Number(m[1]) * unit : NaN;
  if (!Number.isSafeInteger(n) || n < 1024) throw new FlagError(`invalid value "${v}" for flag ${name}: a size of at least 1k, e.g. 10m`);
  return n;
}

/** Parse dockerd-compatible flags: `--flag value`, `--flag=value`, repeatable lists. */
export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): DaemonConfig | 'help' | 'version' {
  const certDir = defaultCertDir(env);
  let tlsFlag: boolean | undefined;
  let tlsVerifyFlag: boolean | undefined;
  const tlsFiles = { caFile: path.join(certDir, 'ca.pem'), certFile: path.join(certDir, 'cert.pem'), keyFile: path.join(certDir, 'key.pem') };
  const cfg: DaemonConfig = {
    hosts: [],
    dataRoot: '/var/lib/berth',
    execRoot: '/run/berth',
    insecureRegistries: [],
    logLevel: 'info',
    group: 'docker',
    maxConcurrentDownloads: 4,
    maxDownloadAttempts: 5,
    maxConcurrentUploads: 5,
    pushChunkSize: 32 * 1024 * 1024,
    addRuntimes: {},
    logDriver: 'json-file',
    logOpts: {},
    noDefaultBridge: false,
    init: false,
    apiTimeouts: { ...DEFAULT_API_TIMEOUTS },
    tls: { enabled: false, explicitlyDisabled: false, verify: false, caFile: '', certFile: '', keyFile: '' },
    logFileMaxBytes: 10 * 1024 * 1024,
    logFileMaxFiles: 3,
  };
  const keyValue = (name: string, v: string): [string, string] => {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new FlagError(`invalid value "${v}" for flag ${name}: expected key=value`);
    return [v.slice(0, eq), v.slice(eq + 1)];
  };
  const bool = (name: string, v: string | undefined): boolean => {
    if (v === undefined) return true;
    if (/^(1|t|true)$/i.test(v)) return true;
    if (/^(0|f|false)$/i.test(v)) return false;
    throw new FlagError(`invalid boolean value "${v}" for flag ${name}`);
  };
  const duration = (name: string, v: string): number => {
    const ms = parseDuration(v);
    if (ms === undefined || ms <= 0) throw new FlagError(`invalid value "${v}" for flag ${name}: expected a duration such as 30s, 1500ms or 2m`);
    return ms;
  };
  const positiveInt = (name: string, v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new FlagError(`invalid value "${v}" for flag ${name}: must be a positive integer`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    let name = arg;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      name = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    }
    const take = (): string => {
      if (value !== undefined) return value;
      const next = argv[++i];
      if (next === undefined) throw new FlagError(`flag needs an argument: ${name}`);
      return next;
    };
    switch (name) {
      case '-H':
      case '--host':
        cfg.hosts.push(take());
        break;
      case '--data-root':
      case '-g':
      case '--graph':
        cfg.dataRoot = take();
        break;
      case '--exec-root':
        cfg.execRoot = take();
        break;
      case '-p':
      case '--pidfile':
        cfg.pidfile = take();
        break;
      case '--insecure-registry':
        cfg.insecureRegistries.push(take());
        break;
      case '-l':
      case '--log-level': {
        const lvl = take();
        if (!isLogLevel(lvl)) throw new FlagError(`unknown log level: ${lvl}`);
        cfg.logLevel = lvl;
        break;
      }
      case '--log-file': {
        const v = take();
        cfg.logFile = v === '' || v === 'none' ? null : v;
        break;
      }
      case '--log-file-max-size':
        cfg.logFileMaxBytes = byteSize(name, take());
        break;
      case '--log-file-max-files': {
        const v = take();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new FlagError(`invalid value "${v}" for flag ${name}: must be a whole number`);
        cfg.logFileMaxFiles = n;
        break;
      }
      case '-D':
      case '--debug':
        cfg.logLevel = 'debug';
        break;
      case '-G':
      case '--group':
        cfg.group = take();
        break;
      case '--max-concurrent-downloads':
        cfg.maxConcurrentDownloads = positiveInt(name, take());
        break;
      case '--max-download-attempts':
        cfg.maxDownloadAttempts = positiveInt(name, take());
        break;
      case '--max-concurrent-uploads':
        cfg.maxConcurrentUploads = positiveInt(name, take());
        break;
      case '--push-chunk-size':
        cfg.pushChunkSize = positiveInt(name, take());
        break;
      case '--default-runtime':
        cfg.defaultRuntime = take();
        break;
      case '--add-runtime': {
        const [k, v] = keyValue(name, take());
        cfg.addRuntimes[k] = v;
        break;
      }
      case '--log-driver':
        cfg.logDriver = take();
        break;
      case '--log-opt': {
        const [k, v] = keyValue(name, take());
        cfg.logOpts[k] = v;
        break;
      }
      case '--bip': {
        const v = take();
        if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(v)) throw new FlagError(`invalid value "${v}" for flag --bip: expected an IPv4 address with a prefix length`);
        cfg.bip = v;
        break;
      }
      case '-b':
      case '--bridge': {
        const v = take();
        if (v !== 'none') throw new FlagError(`--bridge only takes "none" (berthd names its bridges itself)`);
        cfg.noDefaultBridge = true;
        break;
      }
      case '--init':
        if (value !== undefined && !/^(true|false|1|0)$/i.test(value)) throw new FlagError(`invalid value "${value}" for flag --init: expected true or false`);
        cfg.init = value === undefined || /^(true|1)$/i.test(value);
        break;
      case '--init-path': {
        const v = take();
        if (!v.startsWith('/')) throw new FlagError(`invalid value "${v}" for flag --init-path: must be an absolute path`);
        cfg.initPath = v;
        break;
      }
      case '--tls':
        tlsFlag = bool(name, value);
        break;
      case '--tlsverify':
        tlsVerifyFlag = bool(name, value);
        break;
      case '--tlscacert':
        tlsFiles.caFile = take();
        break;
      case '--tlscert':
        tlsFiles.certFile = take();
        break;
      case '--tlskey':
        tlsFiles.keyFile = take();
        break;
      case '--api-header-timeout':
        cfg.apiTimeouts.headerMs = duration(name, take());
        break;
      case '--api-body-idle-timeout':
        cfg.apiTimeouts.bodyIdleMs = duration(name, take());
        break;
      case '-h':
      case '--help':
        return 'help';
      case '-v':
      case '--version':
        return 'version';
      default:
        throw new FlagError(`unknown flag: ${arg}`);
    }
  }
  // dockerd's rules: --tlsverify (even =false) means TLS; TLS without an explicit --tlsverify verifies clients.
  const enabled = tlsVerifyFlag !== undefined || tlsFlag === true;
  cfg.tls = {
    enabled,
    explicitlyDisabled: tlsFlag === false && tlsVerifyFlag === undefined,
    verify: enabled && tlsVerifyFlag !== false,
    ...tlsFiles,
  };
  if (cfg.hosts.length === 0) cfg.hosts.push(DEFAULT_HOST);
  for (const h of cfg.hosts) {
    if (!/^(unix:\/\/\/.+|tcp:\/\/[^/]+:\d+|fd:\/\/.*)$/.test(h)) {
      throw new FlagError(`invalid host "${h}": use unix:///path/to.sock or tcp://host:port`);
    }
  }
  return cfg;
}

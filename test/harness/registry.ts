// A real OCI distribution registry (Debian's docker-registry, distribution v2.8)
// on a free loopback port with filesystem storage in a temp dir.
import { request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  freePort,
  makeTempDir,
  removeDir,
  requireTool,
  runOk,
  sleep,
  spawnTracked,
  stopChild,
  tailFile,
  trackDir,
  untrackDir,
} from './util.js';

export interface TestRegistry {
  /** "127.0.0.1:PORT" */
  host: string;
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** The registry's storage root (filesystem driver rootdirectory): docker/registry/v2/{blobs,repositories} live here. */
  dataDir: string;
  /** Registry stdout+stderr. */
  logFile: string;
  stop(): Promise<void>;
}

export type RegistryAuth =
  | { kind: 'htpasswd'; username: string; password: string }
  | { kind: 'token'; realm: string; service: string; issuer: string; rootCertBundle: string /* PEM file path */ };

/** YAML accepts JSON strings as double-quoted scalars, which spares us any escaping worries. */
const q = (s: string): string => JSON.stringify(s);

async function authSection(auth: RegistryAuth | undefined, baseDir: string): Promise<string> {
  if (!auth) return '';
  if (auth.kind === 'htpasswd') {
    // distribution only accepts bcrypt entries.
    const line = await runOk(requireTool('htpasswd'), ['-Bbn', auth.username, auth.password]);
    const file = join(baseDir, 'htpasswd');
    await writeFile(file, line.toString().trim() + '\n');
    return ['auth:', '  htpasswd:', `    realm: ${q('berth-test-registry')}`, `    path: ${q(file)}`, ''].join('\n');
  }
  return [
    'auth:',
    '  token:',
    `    realm: ${q(auth.realm)}`,
    `    service: ${q(auth.service)}`,
    `    issuer: ${q(auth.issuer)}`,
    `    rootcertbundle: ${q(auth.rootCertBundle)}`,
    '',
  ].join('\n');
}

function probe(url: string): Promise<number | null> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? null);
    });
    req.on('error', () => resolve(null));
    req.on('timeout', () => {
      req.destroy();
      resolve(null);
    });
    req.end();
  });
}

/** Environment for the registry without any REGISTRY_* overrides leaking in from the caller. */
function registryEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  return env;
}

export async function startRegistry(opts: { auth?: RegistryAuth } = {}): Promise<TestRegistry> {
  const bin = requireTool('docker-registry');
  let lastError: Error | undefined;
  // A port picked by binding :0 can in rare cases be taken before the registry binds it: retry.
  for (let attempt = 0; attempt < 3; attempt++) {
    const baseDir = await makeTempDir('berth-registry-');
    trackDir(baseDir);
    try {
      return await startOnce(bin, baseDir, opts.auth);
    } catch (e) {
      lastError = e as Error;
      untrackDir(baseDir);
      await removeDir(baseDir);
      if (!/address already in use/i.test(lastError.message)) throw lastError;
    }
  }
  throw lastError ?? new Error('registry did not start');
}

async function startOnce(bin: string, baseDir: string, auth: RegistryAuth | undefined): Promise<TestRegistry> {
  const dataDir = join(baseDir, 'storage');
  await mkdir(dataDir, { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const config = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(dataDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    '  redirect:',
    '    disable: true',
    'http:',
    `  addr: ${q(host)}`,
    `  secret: ${q(randomBytes(16).toString('hex'))}`,
    '  headers:',
    '    X-Content-Type-Options: [nosniff]',
    'health:',
    '  storagedriver:',
    '    enabled: false',
    await authSection(auth, baseDir),
  ].join('\n');
  const configFile = join(baseDir, 'config.yml');
  await writeFile(configFile, config);
  const logFile = join(baseDir, 'registry.log');
  const log = createWriteStream(logFile);
  await new Promise<void>((r) => log.once('open', () => r()));

  const child = spawnTracked(bin, ['serve', configFile], { env: registryEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });

  const fail = async (why: string): Promise<never> => {
    await stopChild(child, 'SIGKILL');
    log.end();
    throw new Error(`docker-registry ${why}; log tail:\n${await tailFile(logFile)}`);
  };

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) await fail(`exited with ${child.exitCode ?? child.signalCode} before answering`);
    const status = await probe(`${url}/v2/`);
    if (status === 200 || status === 401) break;
    if (Date.now() > deadline) await fail('did not answer GET /v2/ within 15 s');
    await sleep(30);
  }

  let stopped = false;
  return {
    host,
    url,
    dataDir,
    logFile,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopChild(child, 'SIGTERM', 5000);
      await new Promise<void>((r) => log.end(() => r()));
      untrackDir(baseDir);
      await removeDir(baseDir);
    },
  };
}

// docker-py's own integration suite (test/conformance/docker-py, vendored unchanged) against a
// fresh berthd: the SDK tools use go deeper into the API than the docker CLI does. dockerd 20.10
// passes 242 of this selection; berthd must pass at least DOCKER_PY_FLOOR. The failures are listed
// in the output either way, with the path of the full pytest log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from './harness/daemon.js';
import { dockerCliPath, dockerConfigDir } from './harness/docker.js';
import { debPackageRoot } from './harness/images.js';
import { containerSkip } from './harness/containers.js';
import { cacheDir, repoRoot, run } from './harness/util.js';

/** Passing tests required of the 247 that can run here (two fail in the client itself, whatever the engine). */
const DOCKER_PY_FLOOR = 245;

const PYTHON_PKGS = ['python3-pytest', 'python3-pytest-timeout', 'python3-requests', 'python3-websocket', 'python3-packaging', 'python3-paramiko'];
const missingPkgs = PYTHON_PKGS.filter(
  (p) => !/install ok installed/.test(spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout ?? ''),
);
const skip = containerSkip || (missingPkgs.length > 0 && `needs ${missingPkgs.join(' ')} (build/setup.sh --with-tests)`);

let daemon: TestDaemon;

before(async () => {
  if (skip) return;
  daemon = await startDaemon();
  // The runner makes its base image from Debian's busybox: the harness's copy saves a download.
  await debPackageRoot('busybox');
});

after(async () => {
  if (!skip) await daemon?.cleanup();
});

test(`docker-py's integration suite passes at least ${DOCKER_PY_FLOOR} tests against berthd`, { skip }, async (t) => {
  // Kept after the run (the cache dir is gitignored), for reading the tracebacks.
  await mkdir(cacheDir('docker-py'), { recursive: true });
  const log = path.join(cacheDir('docker-py'), 'pytest.log');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DOCKER_')) env[k] = v;
  Object.assign(env, {
    DOCKER_HOST: daemon.dockerHost,
    DOCKER_CONFIG: dockerConfigDir(daemon),
    DOCKER_CLI: dockerCliPath(),
    DPY_LOG: log,
  });
  const r = await run('bash', [path.join(repoRoot(), 'test/conformance/docker-py/run.sh')], { env, timeoutMs: 40 * 60_000 });
  const out = r.stdout.toString();
  const summary = /docker-py: (\d+) passed, (\d+) failed/.exec(out);
  assert.ok(summary, `the runner gave no summary (exit ${r.code}):\n${out}\n${r.stderr.toString()}`);
  const [passed, failed] = [Number(summary[1]), Number(summary[2])];
  const failures = out.split('\n').filter((l) => /^(FAILED|ERROR) /.test(l));
  t.diagnostic(`docker-py: ${passed} passed, ${failed} failed (floor ${DOCKER_PY_FLOOR}); full log: ${log}`);
  for (const f of failures) t.diagnostic(f);
  assert.ok(passed >= DOCKER_PY_FLOOR, `docker-py: ${passed} passed, below the floor of ${DOCKER_PY_FLOOR}. Failures:\n${failures.join('\n')}\nFull log: ${log}`);
});

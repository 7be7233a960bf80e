/**
 * The supervisor process (started detached by control.ts): serves the control socket, boots the
 * VM, and exits when the VM is stopped or qemu goes away. Its output is the supervisor log.
 */
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import { berthHome, ensurePrivateDir, isPipe } from '../../client/home.js';
import { removeStaleSocket } from '../../client/ssh/index.js';
import type { VmStatus } from '../../types/desktop-api.js';
import { VmSupervisor, vmPaths } from './supervisor.js';

const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
};

async function main(): Promise<void> {
  const home = berthHome();
  await ensurePrivateDir(home.runDir);
  await ensurePrivateDir(home.vmDir);
  // One supervisor per VM: a live control socket means another one has it.
  try {
    await removeStaleSocket(home.vmControl);
  } catch (err) {
    log(`not starting: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  const vm = new VmSupervisor({ home, log });
  let exiting = false;
  const watchers = new Set<net.Socket>();
  const send = (sock: net.Socket, s: VmStatus): void => {
    if (!sock.destroyed) sock.write(`${JSON.stringify(s)}\n`);
  };
  vm.on('status', (s: VmStatus) => {
    for (const w of watchers) send(w, s);
  });

  const shutdown = async (): Promise<void> => {
    if (exiting) return;
    exiting = true;
    await vm.stop().catch((err: unknown) => log(`stop: ${String(err)}`));
    for (const w of watchers) w.end();
    server.close();
    if (!isPipe(home.vmControl)) await fsp.rm(home.vmControl, { force: true });
    await fsp.rm(vmPaths(home).supervisorPid, { force: true });
    log('supervisor exiting');
    setTimeout(() => process.exit(0), 50).unref();
  };

  const server = net.createServer((sock) => {
    sock.setEncoding('utf8');
    sock.on('error', () => sock.destroy());
    let buf = '';
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let op = '';
      try {
        op = String((JSON.parse(buf.slice(0, nl)) as { op?: unknown }).op ?? '');
      } catch {
        // answered below as an unknown op
      }
      buf = '';
      if (op === 'status') {
        send(sock, vm.state);
        sock.end();
      } else if (op === 'watch') {
        watchers.add(sock);
        sock.once('close', () => watchers.delete(sock));
        send(sock, vm.state);
        if (exiting && vm.state.state === 'stopped') sock.end();
      } else if (op === 'stop') {
        watchers.add(sock);
        sock.once('close', () => watchers.delete(sock));
        void shutdown();
      } else {
        sock.end(`${JSON.stringify({ error: `unknown op "${op}"` })}\n`);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(home.vmControl, () => resolve());
  });
  if (!isPipe(home.vmControl)) await fsp.chmod(home.vmControl, 0o600);
  await fsp.writeFile(vmPaths(home).supervisorPid, `${process.pid}\n`);
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  process.on('SIGHUP', () => undefined);
  // The supervisor holds the VM: a stray rejection somewhere is logged, never fatal.
  process.on('unhandledRejection', (err) => log(`unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));

  try {
    await vm.start();
  } catch {
    // The failure is in the status; let watchers read it, then go.
    await shutdown();
    return;
  }
  // qemu going away on its own (guest poweroff from inside, crash) ends the supervisor too.
  void vm.exited().then((code) => {
    if (exiting) return;
    log(`qemu exited (${code ?? 'signal'}) on its own`);
    void fsp.writeFile(`${home.vmDir}/last-error`, `the VM stopped on its own (qemu exit ${code ?? 'signal'})\n`).catch(() => undefined);
    void shutdown();
  });
}

main().catch((err: unknown) => {
  log(`supervisor failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});

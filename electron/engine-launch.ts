/**
 * At launch: gathers the facts engine-setup.ts decides on (the active engine, its socket, the VM,
 * QEMU, the service, pkexec), then does what it planned: starts the VM, or asks before starting the
 * host engine through pkexec, or says in a dialog what is missing and how to get it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { dialog, shell } from 'electron';
import type { BrowserWindow, MessageBoxOptions } from 'electron';
import { parseHost } from '../client/index.js';
import { VM_ENGINE_ID } from '../client/contexts/index.js';
import type { BridgeHost } from '../desktop/bridge/index.js';
import { guestArch } from '../vm/host/image.js';
import { qemuBinary } from '../vm/host/qemu.js';
import { SERVICE_PATHS, planEngine, privilegedCommand, probeSocket, qemuAdvice, qemuCandidates } from './engine-setup.js';
import type { EngineFacts, EnginePlan } from './engine-setup.js';

async function gatherFacts(host: BridgeHost): Promise<EngineFacts> {
  const list = await host.call('engine.list', {});
  const active = list.engines.find((e) => e.id === list.active);
  const vm = await host.call('vm.status', {}).catch(() => undefined);
  const qemu = qemuCandidates(qemuBinary(guestArch(), process.platform), process.platform, process.env).find((p) => existsSync(p));
  let localSocket: EngineFacts['localSocket'];
  if (active?.kind === 'local' && process.platform === 'linux') {
    try {
      const ep = parseHost(active.host);
      if (ep.protocol === 'unix') localSocket = { path: ep.socketPath, probe: await probeSocket(ep.socketPath) };
    } catch {
      // a bad address: the status screens say so
    }
  }
  return {
    platform: process.platform,
    activeKind: active?.kind ?? 'local',
    ...(localSocket ? { localSocket } : {}),
    serviceInstalled: SERVICE_PATHS.some((p) => existsSync(p)),
    canElevate: process.platform === 'linux' && ['/usr/bin/pkexec', '/bin/pkexec'].some((p) => existsSync(p)),
    qemu,
    // Without a status (the VM's control failed) the start itself reports what is wrong, on the Dashboard.
    vmImage: vm ? vm.image !== undefined : true,
    vmUp: vm?.state === 'running' || vm?.state === 'starting',
  };
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', (err) => resolve({ code: -1, output: err.message }));
    child.once('close', (code) => resolve({ code, output: output.trim() }));
  });
}

export interface EngineLaunchOptions {
  host: BridgeHost;
  window(): BrowserWindow | undefined;
}

async function ask(win: BrowserWindow | undefined, options: MessageBoxOptions): Promise<number> {
  const r = win ? await dialog.showMessageBox(win, options) : await dialog.showMessageBox(options);
  return r.response;
}

/** Runs at launch (and again after Retry) until the plan needs nothing more from the user. */
export async function ensureEngine(opts: EngineLaunchOptions): Promise<void> {
  for (;;) {
    const plan: EnginePlan = planEngine(await gatherFacts(opts.host));
    const win = opts.window();
    switch (plan.action) {
      case 'none':
        return;
      case 'start-vm':
        // Opened from the Finder, the app does not have the shell's PATH: tell the launcher where QEMU is.
        process.env['BERTH_QEMU'] = plan.qemu;
        void opts.host.call('vm.start', {}).catch(() => undefined); // progress shows on the Dashboard
        return;
      case 'need-qemu': {
        const advice = qemuAdvice(process.platform);
        const choice = await ask(win, { type: 'warning', message: 'QEMU is needed to run the Berth VM', detail: advice.detail, buttons: ['Retry', 'Open qemu.org', 'Later'], defaultId: 0, cancelId: 2 });
        if (choice === 1) void shell.openExternal(advice.url);
        if (choice !== 0) return;
        continue;
      }
      case 'need-vm-image':
        await ask(win, {
          type: 'warning',
          message: 'The Berth VM image is missing',
          detail: 'This copy of Berth Desktop has no guest image (the installers bundle it). Reinstall Berth Desktop, or build the image on Linux: sudo bash vm/build.sh.',
          buttons: ['OK'],
        });
        return;
      case 'offer-service': {
        const user = os.userInfo().username;
        const detail = plan.start
          ? `Berth Desktop uses the Berth engine (berthd) on this computer, and it is not running. Start it now and at every boot, and let ${user} use it? You will be asked for your password.`
          : `The Berth engine is running, but ${user} may not use its socket (${plan.socket}). Let ${user} use it? You will be asked for your password.`;
        const choice = await ask(win, { type: 'question', message: plan.start ? 'Start the Berth engine?' : 'Use the Berth engine?', detail, buttons: [plan.start ? 'Start the engine' : 'Allow', 'Not now'], defaultId: 0, cancelId: 1 });
        if (choice !== 0) return;
        const { cmd, args } = privilegedCommand(plan, user);
        const r = await run(cmd, args);
        // 126: the password dialog was dismissed; 127: not authorized.
        if (r.code === 126 || r.code === 127) return;
        if (r.code !== 0) {
          await ask(win, { type: 'error', message: 'The engine could not be started', detail: `${cmd} exited with ${r.code}.\n\n${r.output}\n\nsystemctl status berthd and journalctl -u berthd say more.`, buttons: ['OK'] });
          return;
        }
        // The bridge host's events stream reconnects by itself and the app turns green.
        void opts.host.call('engine.status', {}).catch(() => undefined);
        return;
      }
      case 'explain-denied':
        await ask(win, {
          type: 'warning',
          message: 'You may not use the Berth engine',
          detail: `The engine's socket (${plan.socket}) refuses your account. Add yourself to its group (sudo usermod -aG docker $USER) and log in again.`,
          buttons: ['OK'],
        });
        return;
      case 'explain-no-engine': {
        const buttons = [...(plan.vmPossible ? ['Use the Berth VM'] : []), 'Later'];
        const choice = await ask(win, {
          type: 'info',
          message: 'No Berth engine on this computer',
          detail:
            'Berth Desktop needs the Berth engine (berthd). The .deb package installs it as a service (berthd.service); from a source checkout, sudo bash build/start.sh runs it. ' +
            (plan.vmPossible ? 'Or run it in the Berth VM, isolated from this machine.' : 'You can also add a remote engine in Settings → Engines.'),
          buttons,
          defaultId: 0,
          cancelId: buttons.length - 1,
        });
        if (buttons[choice] !== 'Use the Berth VM') return;
        await opts.host.call('engine.use', { id: VM_ENGINE_ID });
        continue;
      }
    }
  }
}

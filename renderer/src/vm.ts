/**
 * The Berth VM as the renderer sees it: one "vm" stream shared by every view that shows the VM
 * (open while at least one is mounted, re-opened after a drop), the stage names in words, and
 * the start/stop/configure calls folding their answers into the same status.
 */
import { useSyncExternalStore } from 'react';
import type { VmSettings, VmStage, VmStatus } from '../../types/desktop-api';
import { bridge } from './bridge';

/** What the boot is doing once the guest (or the host's checks) reached each stage. */
export const STAGE_WORDS: Record<VmStage, string> = {
  qemu: 'Starting the virtual machine',
  initramfs: 'Booting the kernel',
  rootfs: 'Mounting the system image',
  'data-disk': 'Mounting the data disk',
  network: 'Bringing up the network',
  hostkey: 'Reading the SSH host key',
  sshd: 'Starting the SSH server',
  berthd: 'Starting the engine',
  ready: 'Waiting for the engine',
  ssh: 'Connecting over SSH',
  engine: 'Checking the engine',
};

export interface VmView {
  status: VmStatus | undefined;
  /** Why the stream is down (it is re-opened meanwhile). */
  error: string | undefined;
}

let view: VmView = { status: undefined, error: undefined };
const listeners = new Set<() => void>();
let handle: { close(): void } | undefined;
let retry: ReturnType<typeof setTimeout> | undefined;

function publish(next: Partial<VmView>): void {
  view = { ...view, ...next };
  for (const l of listeners) l();
}

function open(delay: number): void {
  handle = bridge().open('vm', {}, {
    data: (s) => publish({ status: s, error: undefined }),
    end: (err) => {
      handle = undefined;
      if (listeners.size === 0) return;
      if (err) publish({ error: `The VM's status is not available: ${err.message}` });
      retry = setTimeout(() => open(Math.min(delay * 2, 5000)), delay);
    },
  });
}

function subscribe(l: () => void): () => void {
  listeners.add(l);
  if (listeners.size === 1 && !handle && !retry) open(250);
  return () => {
    listeners.delete(l);
    if (listeners.size > 0) return;
    clearTimeout(retry);
    retry = undefined;
    const h = handle;
    handle = undefined;
    h?.close();
  };
}

/** The VM's latest status from the "vm" stream (undefined until the first message). */
export function useVm(): VmView {
  return useSyncExternalStore(subscribe, () => view);
}

/**
 * Starts the VM. The answer is the boot's first status; the stream may already have newer ones,
 * so it only replaces a status that says the VM is down.
 */
export async function startVm(): Promise<VmStatus> {
  const s = await bridge().invoke('vm.start', {});
  const cur = view.status?.state;
  if (cur === undefined || cur === 'stopped' || cur === 'absent') publish({ status: s });
  return s;
}

/** Stops the VM; resolves once it is down. */
export async function stopVm(): Promise<VmStatus> {
  const s = await bridge().invoke('vm.stop', {});
  publish({ status: s });
  return s;
}

/** Saves a settings patch (applies at the next start); throws the host's refusal as is. */
export async function configureVm(patch: Partial<VmSettings>): Promise<VmStatus> {
  const s = await bridge().invoke('vm.configure', patch);
  publish({ status: view.status ? { ...view.status, settings: s.settings } : s });
  return s;
}

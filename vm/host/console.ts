/**
 * Boot progress from the guest's serial console. The guest's init writes one line per stage
 * (`BERTH-BOOT <stage> [detail]`, see vm/README.md); qemu writes the console to a file, which this
 * follows from the start. The host key line is how the host learns the guest's SSH key over a
 * channel nobody else can write to, before it connects.
 */
import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';
import type { VmStage } from '../../types/desktop-api.js';

/** The guest's stages with the share of a typical boot done when each is reached. */
export const BOOT_STAGES: readonly [VmStage, number][] = [
  ['qemu', 0.02],
  ['initramfs', 0.1],
  ['rootfs', 0.2],
  ['data-disk', 0.35],
  ['network', 0.4],
  ['berthd', 0.45],
  ['hostkey', 0.5],
  ['sshd', 0.55],
  ['ready', 0.85],
  ['ssh', 0.93],
  ['engine', 1],
];

export function stageProgress(stage: VmStage): number {
  return BOOT_STAGES.find(([s]) => s === stage)?.[1] ?? 0;
}

export type ConsoleMarker = { stage: VmStage; detail: string } | { error: string };

const GUEST_STAGES = new Set<string>(['initramfs', 'rootfs', 'data-disk', 'network', 'hostkey', 'sshd', 'berthd', 'ready']);

/** Parses one console line; undefined for anything that is not a marker. */
export function parseMarker(line: string): ConsoleMarker | undefined {
  const m = /BERTH-BOOT (\S+)(?: (.*))?$/.exec(line.replace(/\r$/, ''));
  if (!m) return undefined;
  const [, word, rest = ''] = m;
  if (word === 'error') return { error: rest.trim() || 'the guest failed to boot' };
  if (!word || !GUEST_STAGES.has(word)) return undefined;
  return { stage: word as VmStage, detail: rest.trim() };
}

/** Follows a console log file, emitting 'marker' (ConsoleMarker) and 'line' (string). */
export class ConsoleFollower extends EventEmitter {
  private offset = 0;
  private partial = '';
  private timer: NodeJS.Timeout | undefined;
  private reading = false;

  constructor(
    readonly file: string,
    private readonly intervalMs = 50,
  ) {
    super();
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async poll(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const fh = await fsp.open(this.file, 'r').catch(() => undefined);
      if (!fh) return;
      try {
        const buf = Buffer.alloc(64 * 1024);
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
          if (bytesRead === 0) break;
          this.offset += bytesRead;
          this.partial += buf.subarray(0, bytesRead).toString('utf8');
          let nl: number;
          while ((nl = this.partial.indexOf('\n')) >= 0) {
            const line = this.partial.slice(0, nl);
            this.partial = this.partial.slice(nl + 1);
            this.emit('line', line);
            const marker = parseMarker(line);
            if (marker) this.emit('marker', marker);
          }
        }
      } finally {
        await fh.close();
      }
    } finally {
      this.reading = false;
    }
  }
}

/** Docker's JSONMessage, as streamed by pull, push, load and build. */
export interface ProgressMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  stream?: string;
  aux?: unknown;
  error?: string;
  errorDetail?: { code?: number; message: string };
}

export type ProgressSink = (m: ProgressMessage) => void;

const BAR_WIDTH = 50;

/** Human size with decimal units, as Docker's go-units HumanSize prints it. */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/** The text bar dockerd puts in `progress`, for clients that print it verbatim. */
export function progressBar(current: number, total: number): string {
  if (total <= 0) return `${humanSize(current)}`;
  const ratio = Math.min(1, current / total);
  const filled = Math.floor(ratio * BAR_WIDTH);
  const bar = filled >= BAR_WIDTH ? '='.repeat(BAR_WIDTH) : `${'='.repeat(filled)}>${' '.repeat(BAR_WIDTH - filled - 1)}`;
  return `[${bar}] ${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

/**
 * Emits "Downloading"/"Extracting" updates for one layer at most every
 * `intervalMs`, always including the final one, so a 1 GB layer does not turn
 * into a million JSON lines.
 */
export class ThrottledProgress {
  private last = 0;
  constructor(
    private readonly sink: ProgressSink,
    private readonly id: string,
    private readonly status: string,
    private readonly total: number,
    private readonly intervalMs = 100,
  ) {}

  update(current: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < this.intervalMs) return;
    this.last = now;
    this.sink({
      status: this.status,
      progressDetail: { current, total: this.total },
      progress: progressBar(current, this.total),
      id: this.id,
    });
  }
}

/**
 * Rendering of JSONMessage progress streams (pull, load), as docker shows them.
 *
 * TTY: one line per layer id, redrawn in place with ANSI cursor movement
 *   ("a3ed95caeb02: Downloading [=====>      ]  12.35MB/45.6MB"); a message
 *   without a layer id ("Digest: ...", "Status: ...") is printed below and
 *   starts a new block.
 * Not a TTY: no bars and no cursor movement: one line each time a layer's
 *   status changes (bar updates such as "Downloading 1MB/2MB" are skipped, as
 *   docker does), plus every other message.
 *
 * The renderer is a pure function of the message sequence (and the options):
 * `push()` returns the text to write, `renderProgress()` folds a whole
 * sequence. Error messages render nothing: the caller reports them.
 */
import type { ProgressDetail, ProgressMessage } from '../types/engine-api.js';
import { humanSize } from './format.js';

export interface ProgressOptions {
  /** Output is a terminal: draw bars and move the cursor. */
  tty: boolean;
  /** Terminal width; bars are drawn only when wider than 110 columns (default 200 when unknown). */
  columns?: number;
}

const ESC = '\x1b[';
const CLEAR_LINE = `${ESC}2K`;
const BAR_WIDTH = 50;
const LAYER_ID = /^[0-9a-f]{12,64}$/;

/** The "[=====>     ]  12.35MB/45.6MB" part of a line, from progressDetail. */
export function formatProgressBar(detail: ProgressDetail | undefined, columns = 200): string {
  if (!detail) return '';
  const current = detail.current ?? 0;
  const total = detail.total ?? 0;
  if (current <= 0 && total <= 0) return '';
  const unit = (n: number): string => (detail.units ? `${n} ${detail.units}` : humanSize(n));
  if (total <= 0) return unit(current).padStart(8);
  let bar = '';
  if (columns > 110) {
    const filled = Math.min(BAR_WIDTH, Math.floor((current / total) * BAR_WIDTH));
    bar =
      filled >= BAR_WIDTH
        ? `[${'='.repeat(BAR_WIDTH)}] `
        : `[${'='.repeat(filled)}>${' '.repeat(BAR_WIDTH - filled - 1)}] `;
  }
  if (detail.hidecounts) return bar.trimEnd();
  const numbers = current > total ? unit(current).padStart(8) : `${unit(current).padStart(8)}/${unit(total)}`;
  return bar + numbers;
}

/** A message about one layer, drawn on its own line (as opposed to a tag or a summary line). */
export function isLayerMessage(msg: ProgressMessage): boolean {
  if (!msg.id || msg.stream !== undefined || msg.error || msg.errorDetail) return false;
  return msg.progressDetail !== undefined || msg.progress !== undefined || LAYER_ID.test(msg.id);
}

function statusLine(msg: ProgressMessage, bar: string): string {
  const prefix = msg.id ? `${msg.id}: ` : '';
  const status = msg.status ?? '';
  return `${prefix}${status}${bar ? ` ${bar}` : ''}`;
}

export class ProgressRenderer {
  private readonly tty: boolean;
  private readonly columns: number | undefined;
  /** TTY: line index of each layer in the current block (the cursor sits just below the block). */
  private lines = new Map<string, number>();
  /** Non-TTY: last status printed for each layer. */
  private lastStatus = new Map<string, string>();

  constructor(opts: ProgressOptions) {
    this.tty = opts.tty;
    this.columns = opts.columns;
  }

  /** Text to write for one message. */
  push(msg: ProgressMessage): string {
    if (msg.error || msg.errorDetail) return '';
    if (msg.aux !== undefined && msg.status === undefined && msg.stream === undefined) return '';
    if (msg.stream !== undefined) {
      this.lines.clear();
      this.lastStatus.clear();
      return msg.stream;
    }
    if (isLayerMessage(msg)) return this.tty ? this.layerTty(msg) : this.layerPlain(msg);
    // A line that isn't a layer's ends the current block, like docker.
    this.lines.clear();
    this.lastStatus.clear();
    if (msg.status === undefined && msg.id === undefined) return '';
    const bar = this.tty ? formatProgressBar(msg.progressDetail, this.columns ?? 200) || (msg.progress ?? '') : '';
    return `${this.fit(statusLine(msg, bar))}\n`;
  }

  /** Text to write when the stream ends (nothing: the cursor is already below the block). */
  finish(): string {
    this.lines.clear();
    this.lastStatus.clear();
    return '';
  }

  private fit(line: string): string {
    if (!this.tty || !this.columns || this.columns < 2) return line;
    const chars = [...line];
    return chars.length < this.columns ? line : chars.slice(0, this.columns - 1).join('');
  }

  private layerTty(msg: ProgressMessage): string {
    const id = msg.id as string;
    const bar = formatProgressBar(msg.progressDetail, this.columns ?? 200) || (msg.progress ?? '');
    const text = this.fit(statusLine(msg, bar));
    const index = this.lines.get(id);
    if (index === undefined) {
      this.lines.set(id, this.lines.size);
      return `${CLEAR_LINE}${text}\n`;
    }
    const up = this.lines.size - index;
    return `${ESC}${up}A\r${CLEAR_LINE}${text}\r${ESC}${up}B`;
  }

  private layerPlain(msg: ProgressMessage): string {
    const id = msg.id as string;
    const status = msg.status ?? '';
    // Bar updates ("Downloading", "Extracting" with byte counts) are not
    // status changes worth a line: docker leaves them out of non-TTY output too.
    if (formatProgressBar(msg.progressDetail) !== '') return '';
    if (this.lastStatus.get(id) === status) return '';
    this.lastStatus.set(id, status);
    return `${statusLine(msg, '')}\n`;
  }
}

/** Render a whole message sequence: the concatenation of what the renderer writes. */
export function renderProgress(messages: Iterable<ProgressMessage>, opts: ProgressOptions): string {
  const r = new ProgressRenderer(opts);
  let out = '';
  for (const m of messages) out += r.push(m);
  return out + r.finish();
}

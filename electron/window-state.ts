/**
 * The window's size, position and maximized state, kept across runs in a small JSON file in the
 * app's user data directory. A missing or damaged file, or a saved position that is no longer on
 * any display, falls back to a centred default window.
 */
import { promises as fsp } from 'node:fs';
import { writeFileAtomic } from '../client/home.js';

export interface WindowState {
  x?: number;
  y?: number;
  width: number;
  height: number;
  maximized: boolean;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const DEFAULT_WINDOW: WindowState = { width: 1200, height: 800, maximized: false };
const MIN_WIDTH = 640;
const MIN_HEIGHT = 400;

const isInt = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n);

/** A saved state, checked: sizes within sane bounds, a position only when it is on one of `displays`. */
export function sanitizeWindowState(raw: unknown, displays: Rect[]): WindowState {
  if (!raw || typeof raw !== 'object') return { ...DEFAULT_WINDOW };
  const r = raw as Record<string, unknown>;
  const width = isInt(r['width']) && r['width'] >= MIN_WIDTH && r['width'] <= 16_384 ? r['width'] : DEFAULT_WINDOW.width;
  const height = isInt(r['height']) && r['height'] >= MIN_HEIGHT && r['height'] <= 16_384 ? r['height'] : DEFAULT_WINDOW.height;
  const state: WindowState = { width, height, maximized: r['maximized'] === true };
  if (isInt(r['x']) && isInt(r['y'])) {
    const x = r['x'];
    const y = r['y'];
    // At least the title bar's top-left corner area must be visible on some display.
    const visible = displays.some((d) => x + 100 > d.x && x < d.x + d.width - 50 && y >= d.y && y < d.y + d.height - 50);
    if (visible) {
      state.x = x;
      state.y = y;
    }
  }
  return state;
}

export async function loadWindowState(file: string, displays: Rect[]): Promise<WindowState> {
  const text = await fsp.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return { ...DEFAULT_WINDOW };
  try {
    return sanitizeWindowState(JSON.parse(text), displays);
  } catch {
    return { ...DEFAULT_WINDOW };
  }
}

export async function saveWindowState(file: string, state: WindowState): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(state)}\n`);
}

/**
 * Detach keys (`docker attach --detach-keys`, default ctrl-p,ctrl-q): the daemon watches the
 * client's stdin for the sequence; when it is typed the client is detached and the container
 * keeps running. Bytes that start the sequence are held until it is complete or broken, so a
 * lone ctrl-p still reaches the container.
 */
import { invalid } from '../common/errors.js';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** "ctrl-p,ctrl-q" / "a,ctrl-@" → bytes; 400 for anything Docker refuses. */
export function parseDetachKeys(spec: string): Buffer {
  const out: number[] = [];
  for (const key of spec.split(',')) {
    const k = key.trim();
    if (k.length === 1) {
      out.push(k.charCodeAt(0));
      continue;
    }
    const m = /^ctrl-(.)$/i.exec(k);
    if (!m) throw invalid(`Invalid detach keys (${spec}) provided`);
    const c = (m[1] as string).toLowerCase().charCodeAt(0);
    if (c >= 0x61 && c <= 0x7a) out.push(c - 0x60);
    else if (m[1] === '@') out.push(0);
    else if ('[\\]^_'.includes(m[1] as string)) out.push((m[1] as string).charCodeAt(0) - 0x40);
    else throw invalid(`Invalid detach keys (${spec}) provided`);
  }
  if (out.length === 0) throw invalid('Invalid detach keys: empty sequence');
  return Buffer.from(out);
}

/** Filters stdin: returns what to forward, and calls onDetach (once) when the sequence completes. */
export function detachFilter(keys: Buffer, onDetach: () => void): (b: Buffer) => Buffer {
  let matched = 0;
  let done = false;
  return (b) => {
    if (done) return Buffer.alloc(0);
    const out: number[] = [];
    for (const byte of b) {
      if (byte === keys[matched]) {
        if (++matched === keys.length) {
          done = true;
          onDetach();
          return Buffer.from(out);
        }
        continue;
      }
      // Broken sequence: the held bytes were input after all.
      for (let i = 0; i < matched; i++) out.push(keys[i] as number);
      matched = byte === keys[0] ? 1 : 0;
      if (matched === 0) out.push(byte);
    }
    return Buffer.from(out);
  };
}

/**
 * Give memory back after heavy work. A pull or load churns through hundreds of
 * megabytes of buffers; V8 frees them lazily and an idle daemon would otherwise
 * sit on that high-water mark for hours. Once no heavy operation has run for a
 * moment, one full collection releases the buffers (bin/berthd starts node with
 * --expose-gc and a fixed glibc mmap threshold, so large buffers go straight
 * back to the OS when freed).
 */
const IDLE_MS = 1500;
let active = 0;
let timer: NodeJS.Timeout | undefined;

type Gc = (opts?: { type: 'major' }) => void;

function collect(): void {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (gc && active === 0) gc();
}

/** Wrap a heavy operation (pull, load, save) so memory is reclaimed after it. */
export async function heavyWork<T>(fn: () => Promise<T>): Promise<T> {
  active++;
  if (timer) clearTimeout(timer);
  try {
    return await fn();
  } finally {
    active--;
    if (active === 0) {
      timer = setTimeout(collect, IDLE_MS);
      timer.unref();
    }
  }
}

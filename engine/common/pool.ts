/** Bounded concurrency for work lists (layer downloads, archive layers). */

/** Run fn over items with at most n at once; the first failure aborts the rest and is thrown. */
export async function runPool<T>(items: T[], n: number, ac: AbortController, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        if (!failed) {
          failed = true;
          failure = err;
          ac.abort(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failed) throw failure;
}

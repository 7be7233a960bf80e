// Summary statistics for benchmark samples.

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  mean: number;
  /** 99th percentile (nearest rank). */
  p99: number;
}

/** The value at percentile `p` (0..100) of already sorted samples, by nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function median(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const mid = Math.floor(n / 2);
  return n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  return {
    n,
    median: median(sorted),
    min: n > 0 ? (sorted[0] as number) : Number.NaN,
    max: n > 0 ? (sorted[n - 1] as number) : Number.NaN,
    mean: n > 0 ? sorted.reduce((a, b) => a + b, 0) / n : Number.NaN,
    p99: percentile(sorted, 99),
  };
}

/** a / b, or NaN when either side is missing. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return Number.NaN;
  return a / b;
}

/** Rounds for JSON output (keeps results files small and readable). */
export function round(x: number, digits = 3): number | null {
  if (!Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Fuzzy matching for the command palette: the query's characters must appear in order; matches
 * at word starts, in runs, and at the beginning score higher, and a plain substring beats a
 * scattered match. Higher is better; undefined means no match.
 */
const WORD_START = /[\s\-_./:@]/;

export function fuzzyScore(query: string, text: string): number | undefined {
  const q = query.trim().toLowerCase();
  if (q === '') return 0;
  const t = text.toLowerCase();
  const at = t.indexOf(q);
  if (at >= 0) {
    // Substrings: at the start best, then at a word start, then anywhere; shorter texts first.
    const wordStart = at === 0 || WORD_START.test(t[at - 1] ?? '');
    return 1000 + (at === 0 ? 400 : wordStart ? 250 : 0) - Math.min(t.length, 200);
  }
  let score = 0;
  let ti = 0;
  let run = 0;
  for (const ch of q) {
    if (ch === ' ') continue;
    const found = t.indexOf(ch, ti);
    if (found < 0) return undefined;
    const wordStart = found === 0 || WORD_START.test(t[found - 1] ?? '');
    run = found === ti ? run + 1 : 0;
    score += 10 + (wordStart ? 30 : 0) + run * 15 - Math.min(found - ti, 20);
    ti = found + 1;
  }
  return score - Math.min(t.length, 200) / 4;
}

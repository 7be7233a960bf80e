/**
 * Parsing and checking what users type into the images/run/volume/network forms, so each form
 * shows its mistakes inline before anything reaches the engine. Rules follow Docker's CLI:
 * container names, KEY=value labels, port numbers, absolute container paths.
 */

/** Docker's container-name rule ([a-zA-Z0-9][a-zA-Z0-9_.-]+, the leading slash optional). */
export function nameProblem(name: string): string | undefined {
  if (name === '') return undefined;
  return /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name) ? undefined : 'Use letters, digits, "_", "." or "-" (at least 2 characters, starting with a letter or digit).';
}

export function portProblem(port: string, optional: boolean): string | undefined {
  if (port === '') return optional ? undefined : 'A port is required.';
  const n = Number(port);
  return /^\d+$/.test(port) && n >= 1 && n <= 65535 ? undefined : 'A port is a number from 1 to 65535.';
}

/** One "KEY=value" per line (blank lines ignored) → a record, or the first bad line. */
export function parseKeyValues(text: string): { values: Record<string, string> } | { problem: string } {
  const values: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq);
    if (key === '' || /\s/.test(key)) return { problem: `"${line}" is not KEY=value.` };
    values[key] = eq < 0 ? '' : line.slice(eq + 1);
  }
  return { values };
}

/** A command line split like a shell would for simple cases: whitespace, '…' and "…" quoting, backslash escapes. */
export function splitCommand(text: string): string[] | { problem: string } {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote) return { problem: `The command has an unclosed ${quote}.` };
  if (has) out.push(cur);
  return out;
}

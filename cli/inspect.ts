/**
 * The shape every `inspect` verb shares: look each name up, print the found objects as one JSON
 * array (Go's escaping, as docker prints it) or a template per object, then the errors for the
 * names not found, and exit 1 if any was missing. An unreachable engine ends the command at once.
 */
import { EngineError } from '../client/index.js';
import type { Context } from './command.js';
import type { ParsedArgs } from './args.js';
import { compileTemplate, describeError, goJson } from './format.js';

export async function inspectEach<T>(
  ctx: Context,
  a: ParsedArgs,
  lookup: (name: string) => Promise<T>,
  errorText: (err: EngineError) => string = describeError,
): Promise<number> {
  const found: T[] = [];
  const failures: EngineError[] = [];
  for (const name of a.args) {
    try {
      found.push(await lookup(name));
    } catch (err) {
      if (!(err instanceof EngineError) || err.code === 'UNREACHABLE') throw err;
      failures.push(err);
    }
  }
  const format = a.string('format');
  if (!format || format === 'json') ctx.out(`${goJson(found, 4)}\n`);
  else {
    const tpl = compileTemplate(format);
    for (const item of found) ctx.out(`${tpl.render(item)}\n`);
  }
  for (const f of failures) ctx.err(`${errorText(f)}\n`);
  return failures.length > 0 ? 1 : 0;
}

// `berth` run in-process (cli/main.ts's run) with an environment of the test's choosing, no TTY,
// and its output collected.
import { Readable, Writable } from 'node:stream';
import { run } from '../../cli/main.js';
import type { CliIo } from '../../cli/command.js';

export interface BerthResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runBerth(args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<BerthResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (into: Buffer[]): Writable => new Writable({ write: (c: Buffer, _e, cb) => (into.push(Buffer.from(c)), cb()) });
  const io: CliIo = {
    stdout: Object.assign(sink(out), { isTTY: false }),
    stderr: sink(err),
    stdin: Object.assign(Readable.from(input ? [Buffer.from(input)] : []), { isTTY: false }),
    env,
  };
  const code = await run(args, io);
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/**
 * `logs`: a container's output from the engine's log, demultiplexed to our
 * stdout and stderr (raw when the container has a TTY). --since and --until
 * take what docker takes: Unix seconds, RFC 3339 dates, or Go durations
 * ("10m", "1h30m") meaning that long ago.
 */
import { EngineError, copyRaw, demuxStream, toApiTimestamp } from '../client/index.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';

function apiTime(value: string, flag: string, now: number): string {
  try {
    return toApiTimestamp(value, now);
  } catch (err) {
    if (err instanceof EngineError) throw new UsageError(`invalid value for "--${flag}": ${value}`);
    throw err;
  }
}

export const logsCommand: Command = {
  name: 'logs',
  usage: '[OPTIONS] CONTAINER',
  description: 'Fetch the logs of a container',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'follow', short: 'f', type: 'bool', description: 'Follow log output' },
    { name: 'since', type: 'string', description: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { name: 'tail', short: 'n', type: 'string', defaultValue: 'all', description: 'Number of lines to show from the end of the logs' },
    { name: 'timestamps', short: 't', type: 'bool', description: 'Show timestamps' },
    { name: 'until', type: 'string', description: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
  ],
  async run(ctx, a) {
    const now = Date.now();
    const since = a.string('since');
    const until = a.string('until');
    const tail = a.string('tail') ?? 'all';
    if (tail !== 'all' && !/^-?\d+$/.test(tail)) throw new UsageError(`invalid value for "--tail": ${tail}`);
    const { stream, raw } = await ctx.client.containers.logs(a.args[0] as string, {
      stdout: true,
      stderr: true,
      follow: a.bool('follow'),
      timestamps: a.bool('timestamps'),
      tail,
      ...(since !== undefined ? { since: apiTime(since, 'since', now) } : {}),
      ...(until !== undefined ? { until: apiTime(until, 'until', now) } : {}),
    });
    if (raw) await copyRaw(stream, ctx.io.stdout);
    else await demuxStream(stream, ctx.io.stdout, ctx.io.stderr);
    return 0;
  },
};

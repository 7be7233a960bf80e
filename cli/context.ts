/**
 * `berth context`: the engines `berth` can talk to, one of them current (client/contexts). They
 * are the desktop app's engine list, so switching in either switches both. Verbs mirror
 * `docker context`: ls, use, create, rm, inspect, show.
 *
 * Which engine a command talks to, first match wins: -H/--host; --context or BERTH_CONTEXT;
 * BERTH_HOST / DOCKER_HOST; the current context. An ssh:// context is reached through a forwarded
 * socket that lives for the one command.
 */
import { addEngine, chooseEngine, connectEngine, expandHome, loadContexts, removeEngine } from '../client/contexts/index.js';
import type { ConnectedEngine, EngineRegistry } from '../client/contexts/index.js';
import { isEngineError } from '../client/index.js';
import type { TlsSettingsInput } from '../client/index.js';
import { UsageError, parseBoolValue } from './args.js';
import type { ParsedArgs } from './args.js';
import type { TlsFiles } from '../client/tls.js';
import type { CliIo, Command } from './command.js';
import { printRows } from './format.js';

export type ResolvedEngine = ConnectedEngine;

/**
 * The engine and client for a command. A context that does not exist, or an address that cannot
 * be used, is a usage error; an engine that cannot be reached is the client's UNREACHABLE error.
 */
export async function resolveEngine(io: CliIo, hostFlag: string | undefined, contextFlag: string | undefined, tlsFlags: TlsSettingsInput = {}): Promise<ResolvedEngine> {
  const usage = (err: unknown): never => {
    if (isEngineError(err) && (err.code === 'NOT_FOUND' || err.code === 'INVALID')) throw new UsageError(err.message);
    throw err;
  };
  const engine = await chooseEngine({ ...(hostFlag ? { host: hostFlag } : {}), ...(contextFlag ? { context: contextFlag } : {}), tls: tlsFlags }, io.env).catch(usage);
  return connectEngine(engine, io.env, `cli-${process.pid}`).catch(usage);
}

/**
 * Runs a verb on the registry. Its failures read `Error: <message>`, as berth words the errors
 * that are not the engine's own answer.
 */
async function onContexts<T>(env: NodeJS.ProcessEnv, work: (contexts: EngineRegistry) => Promise<T>): Promise<T> {
  const contexts = await loadContexts(env);
  try {
    return await work(contexts);
  } catch (err) {
    throw isEngineError(err) && err.statusCode === 0 ? new Error(err.message, { cause: err }) : err;
  }
}

function rows(contexts: EngineRegistry): Record<string, string>[] {
  return contexts.engines().map((e) => ({
    Name: e.name,
    Current: e.id === contexts.activeId ? 'true' : 'false',
    Kind: e.kind,
    DockerEndpoint: e.host,
    Description: e.kind === 'local' ? 'The engine on this machine' : e.kind === 'vm' ? 'The engine in the Berth VM' : e.hostKey ? `Host key ${e.hostKey}` : '',
  }));
}

const lsCommand: Command = {
  name: 'ls',
  aliases: ['list'],
  usage: '[OPTIONS]',
  description: 'List contexts',
  noEngine: true,
  maxArgs: 0,
  flags: [
    { name: 'format', type: 'string', description: "Format output using a custom template ('table', 'json' or a Go template)" },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only show context names' },
  ],
  async run(ctx, args) {
    const contexts = await loadContexts(ctx.io.env);
    const list = rows(contexts).map((r) => ({ ...r, Name: r['Current'] === 'true' && !args.string('format') ? `${r['Name']} *` : r['Name'] }));
    if (args.bool('quiet')) {
      for (const e of contexts.engines()) ctx.out(`${e.name}\n`);
      return;
    }
    printRows(ctx, list, args.string('format'), 'table {{.Name}}\t{{.Kind}}\t{{.DockerEndpoint}}\t{{.Description}}', {
      Name: 'NAME',
      Kind: 'KIND',
      DockerEndpoint: 'DOCKER ENDPOINT',
      Description: 'DESCRIPTION',
    });
  },
};

const useCommand: Command = {
  name: 'use',
  usage: 'CONTEXT',
  description: 'Set the current context',
  noEngine: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [],
  async run(ctx, args) {
    const engine = await onContexts(ctx.io.env, (contexts) => contexts.use(contexts.find(args.args[0] as string).id));
    ctx.out(`${engine.name}\n`);
    if (ctx.io.env['BERTH_HOST'] || ctx.io.env['DOCKER_HOST']) {
      ctx.err(`Warning: BERTH_HOST or DOCKER_HOST is set and overrides the current context; unset it to use "${engine.name}"\n`);
    }
    ctx.err(`Current context is now "${engine.name}"\n`);
  },
};

const createCommand: Command = {
  name: 'create',
  usage: '[OPTIONS] CONTEXT',
  description: 'Create a context (an engine address: unix://, tcp:// or ssh://user@host)',
  noEngine: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'host', type: 'string', description: 'The engine address: unix:///path, tcp://host:port or ssh://user@host[:port][/socket]' },
    { name: 'docker', type: 'string', description: "docker's form: host=ADDRESS[,ca=FILE,cert=FILE,key=FILE,skip-tls-verify=BOOL]" },
    { name: 'tlsverify', type: 'bool', description: 'tcp:// engines: use TLS and verify the engine against --tlscacert' },
    { name: 'tlscacert', type: 'string', description: 'tcp:// engines: the CA the engine certificate is signed by' },
    { name: 'tlscert', type: 'string', description: 'tcp:// engines: the client certificate' },
    { name: 'tlskey', type: 'string', description: "tcp:// engines: the client certificate's key" },
    { name: 'identity', short: 'i', type: 'string', description: 'ssh engines: the private key file to use' },
    {
      name: 'replace-host-key',
      type: 'bool',
      description: 'ssh engines: trust the key the host presents now, replacing a different pinned one (both are shown)',
    },
  ],
  async run(ctx, args) {
    const docker = parseDockerEndpoint(args.string('docker'));
    const host = args.string('host') ?? docker['host'];
    if (!host) throw new UsageError('the engine address is required: --host ADDRESS (or --docker host=ADDRESS)');
    const tls = contextTls(args, docker);
    const identity = args.string('identity');
    const replaceHostKey = args.bool('replace-host-key');
    if (replaceHostKey && !host.startsWith('ssh://')) throw new UsageError('--replace-host-key only applies to ssh:// engines');
    const engine = await onContexts(ctx.io.env, (contexts) =>
      addEngine(
        contexts,
        {
          name: args.args[0] as string,
          host,
          ...(identity ? { identityFile: expandHome(identity, ctx.io.env) } : {}),
          ...(replaceHostKey ? { replaceHostKey } : {}),
          ...(tls ? { tls } : {}),
        },
        ctx.io.env,
      ),
    );
    if (engine.hostKeyReplaced) ctx.err(`Replaced the pinned host key of ${host}: ${engine.hostKeyReplaced.join(', ')} is no longer trusted\n`);
    if (engine.hostKey) ctx.err(`${engine.hostKeyPinned ? 'Pinned the host key' : 'Host key (already trusted)'} of ${host}: ${engine.hostKey}\n`);
    ctx.out(`${engine.name}\n`);
    ctx.err(`Successfully created context "${engine.name}"\n`);
  },
};

/** docker's `--docker "host=tcp://h:2376,ca=ca.pem,cert=cert.pem,key=key.pem,skip-tls-verify=false"`. */
function parseDockerEndpoint(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!value) return out;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid --docker field "${part}": expected key=value`);
    const key = part.slice(0, eq).trim();
    if (!['host', 'ca', 'cert', 'key', 'skip-tls-verify', 'description'].includes(key)) throw new UsageError(`unknown --docker field "${key}"`);
    out[key] = part.slice(eq + 1).trim();
  }
  return out;
}

/** A context's TLS from --tlsverify/--tlscacert/--tlscert/--tlskey or docker's ca=,cert=,key=,skip-tls-verify=. */
function contextTls(args: ParsedArgs, docker: Record<string, string>): TlsFiles | undefined {
  const ca = args.string('tlscacert') ?? docker['ca'];
  const cert = args.string('tlscert') ?? docker['cert'];
  const key = args.string('tlskey') ?? docker['key'];
  const skip = docker['skip-tls-verify'] !== undefined && parseBoolValue('skip-tls-verify', docker['skip-tls-verify']);
  if (!args.has('tlsverify') && !ca && !cert && !key && !skip) return undefined;
  const verify = args.has('tlsverify') ? args.bool('tlsverify') : !skip;
  return { verify, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

const rmCommand: Command = {
  name: 'rm',
  aliases: ['remove'],
  usage: 'CONTEXT [CONTEXT...]',
  description: 'Remove one or more contexts',
  noEngine: true,
  minArgs: 1,
  flags: [],
  async run(ctx, args) {
    const contexts = await loadContexts(ctx.io.env);
    let failed = false;
    for (const name of args.args) {
      try {
        await removeEngine(contexts, contexts.find(name).id, ctx.io.env);
        ctx.out(`${name}\n`);
      } catch (err) {
        failed = true;
        ctx.err(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
    return failed ? 1 : 0;
  },
};

const inspectCommand: Command = {
  name: 'inspect',
  usage: '[CONTEXT...]',
  description: 'Display detailed information on one or more contexts (default: the current one)',
  noEngine: true,
  flags: [],
  async run(ctx, args) {
    const { engines, activeId } = await onContexts(ctx.io.env, async (contexts) => ({
      engines: args.args.length ? args.args.map((n) => contexts.find(n)) : [contexts.active()],
      activeId: contexts.activeId,
    }));
    ctx.out(`${JSON.stringify(engines.map((e) => ({ Name: e.name, Current: e.id === activeId, ...e })), null, 4)}\n`);
  },
};

const showCommand: Command = {
  name: 'show',
  usage: '',
  description: 'Print the name of the current context',
  noEngine: true,
  maxArgs: 0,
  flags: [],
  async run(ctx) {
    ctx.out(`${(await loadContexts(ctx.io.env)).active().name}\n`);
  },
};

export const contextCommands: Command[] = [createCommand, inspectCommand, lsCommand, rmCommand, showCommand, useCommand];

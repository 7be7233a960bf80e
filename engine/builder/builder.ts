/**
 * The classic builder behind POST /build: a Dockerfile and its context become an image, one
 * step at a time, each step an image of its own (Docker's intermediate images), so an unchanged
 * step is found again in the cache and everything after a changed one is rebuilt.
 *
 * A build: extract the context (context.ts), parse (dockerfile.ts), pick the stages the target
 * needs (stages a target never reaches are skipped), then per stage: FROM (a local image, a pull,
 * an earlier stage or scratch; the base's ONBUILD triggers run first), and per instruction: ARG
 * scoping, then the cache (cache.ts) keyed by parent image and created_by; on a miss RUN runs in
 * a container (run-step.ts), COPY/ADD write into a holder container's rootfs (copy-step.ts), and
 * the rest only change the config (metadata.ts). Every step is committed through the image
 * committer (images/commit.ts) with its layer dir (the container's overlay upper dir) or none.
 * Output is Docker's: "Step N/M : ...", " ---> Using cache", " ---> Running in <id>", the
 * command's output, " ---> <id>", then aux {ID}, "Successfully built" and "Successfully tagged".
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { familiarString, parseReference } from '../../common/reference.js';
import { shortId, type Digest } from '../common/digest.js';
import { BerthError, invalid } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ImageCommitter } from '../images/commit.js';
import type { ContainerConfig } from '../images/config.js';
import type { ImageService } from '../images/service.js';
import { BuildCache } from './cache.js';
import { openContext } from './context.js';
import { isDirIn, planCopyStep, type CopyRoots } from './copy-step.js';
import { expandWord, parseDockerfile, type Instruction, type ParsedDockerfile, type Stage } from './dockerfile.js';
import { applyMetadata, commandOf, lookupIn, METADATA_KEYWORDS, shellOf, type StageState } from './metadata.js';
import { StepRunner, type StepContainers } from './run-step.js';

/** One line of the build's JSON stream (Docker's JSONMessage). */
export interface BuildMessage {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: unknown;
}

export interface BuildOptions {
  /** Path of the Dockerfile in the context ("" = Dockerfile). */
  dockerfile: string;
  tags: string[];
  /** --build-arg; null means "declared without a value" (unset). */
  buildArgs: Record<string, string | null>;
  target?: string;
  labels: Record<string, string>;
  noCache: boolean;
  pull: boolean;
  remove: boolean;
  forceRemove: boolean;
  quiet: boolean;
  platform?: string;
  /** X-Registry-Config: credentials by registry, handed to pulls of base images. */
  registryAuth: Record<string, unknown>;
  signal: AbortSignal;
  progress(m: BuildMessage): void;
}

/** A RUN whose command failed: the message and exit code go to errorDetail. */
export class CommandFailed extends BerthError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super('invalid', message, { code: 'BUILD_COMMAND_FAILED' });
  }
}

export interface BuilderDeps {
  images: ImageService;
  containers: StepContainers;
  committer: Pick<ImageCommitter, 'commit'>;
  /** Pulls a base image (the daemon picks credentials for its registry); returns its ID. */
  pull(ref: string, o: { registryAuth: Record<string, unknown>; platform?: string; signal: AbortSignal; progress(m: BuildMessage): void }): Promise<Digest>;
  /** <data-root>/builder: the cache index and temporary contexts. */
  dir: string;
  log: Logger;
}

interface StageResult {
  id?: Digest;
  name?: string;
}

export class Builder {
  private readonly cache: BuildCache;
  private readonly runner: StepRunner;

  constructor(private readonly d: BuilderDeps) {
    this.cache = new BuildCache(d.dir, (id) => d.images.db.image(id) !== undefined);
    this.runner = new StepRunner(d.containers, d.log);
  }

  /** Runs a build to its end; resolves with the final image ID. */
  async build(context: Readable, o: BuildOptions): Promise<Digest> {
    const tags = o.tags.map((t) => {
      try {
        return parseReference(t);
      } catch (err) {
        throw invalid(`invalid tag "${t}": ${(err as Error).message}`);
      }
    });
    for (const t of tags) if (t.digest) throw invalid(`invalid tag "${familiarString(t)}": a tag cannot carry a digest`);
    const ctx = await openContext(context, path.join(this.d.dir, 'tmp'), o.dockerfile, o.signal);
    try {
      const df = parseDockerfile(ctx.dockerfile);
      const run = new BuildRun(this.d, this.cache, this.runner, df, ctx.dir, o);
      const id = await run.execute();
      if (o.quiet) o.progress({ stream: `${id}\n` });
      else o.progress({ stream: `Successfully built ${shortId(id)}\n` });
      for (const t of tags) {
        await this.d.images.tag(id, familiarString(t), undefined);
        if (!o.quiet) o.progress({ stream: `Successfully tagged ${familiarString(t)}\n` });
      }
      return id;
    } finally {
      await ctx.remove();
    }
  }
}

/** The state of one build. */
class BuildRun {
  private readonly out: (text: string) => void;
  private readonly results: StageResult[] = [];
  private readonly globalArgs = new Map<string, string>();
  private readonly usedArgs = new Set<string>();
  private step = 0;
  private totalSteps = 0;

  constructor(
    private readonly d: BuilderDeps,
    private readonly cache: BuildCache,
    private readonly runner: StepRunner,
    private readonly df: ParsedDockerfile,
    private readonly contextDir: string,
    private readonly o: BuildOptions,
  ) {
    this.out = (text) => {
      if (!o.quiet) o.progress({ stream: text });
    };
  }

  async execute(): Promise<Digest> {
    const { stages } = this.df;
    if (stages.length === 0) throw invalid('the Dockerfile has no FROM instruction');
    for (const ins of this.df.globalArgs) this.declareArgs(ins, this.globalArgs, (n) => this.globalArgs.get(n));
    const targetIndex = this.targetIndex();
    const target = stages[targetIndex] as Stage;
    // Labels from the request become a last LABEL step of the target, as in Docker.
    const labels = Object.entries(this.o.labels);
    if (labels.length > 0) {
      const text = labels.map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ');
      target.instructions.push({ keyword: 'LABEL', args: [text], json: false, flags: {}, heredocs: [], line: 0, original: `LABEL ${text}` });
    }
    const needed = this.neededStages(targetIndex);
    this.totalSteps = stages.filter((s) => needed.has(s.index)).reduce((n, s) => n + 1 + s.instructions.length, 0);
    let last: Digest | undefined;
    for (const stage of stages) {
      if (!needed.has(stage.index)) continue;
      last = await this.runStage(stage);
      this.results[stage.index] = { ...(last ? { id: last } : {}), ...(stage.name ? { name: stage.name } : {}) };
    }
    const unused = Object.keys(this.o.buildArgs).filter((a) => !this.usedArgs.has(a));
    if (unused.length > 0) this.out(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    if (!last) throw invalid('No image was generated. Is your Dockerfile empty?');
    this.o.progress({ aux: { ID: last } });
    return last;
  }

  private targetIndex(): number {
    const { stages } = this.df;
    if (!this.o.target) return stages.length - 1;
    const i = stages.findIndex((s) => s.name?.toLowerCase() === this.o.target?.toLowerCase());
    if (i < 0) throw invalid(`failed to reach build target ${this.o.target} in Dockerfile`);
    return i;
  }

  /** A stage by name or index, if `ref` names one before `before`. */
  private stageRef(ref: string, before: number): number | undefined {
    const lower = ref.toLowerCase();
    const byName = this.df.stages.findIndex((s) => s.name?.toLowerCase() === lower);
    if (byName >= 0 && byName < before) return byName;
    if (/^\d+$/.test(ref) && Number(ref) < before) return Number(ref);
    return undefined;
  }

  /** The target and, transitively, the stages its FROMs and COPY --froms name. */
  private neededStages(target: number): Set<number> {
    const need = new Set<number>();
    const globalLookup = (n: string): string | undefined => this.globalArgs.get(n);
    const visit = (i: number): void => {
      if (need.has(i)) return;
      need.add(i);
      const s = this.df.stages[i] as Stage;
      const base = this.stageRef(expandWord(s.base, globalLookup, this.df.escape), i);
      if (base !== undefined) visit(base);
      for (const ins of s.instructions) {
        const from = ins.flags['from'];
        if (ins.keyword !== 'COPY' || from === undefined) continue;
        const dep = this.stageRef(expandWord(from, globalLookup, this.df.escape), i);
        if (dep !== undefined) visit(dep);
      }
    };
    visit(target);
    return need;
  }

  /** ARG name[=default] ...: the value is the build-arg, else the default, else (in a stage) the global one. */
  private declareArgs(ins: Instruction, into: Map<string, string>, lookup: (n: string) => string | undefined, global?: Map<string, string>): string[] {
    const names: string[] = [];
    const text = ins.args.join(' ').trim();
    for (const decl of text.split(/\s+/).filter((w) => w !== '')) {
      const eq = decl.indexOf('=');
      const name = eq < 0 ? decl : decl.slice(0, eq);
      if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) throw invalid(`Dockerfile line ${ins.line}: invalid ARG name: ${name}`);
      names.push(name);
      const given = this.o.buildArgs[name];
      if (Object.prototype.hasOwnProperty.call(this.o.buildArgs, name)) this.usedArgs.add(name);
      if (typeof given === 'string') into.set(name, given);
      else if (eq >= 0) into.set(name, expandWord(decl.slice(eq + 1), lookup, this.df.escape));
      else if (global?.has(name)) into.set(name, global.get(name) as string);
    }
    return names;
  }

  private header(ins: Pick<Instruction, 'original'>): void {
    this.step++;
    this.out(`Step ${this.step}/${this.totalSteps} : ${ins.original.replace(/\\\r?\n\s*/g, '').trim()}\n`);
  }

  private async runStage(stage: Stage): Promise<Digest | undefined> {
    this.header({ original: `FROM ${stage.base}${stage.name ? ` AS ${stage.name}` : ''}` });
    const base = await this.resolveBase(stage);
    const s: StageState = { config: structuredClone(base.config), args: new Map(), cmdSet: false, escape: this.df.escape };
    let id = base.id;
    if (id) this.out(` ---> ${shortId(id)}\n`);
    const triggers = s.config.OnBuild ?? [];
    s.config.OnBuild = null;
    if (triggers.length > 0) {
      this.out(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      const parsed = parseDockerfile(`FROM scratch\n${triggers.join('\n')}\n`);
      for (const ins of parsed.stages[0]?.instructions ?? []) id = await this.runInstruction(ins, s, id, stage.index);
      // The triggers run once: the image this stage makes does not carry them on.
      if (id) id = await this.commit(id, s, '/bin/sh -c #(nop) ONBUILD triggers run', undefined);
    }
    for (const ins of stage.instructions) {
      this.o.signal.throwIfAborted();
      this.header(ins);
      id = await this.runInstruction(ins, s, id, stage.index);
    }
    return id;
  }

  private async resolveBase(stage: Stage): Promise<{ id?: Digest; config: ContainerConfig }> {
    const name = expandWord(stage.base, (n) => this.globalArgs.get(n), this.df.escape);
    if (name === '') throw invalid(`base name (${stage.base}) should not be blank`);
    const fromStage = this.stageRef(name, stage.index);
    if (fromStage !== undefined) {
      const id = this.results[fromStage]?.id;
      if (!id) throw invalid(`stage ${name} produced no image`);
      return { id, config: (await this.d.images.config(id)).config ?? {} };
    }
    if (name.toLowerCase() === 'scratch') return { config: {} };
    const platformFlag = stage.platform ? expandWord(stage.platform, (n) => this.globalArgs.get(n), this.df.escape) : undefined;
    const platform = platformFlag || this.o.platform;
    let id = this.o.pull ? undefined : this.d.images.tryResolve(name)?.id;
    if (!id) {
      id = await this.d.pull(name, {
        registryAuth: this.o.registryAuth,
        ...(platform ? { platform } : {}),
        signal: this.o.signal,
        progress: (m) => {
          if (!this.o.quiet) this.o.progress(m);
        },
      });
    }
    return { id, config: (await this.d.images.config(id)).config ?? {} };
  }

  /** Runs one instruction; returns the image ID after it. */
  private async runInstruction(ins: Instruction, s: StageState, parent: Digest | undefined, stageIndex: number): Promise<Digest | undefined> {
    switch (ins.keyword) {
      case 'ARG': {
        const names = this.declareArgs(ins, s.args, lookupIn(s), this.globalArgs);
        return this.metadataStep(parent, s, `/bin/sh -c #(nop) ARG ${names.join(' ')}`);
      }
      case 'RUN':
        return this.runStep(ins, s, parent);
      case 'COPY':
      case 'ADD':
        return this.copyStep(ins, s, parent, stageIndex);
      default:
        if (!METADATA_KEYWORDS.has(ins.keyword)) throw invalid(`Dockerfile parse error line ${ins.line}: unknown instruction: ${ins.keyword}`);
        return this.metadataStep(parent, s, applyMetadata(ins, s));
    }
  }

  private async cached(parent: Digest | undefined, createdBy: string): Promise<Digest | undefined> {
    if (this.o.noCache) return undefined;
    const hit = await this.cache.lookup(parent, createdBy);
    if (hit) this.out(` ---> Using cache\n ---> ${shortId(hit)}\n`);
    return hit;
  }

  private async metadataStep(parent: Digest | undefined, s: StageState, createdBy: string): Promise<Digest> {
    const hit = await this.cached(parent, createdBy);
    if (hit) return hit;
    const id = await this.commit(parent, s, createdBy, undefined);
    this.out(` ---> ${shortId(id)}\n`);
    return id;
  }

  private async commit(parent: Digest | undefined, s: StageState, createdBy: string, layerDir: string | undefined): Promise<Digest> {
    const { id } = await this.d.committer.commit(
      {
        ...(parent ? { parent } : {}),
        ...(layerDir ? { layerDir } : {}),
        config: structuredClone(s.config),
        history: { created: new Date().toISOString(), created_by: createdBy, ...(layerDir ? {} : { empty_layer: true }) },
      },
      this.o.signal,
    );
    await this.cache.record(parent, createdBy, id);
    return id;
  }

  private async runStep(ins: Instruction, s: StageState, parent: Digest | undefined): Promise<Digest> {
    if (!parent) throw invalid(`RUN needs an image with a shell; this stage is FROM scratch with nothing in it (line ${ins.line})`);
    const script = ins.heredocs.length > 0 && /^<<-?["']?\w+["']?$/.test(ins.args.join(' ').trim()) ? ins.heredocs[0] : undefined;
    const cmd = script ? [...shellOf(s), script.body] : commandOf(ins, s);
    // Build args visible to RUN: the stage's declared ARGs not overridden by ENV.
    const envNames = new Set((s.config.Env ?? []).map((kv) => kv.split('=', 1)[0]));
    const argEnv = [...s.args].filter(([k]) => !envNames.has(k)).map(([k, v]) => `${k}=${v}`).sort();
    const createdBy = (argEnv.length > 0 ? `|${argEnv.length} ${argEnv.join(' ')} ` : '') + cmd.join(' ');
    const hit = await this.cached(parent, createdBy);
    if (hit) return hit;
    const cid = await this.runner.createRun({ image: parent, cmd, config: s.config, argEnv });
    this.out(` ---> Running in ${cid.slice(0, 12)}\n`);
    let ok = false;
    try {
      const code = await this.runner.run(cid, (b) => this.out(b.toString('utf8')), this.o.signal);
      if (code !== 0) throw new CommandFailed(`The command '${cmd.join(' ')}' returned a non-zero code: ${code}`, code);
      const id = await this.commit(parent, s, createdBy, this.runner.upperDir(cid));
      ok = true;
      if (this.o.remove || this.o.forceRemove) this.out(`Removing intermediate container ${cid.slice(0, 12)}\n`);
      this.out(` ---> ${shortId(id)}\n`);
      return id;
    } finally {
      // A failed step's container stays for inspection unless --force-rm, as with dockerd; a build
      // its client abandoned leaves nothing behind.
      if ((ok && this.o.remove) || this.o.forceRemove || this.o.signal.aborted) await this.runner.remove(cid);
    }
  }

  private async copyStep(ins: Instruction, s: StageState, parent: Digest | undefined, stageIndex: number): Promise<Digest> {
    const roots: CopyRoots = { context: this.contextDir, withFrom: (from, fn) => this.withFrom(from, stageIndex, fn) };
    // The step's container: the destination's directories are those of the parent image.
    const holder = parent ? await this.runner.createHolder(parent) : undefined;
    let scratchDir: string | undefined;
    try {
      const probe = async (p: string): Promise<boolean> => {
        if (!holder) return false;
        return this.runner.withRootfs(holder, (rootfs) => isDirIn(rootfs, p));
      };
      const plan = await planCopyStep(ins, s, roots, probe, this.o.signal);
      const hit = await this.cached(parent, plan.createdBy);
      if (hit) return hit;
      let layerDir: string;
      if (holder) {
        await this.runner.withRootfs(holder, (rootfs) => plan.apply(rootfs, this.o.signal));
        layerDir = this.runner.upperDir(holder);
      } else {
        await fsp.mkdir(path.join(this.d.dir, 'tmp'), { recursive: true, mode: 0o700 });
        scratchDir = await fsp.mkdtemp(path.join(this.d.dir, 'tmp', 'layer-'));
        await plan.apply(scratchDir, this.o.signal);
        layerDir = scratchDir;
      }
      const id = await this.commit(parent, s, plan.createdBy, layerDir);
      this.out(` ---> ${shortId(id)}\n`);
      return id;
    } finally {
      if (holder) await this.runner.remove(holder);
      if (scratchDir) await fsp.rm(scratchDir, { recursive: true, force: true });
    }
  }

  /** COPY --from: an earlier stage (by name or index) or any image, mounted read-only for `fn`. */
  private async withFrom<T>(from: string, stageIndex: number, fn: (rootfs: string, id: string) => Promise<T>): Promise<T> {
    const dep = this.stageRef(from, stageIndex);
    let id: Digest | undefined;
    if (dep !== undefined) {
      id = this.results[dep]?.id;
      if (!id) throw invalid(`COPY --from=${from}: that stage produced no image`);
    } else {
      id =
        this.d.images.tryResolve(from)?.id ??
        (await this.d.pull(from, { registryAuth: this.o.registryAuth, signal: this.o.signal, progress: () => undefined }));
    }
    const holder = await this.runner.createHolder(id);
    try {
      return await this.runner.withRootfs(holder, (rootfs) => fn(rootfs, id));
    } finally {
      await this.runner.remove(holder);
    }
  }
}

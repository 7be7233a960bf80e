/**
 * One build, from a parsed Dockerfile to its final state. Per stage: FROM (a local image, a
 * pull, an earlier stage or scratch; the base's ONBUILD triggers run first), then per
 * instruction: ARG scoping (with the automatic platform and proxy arguments, build-args.ts),
 * the build cache (cache-store.ts) asked by the state the step runs on and the step's key, and
 * on a miss: RUN in a container with its --mount mounts (run-step.ts, run-mounts.ts), COPY/ADD
 * into a holder container's rootfs (copy-step.ts), the rest by changing the config only
 * (metadata.ts). Each new result is committed as a build-cache state, not an image; a cached
 * step costs a lookup: no container, no mount, no copy.
 *
 * `cachefrom` limits the cache as Docker's classic builder does: a step is taken from the
 * cache only when its state is one the named images were built from (or one of them), or when
 * a named image's history continues with this step (cache-from.ts: images pulled, not built here).
 * Output is Docker's: "Step N/M : ...", " ---> Using cache", " ---> Running in <id>", the
 * command's output (stderr in red, as dockerd colours it), " ---> <id>".
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { chainIds, shortId, type Digest } from '../common/digest.js';
import { BerthError, invalid } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ImageCommitter } from '../images/commit.js';
import type { ContainerConfig } from '../images/config.js';
import type { ImageService } from '../images/service.js';
import { formatBuildPlatform, parseBuildPlatform, PROXY_ARGS, type BuildPlatform } from './build-args.js';
import { CacheFromImages } from './cache-from.js';
import type { CacheMounts } from './cache-mounts.js';
import type { BuildCacheStore, BuildState } from './cache-store.js';
import { isDirIn, planCopyStep, type CopyRoots } from './copy-step.js';
import { expandWord, parseDockerfile, type Instruction, type ParsedDockerfile, type Stage } from './dockerfile.js';
import { applyMetadata, commandOf, lookupIn, METADATA_KEYWORDS, shellOf, type StageState } from './metadata.js';
import { csvFields, mountsKey, parseRunMounts, withRunMounts, type MountRoots } from './run-mounts.js';
import { pruneMountPoints, type StepRunner } from './run-step.js';
import type { BuildSecrets } from './secrets.js';

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
  /** Images whose build steps may be reused (`--cache-from`); empty = the whole local cache. */
  cacheFrom: string[];
  /** The network RUN steps join (`--network`): default, none, host, or a network's name or ID. */
  networkMode?: string;
  /** `--add-host` entries ("host:ip") for RUN steps. */
  extraHosts: string[];
  /** HostConfig resource settings for RUN steps (Memory, CpuShares, ShmSize, Ulimits, ...). */
  runLimits: Record<string, unknown>;
  /** Build secrets by id (berth build --secret). */
  secrets: ReadonlyMap<string, Buffer>;
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

export interface RunDeps {
  images: ImageService;
  runner: StepRunner;
  committer: Pick<ImageCommitter, 'commit'>;
  store: BuildCacheStore;
  cacheMounts: CacheMounts;
  secrets: BuildSecrets;
  /** Pulls a base image (the daemon picks credentials for its registry); returns its ID. */
  pull(ref: string, o: { registryAuth: Record<string, unknown>; platform?: string; signal: AbortSignal; progress(m: BuildMessage): void }): Promise<Digest>;
  /** A private scratch directory for this build. */
  tmpDir: string;
  log: Logger;
}

interface StageResult {
  id?: Digest;
  name?: string;
}

/** The step key: the state a step runs on plus what else its result depends on. */
export function stepKey(parent: Digest | undefined, text: string): string {
  return createHash('sha256')
    .update(`${parent ?? 'scratch'}\n${text}`)
    .digest('hex');
}

const RED = '\x1b[91m';
const RESET = '\x1b[0m';

export class BuildRun {
  private readonly out: (text: string) => void;
  private readonly results: StageResult[] = [];
  private readonly globalArgs: Map<string, string>;
  private readonly usedArgs = new Set<string>();
  private step = 0;
  private totalSteps = 0;
  /** With cachefrom: the states a step may be taken from the cache as. */
  private cacheSources?: Set<Digest>;
  /** With cachefrom: the named images, whose history can stand in for steps never run here. */
  private cacheFrom?: CacheFromImages;
  /** The platform of the stage being built (for FROM scratch results and pulls). */
  private stagePlatform?: BuildPlatform;

  constructor(
    private readonly d: RunDeps,
    private readonly df: ParsedDockerfile,
    private readonly contextDir: string,
    private readonly o: BuildOptions,
    /** The automatic platform arguments (build-args.ts). */
    private readonly autoArgs: ReadonlyMap<string, string>,
    /** Marks a state this build stands on, so a prune running meanwhile leaves it alone. */
    private readonly hold: (id: Digest) => void,
  ) {
    this.out = (text) => {
      if (!o.quiet) o.progress({ stream: text });
    };
    this.globalArgs = new Map(autoArgs);
  }

  /** The build's target platform, from the automatic arguments. */
  private get targetPlatform(): BuildPlatform {
    return parseBuildPlatform(this.autoArgs.get('TARGETPLATFORM') ?? 'linux/amd64');
  }

  /** Runs every needed stage; returns the target's final state (or image) ID. */
  async execute(): Promise<Digest> {
    const { stages } = this.df;
    if (stages.length === 0) throw invalid('the Dockerfile has no FROM instruction');
    for (const ins of this.df.globalArgs) this.declareArgs(ins, this.globalArgs, (n) => this.globalArgs.get(n));
    this.cacheSources = this.cacheSourceStates();
    if (this.o.cacheFrom.length > 0) this.cacheFrom = await CacheFromImages.load(this.d.images, this.o.cacheFrom);
    const targetIndex = this.targetIndex();
    const target = stages[targetIndex] as Stage;
    // Labels from the request become a last LABEL step of the target, as in Docker.
    const labels = Object.entries(this.o.labels);
    if (labels.length > 0) {
      const text = labels.map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ');
      target.instructions.push({ keyword: 'LABEL', args: [text], json: false, flags: {}, listFlags: {}, heredocs: [], line: 0, original: `LABEL ${text}` });
    }
    const needed = this.neededStages(targetIndex);
    this.totalSteps = stages.filter((s) => needed.has(s.index)).reduce((n, s) => n + 1 + s.instructions.length, 0);
    let last: Digest | undefined;
    for (const stage of stages) {
      if (!needed.has(stage.index)) continue;
      last = await this.runStage(stage);
      this.results[stage.index] = { ...(last ? { id: last } : {}), ...(stage.name ? { name: stage.name } : {}) };
    }
    const unused = Object.keys(this.o.buildArgs).filter((a) => !this.usedArgs.has(a) && !PROXY_ARGS.has(a));
    if (unused.length > 0) this.out(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    if (!last) throw invalid('No image was generated. Is your Dockerfile empty?');
    return last;
  }

  /** The states the cachefrom images were built from (each image and its ancestors in the cache). */
  private cacheSourceStates(): Set<Digest> | undefined {
    if (this.o.cacheFrom.length === 0) return undefined;
    const states = new Set<Digest>();
    for (const ref of this.o.cacheFrom) {
      let img;
      try {
        img = this.d.images.tryResolve(ref);
      } catch {
        img = undefined;
      }
      if (!img) {
        this.d.log.info('a cache-from image is not here; skipping it', { ref });
        continue;
      }
      for (let id: Digest | undefined = img.id; id && !states.has(id); id = this.d.store.recordOfState(id)?.parentState) states.add(id);
    }
    return states;
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

  /** The target and, transitively, the stages its FROMs, COPY --froms and RUN --mount from=s name. */
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
        const froms: string[] = [];
        if (ins.keyword === 'COPY' && ins.flags['from'] !== undefined) froms.push(ins.flags['from']);
        if (ins.keyword === 'RUN') {
          for (const m of ins.listFlags['mount'] ?? []) {
            for (const f of csvFields(m)) if (f.toLowerCase().startsWith('from=')) froms.push(f.slice(5));
          }
        }
        for (const from of froms) {
          const dep = this.stageRef(expandWord(from, globalLookup, this.df.escape), i);
          if (dep !== undefined) visit(dep);
        }
      }
    };
    visit(target);
    return need;
  }

  /** ARG name[=default] ...: the value is the build-arg, else the default, else the global one (or the automatic one). */
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
      else if (this.autoArgs.has(name)) into.set(name, this.autoArgs.get(name) as string);
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
    if (id) {
      this.hold(id);
      this.out(` ---> ${shortId(id)}\n`);
    }
    const triggers = s.config.OnBuild ?? [];
    // The triggers run once: the states this stage makes do not carry them on.
    s.config.OnBuild = null;
    if (triggers.length > 0) {
      this.out(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      const parsed = parseDockerfile(`FROM scratch\n${triggers.join('\n')}\n`);
      for (const ins of parsed.stages[0]?.instructions ?? []) id = await this.runInstruction(ins, s, id, stage.index);
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
    const platformFlag = stage.platform ? expandWord(stage.platform, (n) => this.globalArgs.get(n), this.df.escape) : undefined;
    const platform = platformFlag || this.o.platform;
    this.stagePlatform = platform ? parseBuildPlatform(platform) : undefined;
    if (name.toLowerCase() === 'scratch') return { config: {} };
    const id = await this.imageId(name, platform, this.o.pull);
    return { id, config: (await this.d.images.config(id)).config ?? {} };
  }

  /** A local image (of the platform asked for, if one is), or one pulled (always with --pull). */
  private async imageId(name: string, platform: string | undefined, pull: boolean): Promise<Digest> {
    const local = pull ? undefined : this.d.images.tryResolve(name)?.id;
    if (local && (!platform || (await this.isPlatform(local, parseBuildPlatform(platform))))) return local;
    return this.d.pull(name, {
      registryAuth: this.o.registryAuth,
      ...(platform ? { platform } : {}),
      signal: this.o.signal,
      progress: (m) => {
        if (!this.o.quiet) this.o.progress(m);
      },
    });
  }

  private async isPlatform(id: Digest, want: BuildPlatform): Promise<boolean> {
    const cfg = await this.d.images.config(id);
    const have = parseBuildPlatform(`${cfg.os || 'linux'}/${cfg.architecture || 'amd64'}${cfg.variant ? `/${cfg.variant}` : ''}`);
    return have.os === want.os && have.architecture === want.architecture && (want.variant === undefined || have.variant === want.variant);
  }

  /** Runs one instruction; returns the state after it. */
  private async runInstruction(ins: Instruction, s: StageState, parent: Digest | undefined, stageIndex: number): Promise<Digest | undefined> {
    switch (ins.keyword) {
      case 'ARG': {
        const names = this.declareArgs(ins, s.args, lookupIn(s), this.globalArgs);
        return this.metadataStep(parent, s, `/bin/sh -c #(nop) ARG ${names.join(' ')}`);
      }
      case 'RUN':
        return this.runStep(ins, s, parent, stageIndex);
      case 'COPY':
      case 'ADD':
        return this.copyStep(ins, s, parent, stageIndex);
      default:
        if (!METADATA_KEYWORDS.has(ins.keyword)) throw invalid(`Dockerfile parse error line ${ins.line}: unknown instruction: ${ins.keyword}`);
        return this.metadataStep(parent, s, applyMetadata(ins, s));
    }
  }

  /** A step's key; on scratch the platform counts too (it is the new image's platform). */
  private keyOf(parent: Digest | undefined, keyText: string): string {
    return stepKey(parent, parent ? keyText : `${keyText}\nplatform=${formatBuildPlatform(this.stagePlatform ?? this.targetPlatform)}`);
  }

  /**
   * The cached result of a step, if the cache has one this build may use; with cachefrom, also
   * one a cache-from image's history gives (`s.config` is the config after the step).
   */
  private async cached(parent: Digest | undefined, keyText: string, createdBy: string, s: StageState): Promise<Digest | undefined> {
    if (this.o.noCache) return undefined;
    const rec = this.d.store.lookup(this.keyOf(parent, keyText));
    const state = rec?.state;
    // Its content must still be there (a prune takes the record first, then the content).
    const top = state ? chainIds(state.diffIds).at(-1) : undefined;
    const usable = rec && state && (!this.cacheSources || this.cacheSources.has(state.id)) && (top === undefined || (await this.d.images.layers.has(top)));
    if (rec && state && usable) {
      this.d.store.touch(rec);
      return this.usingCache(state.id);
    }
    const restored = this.cacheFrom ? await this.cacheFrom.restore(parent, createdBy, s.config) : undefined;
    if (!restored) return undefined;
    try {
      await this.d.store.add({ type: 'regular', key: this.keyOf(parent, keyText), ...(parent ? { parentState: parent } : {}), description: createdBy, state: restored.state });
    } finally {
      restored.release();
    }
    this.cacheSources?.add(restored.state.id);
    return this.usingCache(restored.state.id);
  }

  private usingCache(id: Digest): Digest {
    this.hold(id);
    this.out(` ---> Using cache\n ---> ${shortId(id)}\n`);
    return id;
  }

  private async metadataStep(parent: Digest | undefined, s: StageState, createdBy: string): Promise<Digest> {
    const hit = await this.cached(parent, createdBy, createdBy, s);
    if (hit) return hit;
    const id = await this.commit(parent, s, createdBy, createdBy, undefined);
    this.out(` ---> ${shortId(id)}\n`);
    return id;
  }

  /** Commits a step's result as a build-cache state. */
  private async commit(parent: Digest | undefined, s: StageState, createdBy: string, keyText: string, layerDir: string | undefined): Promise<Digest> {
    const { id } = await this.d.committer.commit(
      {
        ...(parent ? { parent } : {}),
        ...(layerDir ? { layerDir } : {}),
        config: structuredClone(s.config),
        history: { created: new Date().toISOString(), created_by: createdBy, ...(layerDir ? {} : { empty_layer: true }) },
        ...(parent ? {} : { platform: this.stagePlatform ?? this.targetPlatform }),
        keep: async (state: BuildState) => {
          await this.d.store.add({ type: 'regular', key: this.keyOf(parent, keyText), ...(parent ? { parentState: parent } : {}), description: createdBy, state });
        },
      },
      this.o.signal,
    );
    this.hold(id);
    return id;
  }

  /** Where a step's files come from: the context, and earlier stages or images by name. */
  private roots(stageIndex: number): CopyRoots {
    return {
      context: this.contextDir,
      resolveFrom: (from) => this.fromId(from, stageIndex),
      withRootfs: async (id, fn) => {
        const holder = await this.d.runner.createHolder(id);
        try {
          return await this.d.runner.withRootfs(holder, fn);
        } finally {
          await this.d.runner.remove(holder);
        }
      },
    };
  }

  /** COPY --from / --mount from=: an earlier stage (by name or index) or any image. */
  private async fromId(from: string, stageIndex: number): Promise<Digest> {
    const dep = this.stageRef(from, stageIndex);
    if (dep !== undefined) {
      const id = this.results[dep]?.id;
      if (!id) throw invalid(`--from=${from}: that stage produced no image`);
      return id;
    }
    return this.imageId(from, this.o.platform, false);
  }

  private networkOf(ins: Instruction): string | undefined {
    const flag = ins.flags['network'];
    if (flag === undefined || flag === 'default') return this.o.networkMode;
    if (flag === 'none' || flag === 'host') return flag;
    throw invalid(`Dockerfile line ${ins.line}: RUN --network=${flag}: expected default, none or host`);
  }

  private async runStep(ins: Instruction, s: StageState, parent: Digest | undefined, stageIndex: number): Promise<Digest> {
    if (!parent) throw invalid(`RUN needs an image with a shell; this stage is FROM scratch with nothing in it (line ${ins.line})`);
    const security = ins.flags['security'];
    if (security !== undefined && security !== 'sandbox') {
      throw invalid(`Dockerfile line ${ins.line}: RUN --security=${security} is not allowed: this builder runs every step sandboxed`);
    }
    const script = ins.heredocs.length > 0 && /^<<-?["']?\w+["']?$/.test(ins.args.join(' ').trim()) ? ins.heredocs[0] : undefined;
    const cmd = script ? [...shellOf(s), script.body] : commandOf(ins, s);
    // Build args visible to RUN: the stage's declared ARGs not overridden by ENV, plus proxy
    // args given on the command line (those stay out of the history and the key, as in Docker).
    const envNames = new Set((s.config.Env ?? []).map((kv) => kv.split('=', 1)[0]));
    const argEnv = [...s.args].filter(([k]) => !envNames.has(k)).map(([k, v]) => `${k}=${v}`).sort();
    const proxyEnv = Object.entries(this.o.buildArgs)
      .filter((e): e is [string, string] => PROXY_ARGS.has(e[0]) && typeof e[1] === 'string' && !s.args.has(e[0]) && !envNames.has(e[0]))
      .map(([k, v]) => `${k}=${v}`);
    const createdBy = (argEnv.length > 0 ? `|${argEnv.length} ${argEnv.join(' ')} ` : '') + cmd.join(' ');
    const mounts = parseRunMounts(ins.listFlags['mount'] ?? [], s);
    const network = this.networkOf(ins);
    const roots = this.roots(stageIndex);
    const keyText = [createdBy, ...(mounts.length > 0 ? [await mountsKey(mounts, roots)] : []), ...(ins.flags['network'] ? [`network=${ins.flags['network']}`] : [])].join('\n');
    const hit = await this.cached(parent, keyText, createdBy, s);
    if (hit) return hit;
    const mountRoots: MountRoots = { ...roots, cacheMounts: this.d.cacheMounts, secrets: this.d.secrets, tmpDir: this.d.tmpDir };
    return withRunMounts(mounts, mountRoots, cmd.join(' '), async (prepared) => {
      const hostConfig: Record<string, unknown> = {
        ...this.o.runLimits,
        ...(network ? { NetworkMode: network } : {}),
        ...(this.o.extraHosts.length > 0 ? { ExtraHosts: this.o.extraHosts } : {}),
        ...(prepared.hostMounts.length > 0 ? { Mounts: prepared.hostMounts } : {}),
      };
      const cid = await this.d.runner.createRun({ image: parent, cmd, config: s.config, argEnv: [...argEnv, ...proxyEnv], hostConfig });
      this.out(` ---> Running in ${cid.slice(0, 12)}\n`);
      let ok = false;
      try {
        const code = await this.d.runner.run(cid, (b, stream) => this.out(stream === 2 ? `${RED}${b.toString('utf8')}${RESET}` : b.toString('utf8')), this.o.signal);
        if (code !== 0) throw new CommandFailed(`The command '${cmd.join(' ')}' returned a non-zero code: ${code}`, code);
        const upper = this.d.runner.upperDir(cid);
        if (prepared.targets.length > 0) await pruneMountPoints(upper, this.lowerDirs(parent), prepared.targets);
        const id = await this.commit(parent, s, createdBy, keyText, upper);
        ok = true;
        if (this.o.remove || this.o.forceRemove) this.out(`Removing intermediate container ${cid.slice(0, 12)}\n`);
        this.out(` ---> ${shortId(id)}\n`);
        return id;
      } finally {
        // A failed step's container stays for inspection unless --force-rm, as with dockerd.
        if ((ok && this.o.remove) || this.o.forceRemove || this.o.signal.aborted) await this.d.runner.remove(cid);
      }
    });
  }

  /** The layer directories of a state, top first. */
  private lowerDirs(id: Digest): string[] {
    const rec = this.d.images.record(id);
    return rec ? chainIds(rec.diffIds).map((c) => this.d.images.layers.diffDir(c)).reverse() : [];
  }

  private async copyStep(ins: Instruction, s: StageState, parent: Digest | undefined, stageIndex: number): Promise<Digest> {
    const plan = await planCopyStep(ins, s, this.roots(stageIndex), this.o.signal);
    const hit = await this.cached(parent, plan.key, plan.createdBy, s);
    if (hit) return hit;
    let id: Digest;
    if (parent) {
      // The step's container: the destination's directories are those of the state it runs on.
      const holder = await this.d.runner.createHolder(parent);
      try {
        await this.d.runner.withRootfs(holder, (rootfs) => plan.apply(rootfs, (p) => isDirIn(rootfs, p), this.o.signal));
        id = await this.commit(parent, s, plan.createdBy, plan.key, this.d.runner.upperDir(holder));
      } finally {
        await this.d.runner.remove(holder);
      }
    } else {
      await fsp.mkdir(this.d.tmpDir, { recursive: true, mode: 0o700 });
      const scratch = await fsp.mkdtemp(path.join(this.d.tmpDir, 'layer-'));
      try {
        await plan.apply(scratch, (p) => isDirIn(scratch, p), this.o.signal);
        id = await this.commit(parent, s, plan.createdBy, plan.key, scratch);
      } finally {
        await fsp.rm(scratch, { recursive: true, force: true });
      }
    }
    this.out(` ---> ${shortId(id)}\n`);
    return id;
  }
}

import { channel } from 'node:diagnostics_channel';

/**
 * Stage timestamps along a container's life (create -> start -> exit -> remove), published on
 * the diagnostics channel `berth:container:stage` as `{ id, stage, at }` (`at`: performance.now()
 * in ms). Nothing is built or sent while nobody subscribes, so the calls stay in the hot path.
 *
 * BERTH_TRACE_STAGES=1 in berthd's environment subscribes a writer that prints one JSON line
 * per stage on stderr, with the milliseconds since the container's first traced stage and
 * since its previous one: the way to see where a `docker run` spends its time.
 */
export interface StageEvent {
  id: string;
  stage: string;
  at: number;
}

export const STAGE_CHANNEL = 'berth:container:stage';
const stages = channel(STAGE_CHANNEL);

export function traceStage(id: string, stage: string): void {
  if (stages.hasSubscribers) stages.publish({ id, stage, at: performance.now() } satisfies StageEvent);
}

/** Prints stages as JSON lines; returns the unsubscribe function. */
export function printStages(write: (line: string) => void = (l) => process.stderr.write(l)): () => void {
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  const onStage = (m: unknown): void => {
    const e = m as StageEvent;
    const t0 = first.get(e.id) ?? e.at;
    first.set(e.id, t0);
    const prev = last.get(e.id) ?? e.at;
    last.set(e.id, e.at);
    write(`${JSON.stringify({ msg: 'stage', id: e.id.slice(0, 12), stage: e.stage, ms: round(e.at - t0), delta: round(e.at - prev) })}\n`);
    if (e.stage === 'removed') {
      first.delete(e.id);
      last.delete(e.id);
    }
  };
  stages.subscribe(onStage);
  return () => stages.unsubscribe(onStage);
}

const round = (x: number): number => Math.round(x * 100) / 100;

if (process.env['BERTH_TRACE_STAGES'] === '1') printStages();

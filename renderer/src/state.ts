/**
 * App-wide state that outlives screens: the engine status and the engine's event feed (one
 * stream for the whole app, fanned out to the views that listen), and the jobs (pulls) the
 * bridge host runs. Views re-read their data when an event says it changed: no polling loops.
 */
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { EngineStatus, Job, MethodName, MethodParams, MethodResult } from '../../types/desktop-api';
import type { EventMessage } from '../../types/engine-api';
import { bridge, errorText } from './bridge';

type Listener = () => void;

/** A value with subscribers (for useSyncExternalStore). */
class Store<T> {
  private readonly listeners = new Set<Listener>();
  constructor(private value: T) {}
  get = (): T => this.value;
  set(v: T): void {
    this.value = v;
    for (const l of this.listeners) l();
  }
  subscribe = (l: Listener): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };
}

export const engineStatus = new Store<EngineStatus | undefined>(undefined);
export const jobs = new Store<Job[]>([]);
/** The last engine events, newest first (the dashboard's recent activity). */
export const recentEvents = new Store<EventMessage[]>([]);
const eventListeners = new Set<(e: EventMessage) => void>();

let started = false;

/** Opens the app's event and job streams once; each re-opens after a drop (engine or bridge restart). */
export function startFeeds(): void {
  if (started) return;
  started = true;
  const b = bridge();
  const refreshStatus = (): void => {
    b.invoke('engine.status', {}).then(
      (s) => engineStatus.set(s),
      () => undefined,
    );
  };
  const openEvents = (delay: number): void => {
    b.open('events', {}, {
      data: (m) => {
        if (m.type === 'engine') engineStatus.set(m.status);
        else {
          recentEvents.set([m.event, ...recentEvents.get()].slice(0, 50));
          for (const l of eventListeners) l(m.event);
        }
      },
      end: () => setTimeout(() => {
        refreshStatus();
        openEvents(Math.min(delay * 2, 5000));
      }, delay),
    });
  };
  const openJobs = (delay: number): void => {
    b.open('jobs', {}, {
      data: (job) => {
        const rest = jobs.get().filter((j) => j.id !== job.id);
        jobs.set(job.dismissed ? rest : [job, ...rest].sort((x, y) => (x.startedAt < y.startedAt ? 1 : -1)));
      },
      end: () => setTimeout(() => openJobs(Math.min(delay * 2, 5000)), delay),
    });
  };
  refreshStatus();
  openEvents(250);
  openJobs(250);
}

export function useEngineStatus(): EngineStatus | undefined {
  return useSyncExternalStore(engineStatus.subscribe, engineStatus.get);
}

/** When the engine was last seen running (ms), so stale data can say how old it is. */
let lastUp = Date.now();
engineStatus.subscribe(() => {
  if (engineStatus.get()?.state === 'running') lastUp = Date.now();
});
export const lastSeenRunning = (): number => lastUp;

/**
 * Why engine actions cannot be done right now, in plain words, or undefined when they can.
 * Unknown (still connecting) counts as up, so nothing flickers disabled at start.
 */
export function engineDownReason(s: EngineStatus | undefined): string | undefined {
  if (!s || s.state === 'running') return undefined;
  if (s.state === 'starting') return 'The engine is starting: this can be done once it runs.';
  return 'The engine is not running: start it to do this.';
}

export function useEngineDown(): string | undefined {
  return engineDownReason(useEngineStatus());
}

/** Resolves once the engine reports running (at once when it does). */
export function whenEngineUp(): Promise<void> {
  return new Promise((resolve) => {
    if (engineStatus.get()?.state === 'running') return resolve();
    const off = engineStatus.subscribe(() => {
      if (engineStatus.get()?.state !== 'running') return;
      off();
      resolve();
    });
  });
}

export function useRecentEvents(): EventMessage[] {
  return useSyncExternalStore(recentEvents.subscribe, recentEvents.get);
}

export function useJobs(): Job[] {
  return useSyncExternalStore(jobs.subscribe, jobs.get);
}

/** Calls `fn` for every engine event while the component is mounted. */
export function useEngineEvents(fn: (e: EventMessage) => void): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const l = (e: EventMessage): void => ref.current(e);
    eventListeners.add(l);
    return () => {
      eventListeners.delete(l);
    };
  }, []);
}

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
  reload(): void;
}

/**
 * The result of a bridge call, re-read when `params` change, when an engine event of one of
 * `refreshOn` types arrives (debounced), and when the engine comes back.
 */
export function useCall<M extends MethodName>(method: M, params: MethodParams<M>, refreshOn: string[] = []): Loaded<MethodResult<M>> {
  const [data, setData] = useState<MethodResult<M>>();
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(true);
  const key = JSON.stringify(params);
  const seq = useRef(0);
  const reload = useCallback(() => {
    const mine = ++seq.current;
    setLoading(true);
    bridge()
      .invoke(method, JSON.parse(key) as MethodParams<M>)
      .then(
        (v) => {
          if (mine !== seq.current) return;
          setData(v);
          setError(undefined);
        },
        (e: unknown) => {
          if (mine === seq.current) setError(errorText(e));
        },
      )
      .finally(() => {
        if (mine === seq.current) setLoading(false);
      });
  }, [method, key]);
  useEffect(() => reload(), [reload]);
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEngineEvents((e) => {
    if (!refreshOn.includes(e.Type ?? '')) return;
    clearTimeout(timer.current);
    timer.current = setTimeout(reload, 150);
  });
  const status = useEngineStatus();
  const wasUp = useRef(status?.state === 'running');
  useEffect(() => {
    const up = status?.state === 'running';
    if (up && !wasUp.current) reload();
    wasUp.current = up;
  }, [status, reload]);
  useEffect(() => () => clearTimeout(timer.current), []);
  return { data, error, loading, reload };
}

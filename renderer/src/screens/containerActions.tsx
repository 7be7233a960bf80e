/**
 * What the containers list and the detail header share: a container's display name, its
 * published ports as links, live CPU/memory for a set of containers, and the start/stop/
 * restart/pause/delete buttons (delete asks first, and forces for containers still running).
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import type { StatsSample, StreamHandle } from '../../../types/desktop-api';
import type { ContainerState, Port } from '../../../types/engine-api';
import { bridge, errorText } from '../bridge';
import { Button, Confirm, toast } from '../components/ui';
import { Pause, Play, RotateCw, Square, Trash2 } from '../icons';

export function containerName(names: string[] | undefined, id: string): string {
  return names?.[0]?.replace(/^\//, '') ?? id.slice(0, 12);
}

export function isUp(state: ContainerState | string): boolean {
  return state === 'running' || state === 'paused' || state === 'restarting';
}

/** Published ports, one link per host port (IPv4 and IPv6 bindings of one port are one link). */
export function PortLinks(props: { ports: Port[]; hideEmpty?: boolean }): ReactNode {
  const seen = new Set<string>();
  const shown = props.ports.filter((p) => {
    if (!p.PublicPort) return false;
    const k = `${p.PublicPort}/${p.Type}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  if (shown.length === 0) return props.hideEmpty ? null : <span className="muted">—</span>;
  return (
    <span className="ports">
      {shown.map((p) => {
        const text = `${p.PublicPort}→${p.PrivatePort}${p.Type === 'tcp' ? '' : `/${p.Type}`}`;
        if (p.Type !== 'tcp') return <span key={text}>{text}</span>;
        const host = !p.IP || p.IP === '0.0.0.0' || p.IP === '::' ? '127.0.0.1' : p.IP.includes(':') ? `[${p.IP}]` : p.IP;
        const href = `http://${host}:${p.PublicPort}`;
        return (
          <a key={text} href={href} target="_blank" rel="noopener noreferrer" aria-label={`Open ${href} (container port ${p.PrivatePort})`}>
            {text}
          </a>
        );
      })}
    </span>
  );
}

/**
 * The latest stats sample of each container in `ids`, from one stats stream per container,
 * opened when it enters the set and closed when it leaves (so only visible rows stream).
 * Updates are coalesced to one render per animation frame.
 */
export function useLiveStats(ids: string[]): Map<string, StatsSample> {
  const [samples, setSamples] = useState(() => new Map<string, StatsSample>());
  const handles = useRef(new Map<string, StreamHandle<'stats'>>());
  const pending = useRef(new Map<string, StatsSample>());
  const frame = useRef(0);
  const key = [...ids].sort().join(',');
  useEffect(() => {
    const want = new Set(key ? key.split(',') : []);
    for (const [id, h] of handles.current) {
      if (!want.has(id)) {
        handles.current.delete(id);
        h.close();
      }
    }
    for (const id of want) {
      if (handles.current.has(id)) continue;
      const h = bridge().open('stats', { id }, {
        data: (s) => {
          pending.current.set(id, s);
          if (frame.current) return;
          frame.current = requestAnimationFrame(() => {
            frame.current = 0;
            const batch = pending.current;
            pending.current = new Map();
            setSamples((prev) => new Map([...prev, ...batch]));
          });
        },
        end: () => {
          if (handles.current.get(id) === h) handles.current.delete(id);
        },
      });
      handles.current.set(id, h);
    }
  }, [key]);
  useEffect(
    () => () => {
      cancelAnimationFrame(frame.current);
      for (const h of handles.current.values()) h.close();
      handles.current.clear();
    },
    [],
  );
  return samples;
}

export interface ActionTarget {
  id: string;
  name: string;
  state: ContainerState | string;
}

type Verb = 'start' | 'stop' | 'restart' | 'pause' | 'unpause';
const PAST: Record<Verb, string> = { start: 'Started', stop: 'Stopped', restart: 'Restarted', pause: 'Paused', unpause: 'Resumed' };

/** Runs `verb` on every target (in parallel), then one toast for the outcome. */
export async function runOnAll(verb: Verb | 'remove', targets: ActionTarget[]): Promise<void> {
  const results = await Promise.allSettled(
    targets.map((t) => (verb === 'remove' ? bridge().invoke('containers.remove', { id: t.id, force: isUp(t.state) }) : bridge().invoke(`containers.${verb}`, { id: t.id }))),
  );
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${targets[i]!.name}: ${errorText(r.reason)}`] : []));
  const done = targets.length - failed.length;
  const what = verb === 'remove' ? 'Deleted' : PAST[verb];
  if (done > 0) toast(`${what} ${done === 1 && targets.length === 1 ? targets[0]!.name : `${done} container${done === 1 ? '' : 's'}`}`);
  if (failed.length > 0) toast(`${failed.length} failed — ${failed.join('; ')}`, 'bad');
}

/** Asks before deleting; running containers are force-removed (docker rm -f). */
export function ConfirmRemove(props: { targets: ActionTarget[]; onDone: () => void; onCancel: () => void }): ReactNode {
  const running = props.targets.filter((t) => isUp(t.state));
  const one = props.targets.length === 1 ? props.targets[0]! : undefined;
  return (
    <Confirm
      title={one ? `Delete ${one.name}?` : `Delete ${props.targets.length} containers?`}
      message={
        <>
          {one ? 'The container and its writable layer are deleted.' : 'These containers and their writable layers are deleted.'}
          {running.length > 0 && ` ${running.length === 1 && one ? 'It is running: it will be killed first.' : `${running.length} running will be killed first.`}`}
        </>
      }
      confirm="Delete"
      danger
      onCancel={props.onCancel}
      onConfirm={() => {
        props.onDone();
        void runOnAll('remove', props.targets);
      }}
    />
  );
}

/** The per-container buttons; which appear depends on the state. Compact: icons only. */
export function ContainerActions(props: { target: ActionTarget; onRemoved?: () => void; compact?: boolean }): ReactNode {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const t = props.target;
  const act = (verb: Verb): void => {
    setBusy(true);
    void runOnAll(verb, [t]).finally(() => setBusy(false));
  };
  const up = isUp(t.state);
  const small = props.compact === true;
  return (
    <span className={`row actions${small ? ' actions-compact' : ''}`}>
      {!up && (
        <Button label={`Start ${t.name}`} icon={Play} iconOnly={small} engine onClick={() => act('start')} disabled={busy}>
          Start
        </Button>
      )}
      {up && (
        <Button label={`Stop ${t.name}`} icon={Square} iconOnly={small} engine onClick={() => act('stop')} disabled={busy}>
          Stop
        </Button>
      )}
      <Button label={`Restart ${t.name}`} icon={RotateCw} iconOnly={small} engine onClick={() => act('restart')} disabled={busy}>
        Restart
      </Button>
      {t.state === 'running' && (
        <Button label={`Pause ${t.name}`} icon={Pause} iconOnly={small} engine onClick={() => act('pause')} disabled={busy}>
          Pause
        </Button>
      )}
      {t.state === 'paused' && (
        <Button label={`Resume ${t.name}`} icon={Play} iconOnly={small} engine onClick={() => act('unpause')} disabled={busy}>
          Resume
        </Button>
      )}
      <Button kind={small ? 'ghost' : 'danger'} label={`Delete ${t.name}`} icon={Trash2} iconOnly={small} engine onClick={() => setConfirming(true)} disabled={busy}>
        Delete
      </Button>
      {confirming && (
        <ConfirmRemove
          targets={[t]}
          onCancel={() => setConfirming(false)}
          onDone={() => {
            setConfirming(false);
            props.onRemoved?.();
          }}
        />
      )}
    </span>
  );
}

/**
 * A compose project's logs, merged: every service's lines in time order with a coloured
 * service column (the same colour for a service everywhere), followed live, virtualized, with a
 * filter by service and a search that keeps only matching lines. Reconnects when the engine
 * comes back.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { ProjectLogLine } from '../../../types/desktop-api';
import { bridge, errorText } from '../bridge';
import { whenEngineUp } from '../state';

const LINE_HEIGHT = 18;
const MAX_LINES = 100_000;
/** Distinct hues readable on light and dark backgrounds; no red, which reads as an error. */
const PALETTE = ['#2f81f7', '#2da44e', '#bf3989', '#bf8700', '#8250df', '#1b9aaa', '#e16f24', '#6e7781'];

/** A stable colour per service name. */
export function serviceColor(service: string): string {
  let h = 0;
  for (const ch of service) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length]!;
}

export function ProjectLogView(props: { project: string; services: string[] }): ReactNode {
  const lines = useRef<ProjectLogLine[]>([]);
  const [version, setVersion] = useState(0);
  const [service, setService] = useState('*');
  const [query, setQuery] = useState('');
  const [follow, setFollow] = useState(true);
  const [note, setNote] = useState<string>();
  const scroller = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let closed = false;
    let handle: { close(): void } | undefined;
    let frame = 0;
    const open = (first: boolean): void => {
      const since = lines.current.at(-1)?.time;
      handle = bridge().open('projectLogs', { project: props.project, follow: true, ...(first ? { tail: 1000 } : { tail: 0 }) }, {
        data: (m) => {
          const fresh = since ? m.lines.filter((l) => !l.time || l.time > since) : m.lines;
          lines.current.push(...fresh);
          if (lines.current.length > MAX_LINES) lines.current.splice(0, lines.current.length - MAX_LINES);
          if (!frame) frame = requestAnimationFrame(() => ((frame = 0), setVersion((v) => v + 1)));
        },
        end: (err) => {
          if (closed) return;
          setNote(err ? `The log stream stopped: ${errorText(err)}. It resumes when the engine is back.` : 'The log stream ended.');
          if (err) void whenEngineUp().then(() => !closed && (setNote(undefined), open(false)));
        },
      });
    };
    open(true);
    return () => {
      closed = true;
      cancelAnimationFrame(frame);
      handle?.close();
    };
  }, [props.project]);

  const shown = useMemo(() => {
    const q = query.toLowerCase();
    return lines.current.filter((l) => (service === '*' || l.service === service) && (!q || l.text.toLowerCase().includes(q)));
  }, [version, service, query]);
  const width = Math.max(8, ...props.services.map((s) => s.length)) + 1;

  const v = useVirtualizer({ count: shown.length, getScrollElement: () => scroller.current, estimateSize: () => LINE_HEIGHT, overscan: 30 });
  useLayoutEffect(() => {
    if (follow && shown.length) v.scrollToIndex(shown.length - 1, { align: 'end' });
  }, [shown, follow]);

  return (
    <div className="logview">
      <div className="row toolbar">
        <input type="search" aria-label="Search project logs" placeholder="Search logs" value={query} onChange={(e) => setQuery(e.target.value)} />
        <label className="inline-field">
          Service
          <select aria-label="Filter by service" value={service} onChange={(e) => setService(e.target.value)}>
            <option value="*">All services</option>
            {props.services.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Auto-scroll
        </label>
        <span className="spacer" />
        <span className="muted">
          {shown.length.toLocaleString()} line{shown.length === 1 ? '' : 's'}
        </span>
        {note && <span className="muted">{note}</span>}
      </div>
      <div
        className="log-lines mono"
        ref={scroller}
        role="log"
        aria-label={`Logs of project ${props.project}`}
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget;
          if (el.scrollHeight - el.scrollTop - el.clientHeight > LINE_HEIGHT * 2) setFollow(false);
        }}
      >
        <div style={{ height: v.getTotalSize(), position: 'relative' }}>
          {v.getVirtualItems().map((item) => {
            const l = shown[item.index]!;
            return (
              <div key={item.key} className={`log-line${l.stream === 'stderr' ? ' stderr' : ''}`} style={{ transform: `translateY(${item.start}px)`, height: LINE_HEIGHT }}>
                <span className="log-service" style={{ color: serviceColor(l.service), width: `${width}ch` }} title={l.container}>
                  {l.service}
                </span>
                {l.text}
              </div>
            );
          })}
        </div>
        {shown.length === 0 && <p className="muted log-empty">{note ?? 'Waiting for log lines…'}</p>}
      </div>
    </div>
  );
}

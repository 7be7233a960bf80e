/**
 * berthd's log as people read it: its JSON lines ({time, level, msg, ...fields}) shown as
 * "14:02:05  WARN  message  key=value", the level coloured; other lines as they are. The
 * newest line is in view when it opens.
 */
import type { ReactNode } from 'react';
import { formatClock } from '../format';

interface Parsed {
  time?: string;
  level?: string;
  msg: string;
  fields: string;
}

export function parseLogLine(line: string): Parsed {
  if (!line.startsWith('{')) return { msg: line, fields: '' };
  try {
    const { time, level, msg, ...rest } = JSON.parse(line) as Record<string, unknown>;
    const fields = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
      .join(' ');
    const ms = typeof time === 'string' ? Date.parse(time) : NaN;
    return { ...(Number.isFinite(ms) ? { time: formatClock(ms) } : {}), ...(typeof level === 'string' ? { level } : {}), msg: typeof msg === 'string' ? msg : '', fields };
  } catch {
    return { msg: line, fields: '' };
  }
}

export function DaemonLog(props: { text: string }): ReactNode {
  const lines = props.text.split('\n').filter((l) => l !== '');
  return (
    <pre
      className="log-tail"
      tabIndex={0}
      aria-label="Daemon log, last lines"
      ref={(el) => {
        if (el) el.scrollTop = el.scrollHeight;
      }}
    >
      {lines.map((line, i) => {
        const p = parseLogLine(line);
        return (
          <div key={i}>
            {p.time && <span className="muted">{p.time} </span>}
            {p.level && <span className={`lvl-${p.level}`}>{p.level.toUpperCase().padEnd(5)} </span>}
            {p.msg}
            {p.fields && <span className="muted"> {p.fields}</span>}
          </div>
        );
      })}
    </pre>
  );
}

/**
 * A container's logs, followed live. Lines arrive in batches on the `logs` stream and are kept
 * in a plain array (the oldest dropped past MAX_LINES), rendered virtualized so 100k lines
 * scroll smoothly, and repainted at most once per frame. Search highlights matches and steps
 * through matching lines; auto-scroll stops when the user scrolls up and resumes at the bottom.
 * Timestamps are always requested so the toggle does not reopen the stream.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { LogLine } from '../../../types/desktop-api';
import { bridge, errorText } from '../bridge';
import { whenEngineUp } from '../state';
import { ArrowDown, ArrowUp, Copy, Download } from '../icons';
import { Button, toast } from './ui';

const MAX_LINES = 200_000;
/** Dropped at once past MAX_LINES, so trimming is rare rather than per batch. */
const TRIM_CHUNK = 10_000;
const LINE_HEIGHT = 18;

const TAILS = [
  { value: '100', label: 'Last 100' },
  { value: '1000', label: 'Last 1,000' },
  { value: '10000', label: 'Last 10,000' },
  { value: 'all', label: 'All' },
];
const SINCES = [
  { value: 'all', label: 'Any time' },
  { value: '300', label: 'Last 5 minutes' },
  { value: '3600', label: 'Last hour' },
  { value: '86400', label: 'Last 24 hours' },
];

function Highlighted(props: { text: string; query: string }): ReactNode {
  if (!props.query) return props.text;
  const lower = props.text.toLowerCase();
  const q = props.query.toLowerCase();
  const parts: ReactNode[] = [];
  let at = 0;
  for (let i = lower.indexOf(q); i >= 0; i = lower.indexOf(q, i + q.length)) {
    if (i > at) parts.push(props.text.slice(at, i));
    parts.push(<mark key={i}>{props.text.slice(i, i + q.length)}</mark>);
    at = i + q.length;
  }
  parts.push(props.text.slice(at));
  return parts;
}

export function LogView(props: { id: string; name: string }): ReactNode {
  const [tail, setTail] = useState('1000');
  const [since, setSince] = useState('all');
  const [showTime, setShowTime] = useState(false);
  const [wrap, setWrap] = useState(false);
  const [follow, setFollow] = useState(true);
  const [query, setQuery] = useState('');
  const [current, setCurrent] = useState<number>();
  const [ended, setEnded] = useState<string>();
  const [version, setVersion] = useState(0);
  const lines = useRef<LogLine[]>([]);
  /** How many lines were dropped from the front: line i has sequence number base + i. */
  const base = useRef(0);
  const trimmed = useRef(false);
  const frame = useRef(0);
  const scroller = useRef<HTMLDivElement>(null);
  const lastTop = useRef(0);

  useEffect(() => {
    lines.current = [];
    base.current = 0;
    setEnded(undefined);
    setVersion((v) => v + 1);
    let closed = false;
    let h: { close(): void } | undefined;
    const open = (resume: boolean): void => {
      // After the engine came back: only what was written since the last line shown (the engine's
      // `since` has one-second steps, so lines of that last second are skipped by their timestamp).
      const last = resume ? lines.current.at(-1)?.time : undefined;
      const sinceSecs = last ? Math.floor(Date.parse(last) / 1000) : since === 'all' ? undefined : Math.floor(Date.now() / 1000) - Number(since);
      h = bridge().open(
        'logs',
        { id: props.id, follow: true, timestamps: true, ...(tail === 'all' || resume ? {} : { tail: Number(tail) }), ...(sinceSecs ? { since: sinceSecs } : {}) },
        {
          data: (m) => {
            const arr = lines.current;
            for (const l of m.lines) if (!last || !l.time || l.time > last) arr.push(l);
            if (arr.length > MAX_LINES) {
              const drop = arr.length - MAX_LINES + TRIM_CHUNK;
              arr.splice(0, drop);
              base.current += drop;
              trimmed.current = true;
            }
            if (!frame.current)
              frame.current = requestAnimationFrame(() => {
                frame.current = 0;
                setVersion((v) => v + 1);
              });
          },
          end: (err) => {
            if (closed) return;
            // The engine going away can end the stream with or without an error: ask it.
            void bridge()
              .invoke('engine.status', {})
              .catch(() => undefined)
              .then((status) => {
                if (closed) return;
                if (status?.state === 'running') return setEnded(err ? `The log stream failed: ${errorText(err)}` : 'The log stream ended.');
                setEnded('The engine went away: the log resumes when it is back.');
                void whenEngineUp().then(() => {
                  if (closed) return;
                  setEnded(undefined);
                  open(true);
                });
              });
          },
        },
      );
    };
    open(false);
    return () => {
      closed = true;
      cancelAnimationFrame(frame.current);
      frame.current = 0;
      h?.close();
    };
  }, [props.id, tail, since]);

  // Matching lines as sequence numbers, extended incrementally as lines arrive.
  const matchState = useRef({ query: '', scanned: 0, seqs: [] as number[] });
  const matches = useMemo(() => {
    const st = matchState.current;
    const q = query.toLowerCase();
    if (st.query !== q || st.scanned > base.current + lines.current.length) {
      st.query = q;
      st.scanned = base.current;
      st.seqs = [];
    }
    if (!q) return [];
    const arr = lines.current;
    for (let seq = Math.max(st.scanned, base.current); seq < base.current + arr.length; seq++) {
      if (arr[seq - base.current]!.text.toLowerCase().includes(q)) st.seqs.push(seq);
    }
    st.scanned = base.current + arr.length;
    if (st.seqs.length && st.seqs[0]! < base.current) st.seqs = st.seqs.filter((s) => s >= base.current);
    return st.seqs.slice();
  }, [query, version]);

  const v = useVirtualizer({
    count: lines.current.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => LINE_HEIGHT,
    overscan: 30,
    getItemKey: (i) => base.current + i,
  });
  useEffect(() => v.measure(), [wrap]);

  useLayoutEffect(() => {
    if (follow && lines.current.length) v.scrollToIndex(lines.current.length - 1, { align: 'end' });
  }, [version, follow]);

  const goToMatch = (seq: number | undefined): void => {
    setCurrent(seq);
    if (seq === undefined) return;
    setFollow(false);
    v.scrollToIndex(seq - base.current, { align: 'center' });
  };
  useEffect(() => goToMatch(matches[0]), [query]);
  const curIdx = current === undefined ? -1 : matches.indexOf(current);
  const step = (dir: 1 | -1): void => {
    if (matches.length === 0) return;
    const i = curIdx < 0 ? (dir === 1 ? 0 : matches.length - 1) : (curIdx + dir + matches.length) % matches.length;
    goToMatch(matches[i]);
  };

  const onScroll = (): void => {
    const el = scroller.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < LINE_HEIGHT * 2;
    // Dropping old lines shrinks the content and moves scrollTop up: that is not the user.
    if (atBottom) setFollow(true);
    else if (el.scrollTop < lastTop.current - 1 && !trimmed.current) setFollow(false);
    trimmed.current = false;
    lastTop.current = el.scrollTop;
  };

  const asText = (): string => lines.current.map((l) => (showTime && l.time ? `${l.time} ${l.text}` : l.text)).join('\n');
  const copyAll = (): void => {
    navigator.clipboard.writeText(asText()).then(
      () => toast(`Copied ${lines.current.length} lines`),
      (e: unknown) => toast(`Copy failed: ${errorText(e)}`, 'bad'),
    );
  };
  const download = (): void => {
    const url = URL.createObjectURL(new Blob([asText() + '\n'], { type: 'text/plain' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `${props.name}.log`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 0);
  };

  const count = lines.current.length;
  return (
    <div className="logview">
      <div className="row toolbar">
        <input
          type="search"
          aria-label="Search logs"
          placeholder="Search logs"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={(e) => {
            if (e.key !== 'Enter') return;
            e.preventDefault();
            step(e.shiftKey ? -1 : 1);
          }}
        />
        <Button label="Previous match" icon={ArrowUp} iconOnly onClick={() => step(-1)} disabled={matches.length === 0} />
        <Button label="Next match" icon={ArrowDown} iconOnly onClick={() => step(1)} disabled={matches.length === 0} />
        <span className="muted" role="status" aria-live="polite">
          {query ? (matches.length ? `${curIdx + 1} of ${matches.length} matching lines` : 'No matches') : ''}
        </span>
        <span className="spacer" />
        <label>
          <input type="checkbox" checked={showTime} onChange={(e) => setShowTime(e.target.checked)} /> Timestamps
        </label>
        <label>
          <input type="checkbox" checked={wrap} onChange={(e) => setWrap(e.target.checked)} /> Wrap lines
        </label>
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Auto-scroll
        </label>
      </div>
      <div className="row toolbar">
        <label>
          Tail{' '}
          <select value={tail} onChange={(e) => setTail(e.target.value)}>
            {TAILS.map((t) => (
              <option key={t.value} value={t.value}>
                {t.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Since{' '}
          <select value={since} onChange={(e) => setSince(e.target.value)}>
            {SINCES.map((t) => (
              <option key={t.value} value={t.value}>
                {t.label}
              </option>
            ))}
          </select>
        </label>
        <Button icon={Copy} onClick={copyAll} disabled={count === 0}>
          Copy all
        </Button>
        <Button icon={Download} onClick={download} disabled={count === 0}>
          Download .log
        </Button>
        <span className="muted">
          {count.toLocaleString()} line{count === 1 ? '' : 's'}
          {base.current > 0 && ` (oldest ${base.current.toLocaleString()} dropped)`}
        </span>
        {ended && <span className="muted">{ended}</span>}
      </div>
      <div className={`log-lines mono${wrap ? ' wrap' : ''}`} ref={scroller} onScroll={onScroll} role="log" aria-live="off" aria-label={`Logs of ${props.name}`} tabIndex={0}>
        <div style={{ height: v.getTotalSize(), position: 'relative' }}>
          {v.getVirtualItems().map((item) => {
            const l = lines.current[item.index];
            if (!l) return null;
            const seq = base.current + item.index;
            return (
              <div
                key={item.key}
                data-index={item.index}
                ref={wrap ? v.measureElement : undefined}
                className={`log-line${l.stream === 'stderr' ? ' stderr' : ''}${seq === current ? ' current' : ''}`}
                style={{ transform: `translateY(${item.start}px)`, ...(wrap ? {} : { height: LINE_HEIGHT }) }}
              >
                {showTime && l.time && <span className="log-time">{l.time} </span>}
                <Highlighted text={l.text} query={query} />
              </div>
            );
          })}
        </div>
        {count === 0 && <p className="muted log-empty">{ended ?? 'Waiting for log lines…'}</p>}
      </div>
    </div>
  );
}

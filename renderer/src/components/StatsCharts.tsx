/**
 * Live resource charts from the `stats` stream: CPU %, memory, network and block I/O rates over
 * the last two minutes, drawn with uPlot (canvas, cheap to update every second). The current
 * values are also plain text next to the charts, which is what screen readers get.
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { StatsSample } from '../../../types/desktop-api';
import { bridge, errorText } from '../bridge';
import { formatBytes, formatClock, percent } from '../format';

const WINDOW_SECS = 120;
/** Time-axis tick steps in seconds (uPlot picks the first that leaves room between labels). */
const TIME_STEPS = [1, 5, 10, 15, 30, 60, 120, 300];

interface Point {
  t: number;
  cpu: number;
  mem: number;
  memLimit: number;
  rx: number;
  tx: number;
  read: number;
  write: number;
  pids: number;
}

/** Rates are differences of the cumulative counters between two samples. */
function toPoint(s: StatsSample, prev: StatsSample | undefined): Point {
  const t = Date.parse(s.time) / 1000;
  const dt = prev ? Math.max(t - Date.parse(prev.time) / 1000, 1e-3) : 0;
  const rate = (now: number, before: number | undefined): number => (prev && before !== undefined ? Math.max(0, (now - before) / dt) : 0);
  return {
    t,
    cpu: s.cpuPercent,
    mem: s.memoryBytes,
    memLimit: s.memoryLimitBytes,
    rx: rate(s.networkRxBytes, prev?.networkRxBytes),
    tx: rate(s.networkTxBytes, prev?.networkTxBytes),
    read: rate(s.blockReadBytes, prev?.blockReadBytes),
    write: rate(s.blockWriteBytes, prev?.blockWriteBytes),
    pids: s.pids,
  };
}

interface ChartDef {
  id: string;
  title: string;
  series: { label: string; pick(p: Point): number; color: string }[];
  format(n: number): string;
}

const CHARTS: ChartDef[] = [
  { id: 'cpu', title: 'CPU', series: [{ label: 'CPU %', pick: (p) => p.cpu, color: '#1f6feb' }], format: (n) => percent(n) },
  { id: 'mem', title: 'Memory', series: [{ label: 'Memory', pick: (p) => p.mem, color: '#8250df' }], format: (n) => formatBytes(n) },
  {
    id: 'net',
    title: 'Network',
    series: [
      { label: 'Received/s', pick: (p) => p.rx, color: '#1a7f37' },
      { label: 'Sent/s', pick: (p) => p.tx, color: '#bf8700' },
    ],
    format: (n) => `${formatBytes(n)}/s`,
  },
  {
    id: 'blk',
    title: 'Block I/O',
    series: [
      { label: 'Read/s', pick: (p) => p.read, color: '#0969da' },
      { label: 'Written/s', pick: (p) => p.write, color: '#cf222e' },
    ],
    format: (n) => `${formatBytes(n)}/s`,
  },
];

function Chart(props: { def: ChartDef; points: Point[]; now: string }): ReactNode {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot>(undefined);
  const data = (): uPlot.AlignedData => [props.points.map((p) => p.t), ...props.def.series.map((s) => props.points.map(s.pick))];

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const css = getComputedStyle(document.documentElement);
    const axisColor = css.getPropertyValue('--muted').trim() || '#888';
    const gridColor = css.getPropertyValue('--border').trim() || '#ddd';
    const axis = { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } };
    const u = new uPlot(
      {
        width: Math.max(el.clientWidth, 200),
        height: 160,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(max, min, props.def.id === 'cpu' ? 1 : 1024)] } },
        axes: [
          // Clock times on whole 5/10/15/30/60-second steps ("14:02:30"), not uPlot's ":54.500".
          { ...axis, space: 70, incrs: TIME_STEPS, values: (_u, vals) => vals.map((v) => formatClock(v * 1000)) },
          { ...axis, size: 76, space: 30, values: (_u, vals) => vals.map((v) => props.def.format(v)) },
        ],
        series: [{}, ...props.def.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, value: (_u: uPlot, v: number | null) => (v === null ? '—' : props.def.format(v)) }))],
      },
      data(),
      el,
    );
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(el.clientWidth, 200), height: 160 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = undefined;
    };
  }, [props.def]);

  useEffect(() => plot.current?.setData(data()), [props.points]);

  return (
    <figure className="chart" aria-label={`${props.def.title} over the last two minutes, now ${props.now}`}>
      <figcaption>
        {props.def.title} <span className="muted">· {props.now}</span>
      </figcaption>
      <div ref={box} className="chart-plot" aria-hidden="true" />
    </figure>
  );
}

export function StatsCharts(props: { id: string; running: boolean }): ReactNode {
  const [points, setPoints] = useState<Point[]>([]);
  const [ended, setEnded] = useState<string>();
  const prev = useRef<StatsSample>(undefined);
  const pending = useRef<Point[]>([]);
  const frame = useRef(0);

  useEffect(() => {
    if (!props.running) return;
    setEnded(undefined);
    const h = bridge().open('stats', { id: props.id }, {
      data: (s) => {
        pending.current.push(toPoint(s, prev.current));
        prev.current = s;
        if (frame.current) return;
        frame.current = requestAnimationFrame(() => {
          frame.current = 0;
          const batch = pending.current;
          pending.current = [];
          setPoints((old) => {
            const all = [...old, ...batch];
            const from = all[all.length - 1]!.t - WINDOW_SECS;
            return all.filter((p) => p.t >= from);
          });
        });
      },
      end: (err) => setEnded(err ? `Stats stopped: ${errorText(err)}` : undefined),
    });
    return () => {
      cancelAnimationFrame(frame.current);
      frame.current = 0;
      h.close();
    };
  }, [props.id, props.running]);

  if (!props.running && points.length === 0) return <p className="muted">The container is not running: start it to see its resource usage.</p>;
  const last = points[points.length - 1];
  const now = (d: ChartDef): string => (last ? d.series.map((s) => (d.series.length > 1 ? `${s.label} ${d.format(s.pick(last))}` : d.format(s.pick(last)))).join(', ') : '—');
  return (
    <div className="stats">
      {ended && <p className="muted">{ended}</p>}
      <dl className="stats-now" aria-label="Current usage">
        <div>
          <dt>CPU</dt>
          <dd>{last ? percent(last.cpu) : '—'}</dd>
        </div>
        <div>
          <dt>Memory</dt>
          <dd>{last ? `${formatBytes(last.mem)}${last.memLimit ? ` of ${formatBytes(last.memLimit)}` : ''}` : '—'}</dd>
        </div>
        <div>
          <dt>Network</dt>
          <dd>{last ? `↓ ${formatBytes(last.rx)}/s ↑ ${formatBytes(last.tx)}/s` : '—'}</dd>
        </div>
        <div>
          <dt>Block I/O</dt>
          <dd>{last ? `read ${formatBytes(last.read)}/s, write ${formatBytes(last.write)}/s` : '—'}</dd>
        </div>
        <div>
          <dt>Processes</dt>
          <dd>{last ? last.pids : '—'}</dd>
        </div>
      </dl>
      <div className="charts">
        {CHARTS.map((d) => (
          <Chart key={d.id} def={d} points={points} now={now(d)} />
        ))}
      </div>
    </div>
  );
}

/**
 * The pulls, pushes and builds the bridge host runs or ran recently: a panel that folds to one
 * line (remembered), each finished job dismissible, "Clear finished" for all of them, and a
 * bounded height, so a long history never pushes the list it sits above off the screen.
 */
import { useState, type ReactNode } from 'react';
import { bridge } from '../bridge';
import { ChevronDown, ChevronRight } from '../icons';
import { useJobs } from '../state';
import { JobProgress } from './PullDialog';
import { Button } from './ui';

const KEY = 'berth.jobs.collapsed';

export function JobsPanel(): ReactNode {
  const jobs = useJobs();
  const [collapsed, setCollapsed] = useState(() => localStorage.getItem(KEY) === '1');
  if (jobs.length === 0) return null;
  const running = jobs.filter((j) => j.state === 'running').length;
  const failed = jobs.filter((j) => j.state === 'failed').length;
  const finished = jobs.length - running;
  const toggle = (): void => {
    localStorage.setItem(KEY, collapsed ? '0' : '1');
    setCollapsed(!collapsed);
  };
  const Chevron = collapsed ? ChevronRight : ChevronDown;
  return (
    <section className="panel jobs-panel" aria-labelledby="jobs-title">
      <div className="row jobs-head">
        <button type="button" className="disclosure" aria-expanded={!collapsed} aria-controls="jobs-list" onClick={toggle}>
          <Chevron size={16} aria-hidden="true" />
          <h2 id="jobs-title">Pulls, pushes and builds</h2>
        </button>
        <span className="muted">
          {running > 0 ? `${running} running` : 'none running'}
          {failed > 0 ? ` · ${failed} failed` : ''}
        </span>
        <span className="spacer" />
        {finished > 0 && (
          <Button size="small" kind="ghost" onClick={() => void bridge().invoke('jobs.clearFinished', {}).catch(() => undefined)}>
            Clear finished
          </Button>
        )}
      </div>
      {!collapsed && (
        <div id="jobs-list" className="jobs-list">
          {jobs.slice(0, 20).map((j) => (
            <JobProgress key={j.id} job={j} showLayers={j.state === 'running'} dismissible />
          ))}
        </div>
      )}
    </section>
  );
}

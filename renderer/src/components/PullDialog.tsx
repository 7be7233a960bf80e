/**
 * Pulling an image: the name (with local repositories and tags as suggestions), then the pull's
 * progress per layer and in total. The pull is a job in the bridge host, so closing this dialog or
 * leaving the screen does not stop it; reopening shows the same job again, and the Images screen
 * lists every running and recent job with `JobProgress`.
 */
import { useState, type ReactNode } from 'react';
import type { Job, LayerProgress } from '../../../types/desktop-api';
import { bridge } from '../bridge';
import { formatBytes, shortId } from '../format';
import { useCall, useJobs } from '../state';
import { AlertTriangle, X } from '../icons';
import { FormDialog, useSubmit } from './FormDialog';
import { Button } from './ui';

/** How far one layer is, 0..1: downloading is the first half, extracting the second. */
function layerFraction(l: LayerProgress): number {
  const s = l.status.toLowerCase();
  const part = l.total && l.current !== undefined ? Math.min(1, l.current / l.total) : 0;
  if (s.startsWith('pull complete') || s.startsWith('already exists')) return 1;
  // A push: uploading, then pushed, already there, or mounted from another repository.
  if (s.startsWith('pushed') || s.startsWith('layer already exists') || s.startsWith('mounted from')) return 1;
  if (s.startsWith('pushing')) return part;
  if (s.startsWith('extracting')) return 0.5 + part / 2;
  if (s.startsWith('download complete') || s.startsWith('verifying')) return 0.5;
  if (s.startsWith('downloading')) return part / 2;
  return 0;
}

export interface JobTotals {
  percent: number;
  layersDone: number;
  layers: number;
  bytesDone: number;
  bytesTotal: number;
}

export function jobTotals(job: Job): JobTotals {
  const layers = job.layers;
  let bytesDone = 0;
  let bytesTotal = 0;
  for (const l of layers) {
    if (!l.total) continue;
    bytesTotal += l.total;
    bytesDone += /^(downloading|pushing)/i.test(l.status) ? (l.current ?? 0) : l.total;
  }
  const sum = layers.reduce((n, l) => n + layerFraction(l), 0);
  const percent = job.state === 'done' ? 100 : layers.length ? Math.round((sum / layers.length) * 100) : 0;
  return { percent, layersDone: layers.filter((l) => layerFraction(l) === 1).length, layers: layers.length, bytesDone, bytesTotal };
}

function Bar(props: { label: string; percent: number; text: string }): ReactNode {
  return (
    <div className="progress" role="progressbar" aria-label={props.label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={props.percent} aria-valuetext={props.text}>
      <div style={{ width: `${props.percent}%` }} />
    </div>
  );
}

/** A failed pull in plain words, with what to do next; the engine's own text under "Details". */
export function JobFailure(props: { job: Job }): ReactNode {
  const { job } = props;
  if (!job.error) return null;
  if (!job.problem)
    return (
      <p className="job-error" role="alert">
        {job.error}
      </p>
    );
  return (
    <div className="job-problem" role="alert">
      <p className="job-problem-summary">
        <AlertTriangle size={16} aria-hidden="true" /> {job.problem.summary}
      </p>
      <p className="job-problem-hint">{job.problem.hint}</p>
      <details>
        <summary>Details</summary>
        <code className="job-problem-raw">{job.error}</code>
      </details>
    </div>
  );
}

/** One job: totals, a bar per layer, its message or error, Cancel while it runs, Dismiss after. */
export function JobProgress(props: { job: Job; showLayers?: boolean; dismissible?: boolean }): ReactNode {
  const { job } = props;
  const t = jobTotals(job);
  const summary =
    `${t.layersDone} of ${t.layers} layers complete` +
    (t.bytesTotal ? ` · ${formatBytes(t.bytesDone)} of ${formatBytes(t.bytesTotal)} ${job.kind === 'push' ? 'uploaded' : 'downloaded'}` : '');
  const cancel = (): void => {
    void bridge().invoke('jobs.cancel', { id: job.id }).catch(() => undefined);
  };
  return (
    <div className="job" aria-label={`Job: ${job.title}`} role="group">
      <div className="row">
        <strong>{job.title}</strong>
        <span className={`badge badge-${job.state === 'done' ? 'ok' : job.state === 'failed' ? 'bad' : job.state === 'running' ? 'warn' : 'idle'}`}>{job.state}</span>
        <span className="spacer" />
        {job.state === 'running' && (
          <Button onClick={cancel} label={`Cancel ${job.title}`} size="small">
            Cancel
          </Button>
        )}
        {props.dismissible && job.state !== 'running' && (
          <Button
            kind="ghost"
            size="small"
            icon={X}
            iconOnly
            label={`Dismiss ${job.title}`}
            onClick={() => void bridge().invoke('jobs.dismiss', { id: job.id }).catch(() => undefined)}
          />
        )}
      </div>
      <div aria-live="polite">
        {job.kind !== 'build' && !(job.state === 'failed' && t.layers === 0) && (
          <>
            <Bar label={`${job.title}: overall progress`} percent={t.percent} text={`${t.percent}% · ${summary}`} />
            <p className="muted job-summary">
              {t.percent}% · {summary}
            </p>
          </>
        )}
        {job.message && job.state !== 'failed' && <p className="job-message">{job.message}</p>}
      </div>
      {job.output && job.output.length > 0 && (
        <pre className="job-output" role="log" aria-label={`Output of ${job.title}`}>
          {job.output.slice(-300).join('')}
        </pre>
      )}
      <JobFailure job={job} />
      {props.showLayers !== false && job.layers.length > 0 && (
        <ul className="layers" aria-label={`Layers of ${job.title}`}>
          {job.layers.map((l) => {
            const pct = Math.round(layerFraction(l) * 100);
            const bytes = l.total ? ` ${formatBytes(l.current ?? 0)} / ${formatBytes(l.total)}` : '';
            return (
              <li key={l.id}>
                <span className="mono">{shortId(l.id)}</span>
                <Bar label={`Layer ${shortId(l.id)}`} percent={pct} text={`${l.status}${bytes}`} />
                <span className="muted">
                  {l.status}
                  {bytes}
                </span>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}

/** The job this dialog last started: reopening the dialog shows it again. */
let watchedJob: string | undefined;

export function PullDialog(props: { onClose: () => void; initialRef?: string }): ReactNode {
  const images = useCall('images.list', {}, ['image']);
  const all = useJobs();
  const [ref, setRef] = useState(props.initialRef ?? '');
  const [jobId, setJobId] = useState(watchedJob);
  const submitting = useSubmit();
  const error = submitting.error;
  const job = all.find((j) => j.id === jobId);
  const suggestions = [...new Set((images.data ?? []).flatMap((i) => i.RepoTags).filter((t) => t !== '<none>:<none>'))].sort();

  const start = (): void => {
    const r = ref.trim();
    if (r === '') return submitting.setError('Type an image name, e.g. nginx:alpine or registry.example.com/team/app:1.0.');
    void submitting.run(async () => {
      const { jobId: id } = await bridge().invoke('images.pull', { ref: r });
      watchedJob = id;
      setJobId(id);
    });
  };

  return (
    <FormDialog
      title="Pull an image"
      onClose={props.onClose}
      wide
      onSubmit={start}
      busy={submitting.busy}
      submitLabel="Pull"
      cancelLabel={job?.state === 'running' ? 'Close (keeps pulling)' : 'Close'}
    >
      <label className="field">
        Image
        <input
          value={ref}
          onChange={(e) => setRef(e.target.value)}
          list="pull-suggestions"
          placeholder="nginx:alpine, or registry.example.com/team/app:1.0"
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'pull-error' : undefined}
          autoComplete="off"
        />
      </label>
      <datalist id="pull-suggestions">
        {suggestions.map((s) => (
          <option key={s} value={s} />
        ))}
      </datalist>
      {error && (
        <p id="pull-error" className="field-error" role="alert">
          {error}
        </p>
      )}
      {job ? <JobProgress job={job} /> : jobId && <p className="muted">Waiting for the pull to report progress…</p>}
    </FormDialog>
  );
}

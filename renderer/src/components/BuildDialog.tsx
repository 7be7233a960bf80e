/**
 * Building an image from a folder: the folder (on the machine running Berth's bridge, where the
 * engine's client is), the Dockerfile in it, a tag and build args. The build runs as a job in the
 * bridge host, so its live output keeps coming when the dialog closes (Images lists the jobs).
 */
import { useState, type ReactNode } from 'react';
import { bridge } from '../bridge';
import { useJobs } from '../state';
import { JobProgress } from './PullDialog';
import { FormDialog, useSubmit } from './FormDialog';

/** The job this dialog last started: reopening the dialog shows it again. */
let watchedBuild: string | undefined;

function parseArgs(text: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const eq = line.indexOf('=');
    if (eq <= 0) return `"${line}" is not NAME=value`;
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

export function BuildDialog(props: { onClose: () => void }): ReactNode {
  const [context, setContext] = useState('');
  const [dockerfile, setDockerfile] = useState('Dockerfile');
  const [tag, setTag] = useState('');
  const [args, setArgs] = useState('');
  const [noCache, setNoCache] = useState(false);
  const submitting = useSubmit();
  const error = submitting.error;
  const [jobId, setJobId] = useState(watchedBuild);
  const job = useJobs().find((j) => j.id === jobId);

  const start = (): void => {
    if (!context.trim().startsWith('/')) return submitting.setError('Give the folder as an absolute path, e.g. /home/me/app.');
    const buildArgs = parseArgs(args);
    if (typeof buildArgs === 'string') return submitting.setError(`Build arguments: ${buildArgs}.`);
    void submitting.run(async () => {
      const { jobId: id } = await bridge().invoke('images.build', {
        context: context.trim(),
        ...(dockerfile.trim() ? { dockerfile: dockerfile.trim() } : {}),
        ...(tag.trim() ? { tags: [tag.trim()] } : {}),
        ...(Object.keys(buildArgs).length > 0 ? { buildArgs } : {}),
        noCache,
      });
      watchedBuild = id;
      setJobId(id);
    });
  };

  return (
    <FormDialog
      title="Build an image"
      wide
      onClose={props.onClose}
      onSubmit={start}
      busy={submitting.busy}
      submitLabel="Build"
      canSubmit={job?.state !== 'running'}
      cancelLabel="Close"
    >
      <label className="field">
        Folder (the build context)
        <input value={context} onChange={(e) => setContext(e.target.value)} placeholder="/home/me/app" />
      </label>
      <div className="row">
        <label className="field">
          Dockerfile
          <input value={dockerfile} onChange={(e) => setDockerfile(e.target.value)} />
        </label>
        <label className="field">
          Tag
          <input value={tag} onChange={(e) => setTag(e.target.value)} placeholder="app:dev" />
        </label>
      </div>
      <label className="field">
        Build arguments (NAME=value, one per line)
        <textarea rows={2} value={args} onChange={(e) => setArgs(e.target.value)} />
      </label>
      <label className="row">
        <input type="checkbox" checked={noCache} onChange={(e) => setNoCache(e.target.checked)} /> Do not use the cache
      </label>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      {job && <JobProgress job={job} />}
    </FormDialog>
  );
}

/**
 * Desktop notifications for long jobs: when a pull finishes (or fails) while the window is not
 * in front, the system says so. Follows the host's jobs stream; a job seen finished on open (an
 * older one) is not announced.
 */
import { Notification } from 'electron';
import type { BridgeHost } from '../desktop/bridge/index.js';
import type { Job } from '../types/desktop-api.js';

/** The notification for a job that just finished, or undefined for one still running. */
export function jobNotice(job: Job): { title: string; body: string } | undefined {
  if (job.state === 'running') return undefined;
  if (job.state === 'done') return { title: `${job.title}: done`, body: job.message ?? 'Finished.' };
  if (job.state === 'cancelled') return { title: `${job.title}: cancelled`, body: 'Stopped on request.' };
  return { title: `${job.title}: failed`, body: job.error ?? 'The job failed.' };
}

export function notifyJobs(opts: { host: BridgeHost; windowFocused(): boolean }): () => void {
  const running = new Set<string>();
  const stream = opts.host.open('jobs', {}, {
    data(job) {
      if (job.state === 'running') {
        running.add(job.id);
        return;
      }
      if (!running.delete(job.id)) return;
      const notice = jobNotice(job);
      if (notice && !opts.windowFocused() && Notification.isSupported()) new Notification(notice).show();
    },
    end() {
      // the host is closing
    },
  });
  return () => stream.close();
}

/**
 * Which job updates become desktop notifications, as plain logic: a job seen running and then
 * finished (done, failed or cancelled) is announced once, and only while the window is not in
 * front (in front, the renderer already shows it). A job first seen already finished (an older
 * one, replayed when the jobs stream opens) is not announced.
 */
import type { Job } from '../types/desktop-api.js';

export interface Notice {
  title: string;
  body: string;
}

/** The notification for a job that just finished, or undefined for one still running. */
export function jobNotice(job: Job): Notice | undefined {
  if (job.state === 'running') return undefined;
  if (job.state === 'done') return { title: `${job.title}: done`, body: job.message ?? 'Finished.' };
  if (job.state === 'cancelled') return { title: `${job.title}: cancelled`, body: 'Stopped on request.' };
  return { title: `${job.title}: failed`, body: job.error ?? 'The job failed.' };
}

export class JobNotices {
  private readonly running = new Set<string>();

  /** Feeds one update from the jobs stream; returns what to show, if anything. */
  update(job: Job, windowFocused: boolean): Notice | undefined {
    if (job.state === 'running') {
      this.running.add(job.id);
      return undefined;
    }
    if (!this.running.delete(job.id)) return undefined;
    return windowFocused ? undefined : jobNotice(job);
  }
}

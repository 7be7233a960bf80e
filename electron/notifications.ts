/**
 * Desktop notifications for long jobs (job-notices.ts decides which): follows the host's jobs
 * stream and shows the system's notification where it has one.
 */
import { Notification } from 'electron';
import type { BridgeHost } from '../desktop/bridge/index.js';
import { JobNotices } from './job-notices.js';

export function notifyJobs(opts: { host: BridgeHost; windowFocused(): boolean }): () => void {
  const notices = new JobNotices();
  const stream = opts.host.open('jobs', {}, {
    data(job) {
      const notice = notices.update(job, opts.windowFocused());
      if (notice && Notification.isSupported()) new Notification(notice).show();
    },
    end() {
      // the host is closing
    },
  });
  return () => stream.close();
}

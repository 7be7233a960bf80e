/**
 * The files a conmon state dir holds and what monitor.json records. Shared by the container
 * monitor (monitor.ts) and exec sessions (monitor/exec.ts): an exec's dir has the same layout, so
 * the same exit, liveness and resize code works on both.
 */
export const MONITOR_FILES = {
  meta: 'monitor.json',
  conmonPid: 'conmon.pid',
  containerPid: 'container.pid',
  exit: 'exit',
  oom: 'oom',
  conmonLog: 'conmon.log',
} as const;

/** What monitor.json holds. */
export interface MonitorMeta {
  version: 1;
  id: string;
  bundle: string;
  runtime: string;
  runtimeRoot: string;
  runtimeArgs: string[];
  logPath: string;
  terminal: boolean;
  stdin: boolean;
  leaveStdinOpen: boolean;
  createdAt: string;
  pid?: number;
  pidStartTime?: number;
  conmonPid?: number;
  conmonStartTime?: number;
}

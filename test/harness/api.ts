// Small helpers for talking to berthd's API in tests (owned by the e2e tests).
import type { TestDaemon } from './daemon.js';

export function parseNdjson(body: Buffer): Array<Record<string, unknown>> {
  return body
    .toString('utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function registryAuthHeader(auth: Record<string, string>): string {
  return Buffer.from(JSON.stringify(auth)).toString('base64url');
}

export interface PullResult {
  status: number;
  messages: Array<Record<string, unknown>>;
  /** The error: from the HTTP error body, or the stream's error message. */
  error?: string;
}

/** POST /images/create, collecting the whole progress stream. */
export async function pull(
  d: TestDaemon,
  fromImage: string,
  tag: string | undefined,
  opts: { platform?: string; auth?: Record<string, string> } = {},
): Promise<PullResult> {
  const q = new URLSearchParams({ fromImage });
  if (tag !== undefined) q.set('tag', tag);
  if (opts.platform) q.set('platform', opts.platform);
  const headers: Record<string, string> = {};
  if (opts.auth) headers['X-Registry-Auth'] = registryAuthHeader(opts.auth);
  const res = await d.request('POST', `/v1.47/images/create?${q.toString()}`, undefined, headers);
  if (res.status !== 200) {
    return { status: res.status, messages: [], error: (res.json() as { message?: string }).message ?? '' };
  }
  const messages = parseNdjson(res.body);
  const failed = messages.find((m) => m['error']);
  return failed ? { status: res.status, messages, error: String(failed['error']) } : { status: res.status, messages };
}

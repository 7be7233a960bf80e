/**
 * The volume endpoints of the Engine API (v1.47), as `client.volumes`: list, create, inspect,
 * remove and prune.
 */
import type { Filters, PruneVolumesResponse, Volume, VolumeCreateBody, VolumeListResponse } from '../types/engine-api.js';
import type { HttpTransport } from './http.js';

export class VolumeApi {
  constructor(private readonly t: HttpTransport) {}

  /** GET /volumes */
  list(opts: { filters?: Filters } = {}): Promise<VolumeListResponse> {
    return this.t.json<VolumeListResponse>({ method: 'GET', path: '/volumes', query: { filters: opts.filters } });
  }

  /** POST /volumes/create (the same name again returns the existing volume) */
  create(body: VolumeCreateBody = {}): Promise<Volume> {
    return this.t.json<Volume>({ method: 'POST', path: '/volumes/create', json: body });
  }

  /** GET /volumes/{name} */
  inspect(name: string): Promise<Volume> {
    return this.t.json<Volume>({ method: 'GET', path: `/volumes/${encodeURIComponent(name)}` });
  }

  /** DELETE /volumes/{name}; `force` ignores a missing volume (one in use is still refused). */
  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.t.json({ method: 'DELETE', path: `/volumes/${encodeURIComponent(name)}`, query: { force: opts.force } });
  }

  /** POST /volumes/prune: unused anonymous volumes, or every unused one with the filter all=true. */
  prune(opts: { filters?: Filters } = {}): Promise<PruneVolumesResponse> {
    return this.t.json<PruneVolumesResponse>({ method: 'POST', path: '/volumes/prune', query: { filters: opts.filters } });
  }
}

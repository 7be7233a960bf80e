/**
 * The network endpoints of the Engine API (v1.47), as `client.networks`: list (with
 * filters), inspect, create, remove, connect and disconnect containers, prune.
 */
import type {
  EndpointSettings,
  Filters,
  NetworkCreateBody,
  NetworkCreateResponse,
  NetworkInspect,
  PruneNetworksResponse,
} from '../types/engine-api.js';
import { encodePathName } from './http.js';
import type { HttpTransport } from './http.js';

export interface InspectNetworkOptions {
  /** Include service and task details (swarm): accepted for compatibility. */
  verbose?: boolean;
  scope?: string;
}

export class NetworkApi {
  constructor(private readonly t: HttpTransport) {}

  private path(id: string, rest = ''): string {
    return `/networks/${encodePathName(id)}${rest}`;
  }

  /** GET /networks (filters: driver, id, label, name, scope, type, dangling). */
  list(opts: { filters?: Filters } = {}): Promise<NetworkInspect[]> {
    return this.t.json<NetworkInspect[]>({ method: 'GET', path: '/networks', query: { filters: opts.filters } });
  }

  /** GET /networks/{id}: by full or short ID or name. */
  inspect(id: string, opts: InspectNetworkOptions = {}): Promise<NetworkInspect> {
    return this.t.json<NetworkInspect>({ method: 'GET', path: this.path(id), query: { verbose: opts.verbose, scope: opts.scope } });
  }

  /** POST /networks/create */
  create(body: NetworkCreateBody): Promise<NetworkCreateResponse> {
    return this.t.json<NetworkCreateResponse>({ method: 'POST', path: '/networks/create', json: body });
  }

  /** DELETE /networks/{id} */
  async remove(id: string): Promise<void> {
    await this.t.json({ method: 'DELETE', path: this.path(id) });
  }

  /** POST /networks/{id}/connect */
  async connect(id: string, container: string, endpoint: EndpointSettings = {}): Promise<void> {
    await this.t.json({ method: 'POST', path: this.path(id, '/connect'), json: { Container: container, EndpointConfig: endpoint } });
  }

  /** POST /networks/{id}/disconnect */
  async disconnect(id: string, container: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.t.json({ method: 'POST', path: this.path(id, '/disconnect'), json: { Container: container, Force: opts.force ?? false } });
  }

  /** POST /networks/prune (filters: until, label, label!). */
  prune(opts: { filters?: Filters } = {}): Promise<PruneNetworksResponse> {
    return this.t.json<PruneNetworksResponse>({ method: 'POST', path: '/networks/prune', query: { filters: opts.filters } });
  }
}

/**
 * The port agent: every port a container publishes inside the VM appears on the host's 127.0.0.1
 * at the same number, and disappears when no container publishes it any more. It follows the
 * engine's events (start, die, destroy, and network connect/disconnect, which can change ports)
 * and after each burst reconciles what the engine reports (`GET /containers/json`) with the
 * forwards in place, so a missed event or an agent restart never leaves a stale or missing one.
 */
import type { EngineClient } from '../../client/index.js';
import type { VmForwardedPort } from '../../types/desktop-api.js';

export interface PortForwarding {
  /** Makes host 127.0.0.1:port reach the guest's port; throws with the reason when it cannot. */
  add(proto: 'tcp' | 'udp', port: number): Promise<void>;
  remove(proto: 'tcp' | 'udp', port: number): Promise<void>;
}

interface ContainerPorts {
  Names?: string[];
  Ports?: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
}

const key = (proto: string, port: number): string => `${proto}/${port}`;

/** The host ports the containers publish, with who publishes them. */
export function wantedPorts(containers: readonly ContainerPorts[]): Map<string, VmForwardedPort> {
  const out = new Map<string, VmForwardedPort>();
  for (const c of containers) {
    const name = (c.Names?.[0] ?? '').replace(/^\//, '');
    for (const p of c.Ports ?? []) {
      if (!p.PublicPort || (p.Type !== 'tcp' && p.Type !== 'udp')) continue;
      // Bindings on IPv6 addresses repeat the IPv4 ones; the VM forwards IPv4 loopback only.
      if (p.IP && p.IP.includes(':')) continue;
      const k = key(p.Type, p.PublicPort);
      const entry = out.get(k) ?? { proto: p.Type, port: p.PublicPort, containers: [] };
      if (name && !entry.containers.includes(name)) entry.containers.push(name);
      out.set(k, entry);
    }
  }
  return out;
}

const RELEVANT = new Set(['start', 'die', 'destroy', 'kill', 'stop', 'connect', 'disconnect', 'restart', 'unpause']);

export class PortAgent {
  private readonly current = new Map<string, VmForwardedPort>();
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly client: () => EngineClient,
    private readonly forwarding: PortForwarding,
    private readonly onChange: (ports: VmForwardedPort[]) => void,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  ports(): VmForwardedPort[] {
    return [...this.current.values()].sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
  }

  /** Follows events until stop(); reconnects when the event stream ends. */
  async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.reconcile();
        for await (const ev of this.client().events({ signal: this.abort.signal, filters: { type: ['container', 'network'] } })) {
          if (RELEVANT.has(ev.Action ?? '')) this.reconcile().catch((err: unknown) => this.failed(err));
        }
      } catch {
        // The engine went away (VM stopping, SSH blip): try again shortly.
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 500));
    }
  }

  private failed(err: unknown): void {
    // Stopping aborts a pass in flight; anything else is worth a line in the log.
    if (!this.stopped) this.log(`port agent: ${err instanceof Error ? err.message : String(err)}`);
  }

  /** Brings the forwards in line with the engine; overlapping calls coalesce into one more pass. */
  reconcile(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    const containers = (await this.client().transport.json<ContainerPorts[]>({ method: 'GET', path: '/containers/json', signal: this.abort.signal })) ?? [];
    const wanted = wantedPorts(containers);
    let changed = false;
    for (const [k, have] of this.current) {
      if (wanted.has(k)) continue;
      if (!have.error) await this.forwarding.remove(have.proto, have.port).catch((err: unknown) => this.log(`removing ${k}: ${String(err)}`));
      this.current.delete(k);
      changed = true;
    }
    for (const [k, want] of wanted) {
      const have = this.current.get(k);
      if (have && !have.error) {
        if (have.containers.join() !== want.containers.join()) {
          have.containers = want.containers;
          changed = true;
        }
        continue;
      }
      try {
        await this.forwarding.add(want.proto, want.port);
        this.current.set(k, want);
        this.log(`forwarding 127.0.0.1:${want.port}/${want.proto} to the VM`);
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        if (have?.error !== error) this.log(`cannot forward ${k}: ${error}`);
        this.current.set(k, { ...want, error });
      }
      changed = true;
    }
    if (changed) this.onChange(this.ports());
  }

  /** Stops following; the forwards go away with qemu. */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }
}

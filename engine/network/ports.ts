/**
 * Published ports: what HostConfig.PortBindings / PublishAllPorts ask for, turned into concrete
 * host ports, each held by a socket berthd keeps open.
 *
 * The packets themselves never reach these sockets (the firewall DNATs them to the container
 * first); holding the port is what makes a second `-p 8080:80` or another program's bind fail
 * cleanly instead of two owners silently sharing it, and it is how a random port (-P, `-p 80`)
 * is chosen: bind port 0 and keep what the kernel gives.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { conflict, invalid } from '../common/errors.js';
import { isIPv4 } from './ipam.js';

export type Proto = 'tcp' | 'udp';

export interface PortRequest {
  proto: Proto;
  containerPort: number;
  /** "" = every address. */
  hostIp: string;
  /** [lo, hi] inclusive; [0, 0] = any free port. */
  hostRange: [number, number];
}

export interface PortMapping {
  proto: Proto;
  containerPort: number;
  hostIp: string;
  hostPort: number;
}

interface Binding {
  HostIp?: string;
  HostPort?: string;
}

function parsePortKey(key: string): { port: number; proto: Proto } {
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
  if (!m) throw invalid(`invalid port specification: "${key}"`);
  const port = Number(m[1]);
  if (port < 1 || port > 65535) throw invalid(`invalid port specification: "${key}"`);
  if (m[2] === 'sctp') throw invalid(`sctp ports are not supported: "${key}"`);
  return { port, proto: (m[2] ?? 'tcp') as Proto };
}

function parseHostPort(text: string | undefined): [number, number] {
  if (text === undefined || text === '') return [0, 0];
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
  if (!m || lo > 65535 || hi > 65535 || hi < lo) throw invalid(`invalid port specification: "${text}"`);
  return [lo, hi];
}

/** Every exposed port key ("80/tcp"), from the image and the create body. */
export function exposedPortKeys(...sets: (Record<string, unknown> | null | undefined)[]): string[] {
  const keys = new Set<string>();
  for (const s of sets) for (const k of Object.keys(s ?? {})) keys.add(k.includes('/') ? k : `${k}/tcp`);
  return [...keys];
}

/** Validates PortBindings (create time) and lists what to publish; PublishAllPorts adds the exposed ports without a binding. */
export function portRequests(bindings: unknown, exposed: string[], publishAll: boolean): PortRequest[] {
  if (bindings !== undefined && bindings !== null && (typeof bindings !== 'object' || Array.isArray(bindings))) {
    throw invalid('HostConfig.PortBindings must be an object');
  }
  const out: PortRequest[] = [];
  const bound = new Set<string>();
  for (const [key, list] of Object.entries((bindings ?? {}) as Record<string, Binding[] | null>)) {
    const { port, proto } = parsePortKey(key);
    bound.add(`${port}/${proto}`);
    for (const b of list ?? [{}]) {
      const hostIp = b.HostIp ?? '';
      if (hostIp !== '' && !isIPv4(hostIp)) {
        if (hostIp === '::' || hostIp.includes(':')) continue; // IPv6 bindings: this engine has no IPv6 networking
        throw invalid(`invalid IP address: ${hostIp}`);
      }
      out.push({ proto, containerPort: port, hostIp: hostIp === '0.0.0.0' ? '' : hostIp, hostRange: parseHostPort(b.HostPort) });
    }
  }
  if (publishAll) {
    for (const key of exposed) {
      const { port, proto } = parsePortKey(key);
      if (!bound.has(`${port}/${proto}`)) out.push({ proto, containerPort: port, hostIp: '', hostRange: [0, 0] });
    }
  }
  return out;
}

/** A socket that holds a host port. */
export interface PortHold {
  mapping: PortMapping;
  close(): void;
}

function holdTcp(host: string, port: number): Promise<{ port: number; close(): void }> {
  return new Promise((resolve, reject) => {
    // Connections never get here (they are DNATed); one that does is closed at once.
    const server = net.createServer((s) => s.destroy());
    server.once('error', reject);
    server.listen({ host: host || '0.0.0.0', port, exclusive: true, backlog: 1 }, () => {
      server.removeListener('error', reject);
      server.on('error', () => undefined);
      server.unref();
      resolve({ port: (server.address() as net.AddressInfo).port, close: () => server.close() });
    });
  });
}

function holdUdp(host: string, port: number): Promise<{ port: number; close(): void }> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    sock.once('error', reject);
    sock.bind({ address: host || '0.0.0.0', port, exclusive: true }, () => {
      sock.removeListener('error', reject);
      sock.on('error', () => undefined);
      sock.on('message', () => undefined);
      sock.unref();
      resolve({ port: sock.address().port, close: () => sock.close() });
    });
  });
}

async function holdOne(req: PortRequest, port: number): Promise<PortHold> {
  const h = req.proto === 'tcp' ? await holdTcp(req.hostIp, port) : await holdUdp(req.hostIp, port);
  return { mapping: { proto: req.proto, containerPort: req.containerPort, hostIp: req.hostIp, hostPort: h.port }, close: h.close };
}

function bindError(req: PortRequest, port: number, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${req.hostIp || '0.0.0.0'}:${port}`;
  if (code === 'EADDRINUSE') return conflict(`Bind for ${where} failed: port is already allocated`, 'PORT_ALLOCATED');
  if (code === 'EADDRNOTAVAIL') return invalid(`Bind for ${where} failed: the host has no address ${req.hostIp}`, 'PORT_ADDRESS');
  if (code === 'EACCES') return invalid(`Bind for ${where} failed: permission denied`, 'PORT_DENIED');
  return conflict(`Bind for ${where} failed: ${(err as Error).message}`);
}

/**
 * Takes every requested port, or none: on any failure the ports already held are let go and the
 * error names the first port that could not be had.
 */
export async function holdPorts(reqs: PortRequest[]): Promise<PortHold[]> {
  const held: PortHold[] = [];
  try {
    for (const req of reqs) {
      const [lo, hi] = req.hostRange;
      if (lo === 0) {
        try {
          held.push(await holdOne(req, 0));
        } catch (err) {
          throw bindError(req, 0, err);
        }
        continue;
      }
      let lastErr: unknown;
      let got: PortHold | undefined;
      for (let p = lo; p <= hi && !got; p++) {
        if (held.some((h) => h.mapping.hostPort === p && h.mapping.proto === req.proto)) continue;
        try {
          got = await holdOne(req, p);
        } catch (err) {
          lastErr = err;
        }
      }
      if (!got) throw bindError(req, lo === hi ? lo : hi, lastErr ?? Object.assign(new Error('in use'), { code: 'EADDRINUSE' }));
      held.push(got);
    }
    return held;
  } catch (err) {
    for (const h of held) h.close();
    throw err;
  }
}

/** Docker's NetworkSettings.Ports: every exposed or published port, with its host bindings or null. */
export function portsView(exposed: string[], mappings: PortMapping[]): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const k of exposed) out[k] = null;
  for (const m of mappings) {
    const key = `${m.containerPort}/${m.proto}`;
    const list = out[key] ?? [];
    list.push({ HostIp: m.hostIp || '0.0.0.0', HostPort: String(m.hostPort) });
    out[key] = list;
  }
  return out;
}

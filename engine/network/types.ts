/**
 * Records the network subsystem keeps on disk (<data-root>/network/state.json) and the shapes
 * it exchanges with the container service.
 */
import type { PortMapping } from './ports.js';

export type NetworkDriver = 'bridge' | 'host' | 'null';

/** One subnet of a network: at most one IPv4 and, with EnableIPv6, one IPv6 (Subnet has a ':'). */
export interface IpamConfig {
  Subnet: string;
  Gateway: string;
  IPRange?: string;
  /** Addresses the pool must not hand out (--aux-address name=ip). */
  AuxiliaryAddresses?: Record<string, string>;
}

/** A network as `docker network inspect` shows it (less Containers, which is computed). */
export interface NetworkRecord {
  Id: string;
  Name: string;
  Created: string;
  Driver: NetworkDriver;
  EnableIPv6: boolean;
  Internal: boolean;
  Attachable: boolean;
  IPAM: { Driver: 'default'; Options: Record<string, string>; Config: IpamConfig[] };
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** The bridge interface (bridge driver only). */
  bridge?: string;
  /** bridge, host and none: created by the daemon, never removed. */
  builtin?: boolean;
}

/** One container's attachment to one network. */
export interface EndpointRecord {
  networkId: string;
  endpointId: string;
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
  aliases: string[];
  /** The static address asked for (--ip), shown as IPAMConfig. */
  requestedIp?: string;
  /** On a network with EnableIPv6: the container's v6 address, its prefix and the v6 gateway. */
  ip6?: string;
  prefixLen6?: number;
  gateway6?: string;
  /** Extra link-local addresses (IPAMConfig.LinkLocalIPs). */
  linkLocalIps?: string[];
  /** Endpoint links ("name:alias"): on user networks, the embedded DNS answers alias with name's address. */
  links?: string[];
  /** This endpoint's gateway is the namespace's default route. */
  defaultRoute?: boolean;
  /** Interface names: inside the container (eth0...) and the host end on the bridge. */
  ifname: string;
  hostIf: string;
}

/** A running container's network namespace and everything attached to it. */
export interface SandboxRecord {
  containerId: string;
  containerName: string;
  /** Name of the namespace under /run/netns. */
  netns: string;
  endpoints: EndpointRecord[];
  ports: PortMapping[];
  /** Nameservers the container asked for (--dns); the embedded DNS forwards to these instead of the host's. */
  dns: string[];
}

/** Docker's EndpointSettings as the create body and connect carry them. */
export interface EndpointSettings {
  Aliases?: string[] | null;
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] | null } | null;
  Links?: string[] | null;
  MacAddress?: string;
  NetworkID?: string;
}

/** What starting a container asks of the network subsystem. */
export interface SandboxRequest {
  containerId: string;
  containerName: string;
  /** HostConfig.NetworkMode after defaults: "bridge", a network name/ID (not none/host/container:). */
  mode: string;
  /** NetworkingConfig.EndpointsConfig plus networks connected while the container was stopped. */
  endpoints: Record<string, EndpointSettings>;
  portBindings: unknown;
  publishAll: boolean;
  exposed: string[];
  macAddress?: string;
  dns: string[];
}

export interface SandboxInfo {
  netnsPath: string;
  /** The first network's address and gateway ("" on internal networks without a route). */
  ip: string;
  gateway: string;
  /** Nameserver for resolv.conf when the container should use the embedded DNS, else undefined. */
  embeddedDns?: string;
  /** Gateway of the default bridge (for host-gateway in --add-host). */
  hostGateway: string;
}

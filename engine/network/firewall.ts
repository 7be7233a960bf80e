/**
 * The daemon's packet rules: one nftables table of its own (`ip berth_<hash>`), rewritten whole
 * in one atomic `nft -f` transaction whenever networks or published ports change. Nothing is
 * added to other tables, so removing the table removes every rule berthd ever made, and several
 * daemons (or a Docker daemon, whose rules live in the iptables tables) never touch each other's.
 *
 * What the table does:
 * - outbound NAT: traffic from a (non-internal) network's subnet leaving by another interface is
 *   masqueraded;
 * - published ports: connections to a local address (any, or the one given with -p ip:...) on a
 *   published port are DNATed to the container, both for traffic arriving from outside
 *   (prerouting) and for the host's own connections (output), including to 127.0.0.1; the kernel
 *   forwards the packets, so there is no proxy process in the path. Loopback-sourced and hairpin
 *   connections are masqueraded so replies come back the same way;
 * - isolation: no forwarding between two of our bridges, and none in or out of internal networks.
 *
 * Networks with EnableIPv6 get the same outbound NAT and isolation for their v6 traffic from a
 * twin `ip6` table of the same name, written in the same transaction (and absent when no network
 * has IPv6). Published ports are IPv4 only.
 */
import { system } from '../common/errors.js';
import { runCommand } from '../common/command.js';

export interface FirewallNetwork {
  bridge: string;
  subnet: string;
  /** The v6 subnet of a network with EnableIPv6. */
  subnet6?: string;
  internal: boolean;
  /** com.docker.network.bridge.enable_ip_masquerade (default true). */
  masquerade: boolean;
}

export interface FirewallPort {
  proto: 'tcp' | 'udp';
  /** "" or 0.0.0.0: every local address. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

export interface FirewallState {
  networks: FirewallNetwork[];
  ports: FirewallPort[];
}

const q = (ifname: string): string => `"${ifname}"`;

/** The nft script that replaces the table with one describing `state`. */
export function firewallScript(table: string, state: FirewallState): string {
  const lines: string[] = [];
  // "add" first so the "delete" cannot fail on a host where the table does not exist yet.
  lines.push(`add table ip ${table}`, `delete table ip ${table}`, `table ip ${table} {`);

  lines.push('  chain ports {');
  for (const p of state.ports) {
    const dst = p.hostIp && p.hostIp !== '0.0.0.0' ? `ip daddr ${p.hostIp} ` : '';
    lines.push(`    ${dst}${p.proto} dport ${p.hostPort} dnat to ${p.containerIp}:${p.containerPort}`);
  }
  lines.push('  }');
  lines.push('  chain prerouting {', '    type nat hook prerouting priority dstnat; policy accept;', '    fib daddr type local jump ports', '  }');
  lines.push('  chain output {', '    type nat hook output priority -100; policy accept;', '    fib daddr type local jump ports', '  }');

  lines.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;');
  for (const n of state.networks) {
    // Connections from the host's loopback (published ports on 127.0.0.1) and hairpin connections
    // (a container to a port published by a container on the same bridge) leave with the
    // bridge's address, so the replies come back through the host.
    lines.push(`    oifname ${q(n.bridge)} ip saddr 127.0.0.0/8 masquerade`);
    lines.push(`    oifname ${q(n.bridge)} ip saddr ${n.subnet} ct status dnat masquerade`);
    if (!n.internal && n.masquerade) lines.push(`    ip saddr ${n.subnet} oifname != ${q(n.bridge)} masquerade`);
  }
  lines.push('  }');

  lines.push('  chain forward {', '    type filter hook forward priority filter; policy accept;');
  lines.push(...isolationRules(state));
  lines.push('  }');
  lines.push('}');
  lines.push(...ipv6Table(table, state));
  return lines.join('\n') + '\n';
}

/** The `ip6` twin: outbound NAT for v6 subnets, and the same isolation between bridges for v6 packets. */
function ipv6Table(table: string, state: FirewallState): string[] {
  const lines = [`add table ip6 ${table}`, `delete table ip6 ${table}`];
  if (!state.networks.some((n) => n.subnet6)) return lines;
  lines.push(`table ip6 ${table} {`);
  lines.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;');
  for (const n of state.networks) {
    if (n.subnet6 && !n.internal && n.masquerade) lines.push(`    ip6 saddr ${n.subnet6} oifname != ${q(n.bridge)} masquerade`);
  }
  lines.push('  }');
  lines.push('  chain forward {', '    type filter hook forward priority filter; policy accept;');
  lines.push(...isolationRules(state));
  lines.push('  }');
  lines.push('}');
  return lines;
}

function isolationRules(state: FirewallState): string[] {
  const lines: string[] = [];
  const bridges = state.networks.map((n) => n.bridge);
  for (const n of state.networks) {
    if (n.internal) {
      lines.push(`    iifname ${q(n.bridge)} oifname != ${q(n.bridge)} drop`);
      lines.push(`    oifname ${q(n.bridge)} iifname != ${q(n.bridge)} drop`);
      continue;
    }
    const others = bridges.filter((b) => b !== n.bridge);
    if (others.length > 0) lines.push(`    iifname ${q(n.bridge)} oifname { ${others.map(q).join(', ')} } drop`);
  }
  return lines;
}

export async function applyFirewall(table: string, state: FirewallState): Promise<void> {
  const r = await runCommand('nft', ['-f', '-'], { input: firewallScript(table, state) });
  if (r.code !== 0) throw system(`nft could not apply the network rules: ${r.stderr.trim()}`);
}

/** Removes the table (and with it every rule); absent already is fine. */
export async function removeFirewall(table: string): Promise<void> {
  const r = await runCommand('nft', ['-f', '-'], {
    input: `add table ip ${table}\ndelete table ip ${table}\nadd table ip6 ${table}\ndelete table ip6 ${table}\n`,
  });
  if (r.code !== 0) throw system(`nft could not remove the table ${table}: ${r.stderr.trim()}`);
}

export async function firewallExists(table: string): Promise<boolean> {
  const r = await runCommand('nft', ['list', 'table', 'ip', table]);
  return r.code === 0;
}

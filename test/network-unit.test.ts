// The pure parts of networking: CIDR arithmetic and subnet choice, address pools, port requests,
// the /etc files, network filters, and the firewall script (checked by the real `nft -c`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { AddressPool, formatCidr, ipToInt, macForIp, overlaps, parseCidr, pickSubnet, validMac } from '../engine/network/ipam.js';
import { AddressPool6, bigToIp6, formatCidr6, ip6ToBig, overlaps6, parseCidr6, pickUla64 } from '../engine/network/ipam6.js';
import { exposedPortKeys, holdPorts, portRequests, portsView } from '../engine/network/ports.js';
import { hostsFile, parseExtraHost, resolvConf } from '../engine/network/etc.js';
import { networkFilter } from '../engine/network/views.js';
import { firewallScript } from '../engine/network/firewall.js';
import type { NetworkRecord } from '../engine/network/types.js';
import { run } from './harness/util.js';

test('CIDRs: parsing clears host bits, overlap, IPv6 and junk refused', () => {
  assert.equal(formatCidr(parseCidr('172.18.3.7/16')), '172.18.0.0/16');
  assert.ok(overlaps(parseCidr('10.0.0.0/8'), parseCidr('10.5.0.0/16')));
  assert.ok(!overlaps(parseCidr('172.17.0.0/16'), parseCidr('172.18.0.0/16')));
  assert.throws(() => parseCidr('fd00::/64'), /IPv6/);
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '300.1.1.1/8', 'x/8']) assert.throws(() => parseCidr(bad), /invalid/);
});

test('IPv6: canonical text as Go prints it, CIDRs, unique-local choice, a pool with gateway and range', () => {
  for (const [text, canon] of [
    ['2001:0389:0000:0000:0000:0000:0000:f00d', '2001:389::f00d'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['fe80::1', 'fe80::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
  ] as const) {
    assert.equal(bigToIp6(ip6ToBig(text)), canon, text);
  }
  assert.throws(() => ip6ToBig('10.0.0.1'), /invalid IPv6/);
  assert.equal(formatCidr6(parseCidr6('2001:389::5/64')), '2001:389::/64');
  assert.throws(() => parseCidr6('2001:389::/129'), /invalid CIDR/);
  assert.ok(overlaps6(parseCidr6('2001:389::/48'), parseCidr6('2001:389:0:7::/64')));
  const ula = pickUla64([]);
  assert.equal(ula.prefix, 64);
  assert.match(formatCidr6(ula), /^fd[0-9a-f]{2}:/);
  const pool = new AddressPool6(parseCidr6('2001:389::/64'), ip6ToBig('2001:389::ffff'), parseCidr6('2001:389::/96'));
  assert.equal(pool.allocate(), '2001:389::1');
  assert.equal(pool.allocate('2001:389::f00d'), '2001:389::f00d');
  assert.throws(() => pool.allocate('2001:389::f00d'), /already in use/);
  assert.throws(() => pool.allocate('2001:38a::1'), /does not belong/);
  assert.throws(() => pool.allocate('2001:389::ffff'), /gateway/);
  assert.throws(() => new AddressPool6(parseCidr6('2001:389::/64'), 1n, parseCidr6('2001:38a::/96')), /not within the subnet/);
});

test('subnet choice skips what the host and other networks use', () => {
  assert.equal(formatCidr(pickSubnet([])), '172.17.0.0/16');
  assert.equal(formatCidr(pickSubnet([parseCidr('172.17.0.0/16'), parseCidr('172.18.5.0/24')])), '172.19.0.0/16');
  // A host route covering all of 172.16/12 pushes the choice to 192.168.
  assert.equal(formatCidr(pickSubnet([parseCidr('172.16.0.0/12')])), '192.168.0.0/20');
  assert.throws(() => pickSubnet([parseCidr('172.16.0.0/12'), parseCidr('192.168.0.0/16')]), /could not find an available/);
});

test('address pools: gateway reserved, walk forward, ranges, static addresses, exhaustion', () => {
  const pool = new AddressPool(parseCidr('10.1.0.0/29'), ipToInt('10.1.0.1'));
  assert.deepEqual([pool.allocate(), pool.allocate()], ['10.1.0.2', '10.1.0.3']);
  pool.release('10.1.0.2');
  assert.equal(pool.allocate(), '10.1.0.4', 'a freed address is not reused at once');
  assert.equal(pool.allocate('10.1.0.6'), '10.1.0.6');
  assert.throws(() => pool.allocate('10.1.0.6'), /already in use/);
  assert.throws(() => pool.allocate('10.1.0.7'), /broadcast/);
  assert.throws(() => pool.allocate('10.2.0.5'), /does not belong/);
  assert.equal(pool.allocate(), '10.1.0.5');
  assert.equal(pool.allocate(), '10.1.0.2', 'wraps around to what was freed');
  assert.throws(() => pool.allocate(), /no available IPv4 addresses/);
  const ranged = new AddressPool(parseCidr('10.77.0.0/24'), ipToInt('10.77.0.254'), parseCidr('10.77.0.128/25'));
  assert.equal(ranged.allocate(), '10.77.0.128');
  assert.throws(() => new AddressPool(parseCidr('10.77.0.0/24'), ipToInt('10.77.0.1'), parseCidr('10.78.0.0/25')), /not within the subnet/);
  assert.equal(macForIp('172.17.0.2'), '02:42:ac:11:00:02');
  assert.ok(validMac('02:42:de:ad:be:ef'));
  assert.ok(!validMac('01:00:5e:00:00:01'), 'multicast MACs are refused');
});

test('port requests: bindings, ranges, -P, udp, bad specs', () => {
  const reqs = portRequests({ '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '53/udp': [{ HostPort: '' }], '81': [{ HostPort: '9000-9010' }] }, ['80/tcp', '443/tcp'], true);
  // (An integer-like key such as "81" comes first in a JS object.)
  assert.deepEqual(reqs, [
    { proto: 'tcp', containerPort: 81, hostIp: '', hostRange: [9000, 9010] },
    { proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostRange: [8080, 8080] },
    { proto: 'udp', containerPort: 53, hostIp: '', hostRange: [0, 0] },
    { proto: 'tcp', containerPort: 443, hostIp: '', hostRange: [0, 0] },
  ]);
  assert.deepEqual(portRequests({ '80/tcp': [{ HostIp: '::', HostPort: '8080' }] }, [], false), [], 'IPv6 bindings are skipped');
  for (const bad of [{ '99999/tcp': [{}] }, { '80/tcp': [{ HostPort: '9-1' }] }, { '80/tcp': [{ HostIp: 'nope' }] }, { '80/sctp': [{}] }]) {
    assert.throws(() => portRequests(bad, [], false), /invalid|not supported/);
  }
  assert.deepEqual(exposedPortKeys({ '80': {} }, { '53/udp': {} }), ['80/tcp', '53/udp']);
  assert.deepEqual(portsView(['80/tcp', '443/tcp'], [{ proto: 'tcp', containerPort: 80, hostIp: '', hostPort: 32768 }]), {
    '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '32768' }],
    '443/tcp': null,
  });
});

test('ports are held all or nothing: a taken one releases the ones already held', async () => {
  const [first] = await holdPorts([{ proto: 'tcp', containerPort: 1, hostIp: '127.0.0.1', hostRange: [0, 0] }]);
  assert.ok(first);
  const taken = first.mapping.hostPort;
  try {
    await assert.rejects(
      holdPorts([
        { proto: 'udp', containerPort: 2, hostIp: '127.0.0.1', hostRange: [0, 0] },
        { proto: 'tcp', containerPort: 3, hostIp: '127.0.0.1', hostRange: [taken, taken] },
      ]),
      new RegExp(`Bind for 127\\.0\\.0\\.1:${taken} failed: port is already allocated`),
    );
    const again = await holdPorts([{ proto: 'tcp', containerPort: 4, hostIp: '127.0.0.1', hostRange: [taken, taken + 5] }]);
    assert.ok(again[0] && again[0].mapping.hostPort > taken, 'a range skips the taken port');
    for (const h of again) h.close();
  } finally {
    first.close();
  }
});

test('/etc/hosts and resolv.conf as Docker writes them', () => {
  const hosts = hostsFile({
    hostname: 'box',
    domainname: 'example.org',
    ip: '172.18.0.5',
    extraHosts: ['db:10.0.0.9', 'gw=host-gateway'],
    hostGateway: '172.17.0.1',
    links: [{ ip: '172.17.0.3', alias: 'cache', name: 'redis1' }],
  });
  assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
  assert.match(hosts, /^10\.0\.0\.9\tdb$/m);
  assert.match(hosts, /^172\.17\.0\.1\tgw$/m);
  assert.match(hosts, /^172\.17\.0\.3\tcache redis1$/m);
  assert.match(hosts, /^172\.18\.0\.5\tbox\.example\.org box$/m);
  assert.throws(() => parseExtraHost('nocolon'), /invalid IP address in add-host/);
  assert.throws(() => parseExtraHost('x:not-an-ip'), /invalid IP address in add-host/);
  const host = { nameservers: ['127.0.0.53', '10.0.0.2'], search: ['corp'], options: ['ndots:1'] };
  assert.equal(resolvConf({ host }), 'nameserver 10.0.0.2\nsearch corp\noptions ndots:1\n', 'loopback resolvers are left out');
  assert.equal(resolvConf({ host, embedded: '172.18.0.1', dnsSearch: ['a.example'] }), 'nameserver 172.18.0.1\nsearch a.example\noptions ndots:1\n');
  assert.equal(resolvConf({ host, dns: ['9.9.9.9'], dnsOptions: ['timeout:1'] }), 'nameserver 9.9.9.9\nsearch corp\noptions timeout:1\n');
});

test('network filters', () => {
  const net = (name: string, extra: Partial<NetworkRecord> = {}): NetworkRecord => ({
    Id: `${name}`.padEnd(64, '0'),
    Name: name,
    Created: '2026-01-01T00:00:00Z',
    Driver: 'bridge',
    EnableIPv6: false,
    Internal: false,
    Attachable: false,
    IPAM: { Driver: 'default', Options: {}, Config: [] },
    Options: {},
    Labels: {},
    ...extra,
  });
  const all = [net('bridge', { builtin: true }), net('front', { Labels: { team: 'a' } }), net('back')];
  const names = (f: Record<string, string[]>, inUse = (n: NetworkRecord) => n.Name === 'front'): string[] => all.filter(networkFilter(f, inUse)).map((n) => n.Name);
  assert.deepEqual(names({ label: ['team=a'] }), ['front']);
  assert.deepEqual(names({ type: ['custom'] }), ['front', 'back']);
  assert.deepEqual(names({ dangling: ['true'] }), ['back']);
  assert.deepEqual(names({ name: ['ack'] }), ['back']);
  assert.deepEqual(names({ until: ['2027-01-01T00:00:00Z'] }).length, 3);
  assert.throws(() => names({ type: ['weird'] }), /invalid filter/);
});

const nft = existsSync('/usr/sbin/nft') && process.getuid?.() === 0;

test('the firewall script is valid nftables (nft -c) and says what it should', { skip: nft ? false : 'needs root and nft' }, async () => {
  const script = firewallScript('berth_unit', {
    networks: [
      { bridge: 'berth-aaaaaa', subnet: '172.17.0.0/16', subnet6: 'fd00:1::/64', internal: false, masquerade: true },
      { bridge: 'br-111111111111', subnet: '172.18.0.0/16', internal: true, masquerade: true },
      { bridge: 'br-222222222222', subnet: '172.19.0.0/16', internal: false, masquerade: false },
    ],
    ports: [
      { proto: 'tcp', hostIp: '', hostPort: 8080, containerIp: '172.17.0.2', containerPort: 80 },
      { proto: 'udp', hostIp: '127.0.0.1', hostPort: 5353, containerIp: '172.17.0.2', containerPort: 53 },
    ],
  });
  assert.match(script, /tcp dport 8080 dnat to 172\.17\.0\.2:80/);
  assert.match(script, /ip daddr 127\.0\.0\.1 udp dport 5353 dnat to 172\.17\.0\.2:53/);
  assert.match(script, /ip saddr 172\.17\.0\.0\/16 oifname != "berth-aaaaaa" masquerade/);
  assert.doesNotMatch(script, /ip saddr 172\.18\.0\.0\/16 oifname != /, 'no outbound NAT for an internal network');
  assert.doesNotMatch(script, /ip saddr 172\.19\.0\.0\/16 oifname != /, 'none when masquerading is off');
  assert.match(script, /iifname "br-111111111111" oifname != "br-111111111111" drop/);
  assert.match(script, /table ip6 berth_unit \{[^]*ip6 saddr fd00:1::\/64 oifname != "berth-aaaaaa" masquerade/, 'v6 NAT in the ip6 twin');
  assert.doesNotMatch(firewallScript('berth_unit', { networks: [], ports: [] }), /table ip6 berth_unit \{/, 'no ip6 table without a v6 network');
  const r = await run('nft', ['-c', '-f', '-'], { input: script });
  assert.equal(r.code, 0, r.stderr.toString());
});

// Networking through the real docker CLI and the kernel: the default bridge (addresses, routes,
// outbound NAT seen from a separate "outside" host in its own namespace), published ports on
// loopback and on the host's address (tcp, udp, ranges, -P, a taken port), user networks (name
// and alias resolution through the embedded DNS, forwarding, isolation, internal, connect and
// disconnect while running, rm refused in use, prune), the none/host/container: modes, --link,
// the /etc options, and a daemon restart keeping running containers reachable. The after() hook
// checks that no bridge, namespace, veth or firewall table is left once the daemon stops.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { docker } from './harness/docker.js';
import { busyboxDynamicLayer, busyboxStaticBinary, debToolLayer, pushImage } from './harness/images.js';
import { makeTempDir, removeDir, run, runOk } from './harness/util.js';
import { containerSkip as skip, eventually, networkNames, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';

let env: ContainerEnv;
/** busybox plus OpenBSD netcat at /usr/bin/nc-udp. */
let ncImage: string;
/** An "outside" host: a namespace joined to the host by a veth, with an HTTP server that answers the caller's address. */
let outside: { ns: string; hostIf: string; ip: string; dir: string; pid?: number } | undefined;

function hostAddress(): string {
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (name === 'lo' || /^(berth|br-|bv|docker|veth|bxt)/.test(name)) continue;
    const a = (addrs ?? []).find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return a.address;
  }
  throw new Error('no non-loopback IPv4 address on this host');
}

async function startOutside(): Promise<NonNullable<typeof outside>> {
  const tag = randomBytes(3).toString('hex');
  const o = { ns: `berth-test-out-${tag}`, hostIf: `bxt${tag}`, ip: '10.213.77.2', dir: await makeTempDir('berth-outside-') };
  await runOk('ip', ['netns', 'add', o.ns]);
  await runOk('ip', ['link', 'add', o.hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', o.ns]);
  await runOk('ip', ['addr', 'add', '10.213.77.1/30', 'dev', o.hostIf]);
  await runOk('ip', ['link', 'set', o.hostIf, 'up']);
  await runOk('ip', ['-n', o.ns, 'addr', 'add', `${o.ip}/30`, 'dev', 'eth0']);
  await runOk('ip', ['-n', o.ns, 'link', 'set', 'eth0', 'up']);
  await runOk('ip', ['-n', o.ns, 'link', 'set', 'lo', 'up']);
  // No route back to the container subnets: only masqueraded traffic can get an answer.
  const bb = await busyboxStaticBinary();
  await fsp.mkdir(path.join(o.dir, 'cgi-bin'), { recursive: true });
  await fsp.writeFile(path.join(o.dir, 'cgi-bin', 'whoami'), '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "$REMOTE_ADDR"\n', { mode: 0o755 });
  await fsp.copyFile(bb, path.join(o.dir, 'busybox'));
  await fsp.chmod(path.join(o.dir, 'busybox'), 0o755);
  // httpd's CGI runs /bin/sh from the host, which is fine: the namespace only changes the network.
  await runOk('ip', ['netns', 'exec', o.ns, path.join(o.dir, 'busybox'), 'httpd', '-p', '8000', '-h', o.dir]);
  return o;
}

async function stopOutside(): Promise<void> {
  if (!outside) return;
  const pids = await run('ip', ['netns', 'pids', outside.ns]);
  for (const pid of pids.stdout.toString().split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
  await run('ip', ['netns', 'del', outside.ns]);
  await run('ip', ['link', 'del', outside.hostIf]);
  await removeDir(outside.dir);
}

before(async () => {
  if (skip) return;
  env = await startContainerEnv({ dynamic: true, pull: true });
  await pushImage(env.registry, 'library/nc:1', { layers: [await busyboxDynamicLayer(), await debToolLayer('netcat-openbsd', 'bin/nc.openbsd', 'usr/bin/nc-udp')], config: { Cmd: ['sh'] } });
  ncImage = `${env.registry.host}/library/nc:1`;
  outside = await startOutside();
});

after(async () => {
  if (skip) return;
  await stopOutside();
  await stopContainerEnv(env);
});

const inspect = async (ref: string): Promise<any> => JSON.parse(await env.ok(['inspect', ref]))[0];
const sh = (args: string[], script: string): Promise<string> => env.ok(['run', '--rm', ...args, env.ref, 'sh', '-c', script]);
const httpGet = async (url: string): Promise<string> => {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return r.text();
};
/** A detached container serving `text` over HTTP on port 8080. */
const webServer = async (args: string[], text = 'hello'): Promise<string> =>
  (await env.ok(['run', '-d', ...args, env.ref, 'sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 8080 -h /www`])).trim();

test('default bridge: an address, a default route, the host reaches the container, outbound traffic is masqueraded', { skip }, async () => {
  const bridge = (await env.ok(['network', 'inspect', 'bridge', '--format', '{{json .IPAM.Config}}'])).trim();
  const [{ Subnet, Gateway }] = JSON.parse(bridge);
  assert.match(Subnet, /^(172\.(1[6-9]|2\d|3[01])|192\.168)\./, 'a private subnet from Docker\'s pools');
  const out = await sh([], 'ip -4 addr show eth0; ip route');
  assert.match(out, new RegExp(`default via ${Gateway.replaceAll('.', '\\.')} dev eth0`));
  const id = await webServer([]);
  try {
    const ip = (await inspect(id)).NetworkSettings.IPAddress as string;
    assert.ok(ip.startsWith(Subnet.split('.').slice(0, 2).join('.')), `container address ${ip} in ${Subnet}`);
    assert.equal((await eventually(() => httpGet(`http://${ip}:8080/`))).trim(), 'hello', 'host to container by its address');
    // The outside host has no route to the container subnet: an answer means the source was NATed to the host's side.
    const seen = await sh([], `timeout 5 wget -qO- http://${outside!.ip}:8000/cgi-bin/whoami`);
    assert.match(seen, /^\[?(::ffff:)?10\.213\.77\.1\]?\s*$/, 'the outside host sees the host\'s address, not the container\'s');
  } finally {
    await env.ok(['rm', '-f', id]);
  }
});

test('published ports: loopback and host address, ip-bound, ranges, udp, -P, docker port', { skip }, async () => {
  const hostIp = hostAddress();
  const web = await webServer(['-p', '18080:8080', '-p', '127.0.0.1:18081:8080', '-p', '18090-18091:8080-8081']);
  try {
    assert.equal((await eventually(() => httpGet('http://127.0.0.1:18080/'))).trim(), 'hello');
    assert.equal((await httpGet(`http://${hostIp}:18080/`)).trim(), 'hello', 'on the host\'s other addresses too');
    assert.equal((await httpGet('http://127.0.0.1:18081/')).trim(), 'hello');
    await assert.rejects(httpGet(`http://${hostIp}:18081/`), 'a loopback-bound port is not published on other addresses');
    assert.equal((await httpGet('http://127.0.0.1:18090/')).trim(), 'hello', 'ranges map port by port');
    const ports = (await env.ok(['port', web])).trim().split('\n').sort();
    assert.deepEqual(ports, ['8080/tcp -> 0.0.0.0:18080', '8080/tcp -> 0.0.0.0:18090', '8080/tcp -> 127.0.0.1:18081', '8081/tcp -> 0.0.0.0:18091'].sort());
    const ps = await env.ok(['ps', '--filter', 'publish=18080', '--format', '{{.ID}}']);
    assert.equal(ps.trim(), web.slice(0, 12));
  } finally {
    await env.ok(['rm', '-f', web]);
  }
  await assert.rejects(httpGet('http://127.0.0.1:18080/'), 'the port is gone with the container');

  // -P: every exposed port on a random free port.
  const pub = await webServer(['-P', '--expose', '8080']);
  try {
    const mapped = (await env.ok(['port', pub, '8080/tcp'])).trim();
    const port = Number(/:(\d+)$/.exec(mapped)?.[1]);
    assert.ok(port > 1024, `random port ${mapped}`);
    assert.equal((await eventually(() => httpGet(`http://127.0.0.1:${port}/`))).trim(), 'hello');
  } finally {
    await env.ok(['rm', '-f', pub]);
  }

  // UDP: a datagram to the published port reaches the container (busybox's nc has no UDP: OpenBSD netcat does).
  const udp = (await env.ok(['run', '-d', '-p', '127.0.0.1:18053:5353/udp', ncImage, 'nc-udp', '-u', '-l', '5353'])).trim();
  try {
    const sock = dgram.createSocket('udp4');
    try {
      await eventually(async () => {
        await new Promise<void>((res, rej) => sock.send('ping-over-udp\n', 18053, '127.0.0.1', (e) => (e ? rej(e) : res())));
        assert.match(await env.ok(['logs', udp]), /ping-over-udp/);
      });
    } finally {
      sock.close();
    }
  } finally {
    await env.ok(['rm', '-f', udp]);
  }
});

test('a taken port is a clear error and leaves no namespace, rule or container behind', { skip }, async () => {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(18099, '0.0.0.0', r));
  const { netnsPrefix, table } = networkNames(env.daemon);
  try {
    const before = (await fsp.readdir('/run/netns')).filter((n) => n.startsWith(netnsPrefix));
    const r = await docker(env.daemon, ['run', '--rm', '-p', '18099:8080', env.ref, 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /Bind for 0\.0\.0\.0:18099 failed: port is already allocated/);
    const after = (await fsp.readdir('/run/netns')).filter((n) => n.startsWith(netnsPrefix));
    assert.deepEqual(after, before, 'no namespace left');
    const rules = (await runOk('nft', ['list', 'table', 'ip', table])).toString();
    assert.ok(!rules.includes('18099'), 'no rule for the port');
    await eventually(async () => assert.equal((await env.ok(['ps', '-aq'])).trim(), '', '--rm removed the container'));
  } finally {
    holder.close();
  }
  const bad = await docker(env.daemon, ['run', '--rm', '-p', '99999:80', env.ref, 'true']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid/i);
});

test('user networks: names and aliases resolve, other names are forwarded, networks are isolated', { skip }, async () => {
  await env.ok(['network', 'create', '--subnet', '10.77.0.0/24', '--gateway', '10.77.0.254', '--ip-range', '10.77.0.128/25', '--label', 'team=a', 'neta']);
  await env.ok(['network', 'create', 'netb']);
  // A name server of the test's own: what the embedded DNS forwards to for a container with --dns.
  const upstream = dgram.createSocket('udp4');
  await new Promise<void>((r) => upstream.bind(53, '127.0.0.2', r));
  upstream.on('message', (q, rinfo) => {
    // Answer every A question with 10.1.2.3 (header + question copied, one answer by pointer).
    const qEnd = 12 + q.subarray(12).indexOf(0) + 5;
    const head = Buffer.from(q.subarray(0, qEnd));
    head.writeUInt16BE(0x8180, 2);
    head.writeUInt16BE(1, 6);
    head.writeUInt16BE(0, 8);
    head.writeUInt16BE(0, 10);
    const ans = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]);
    upstream.send(Buffer.concat([head, ans]), rinfo.port, rinfo.address);
  });
  const a1 = await webServer(['--name', 'a1', '--network', 'neta', '--network-alias', 'web-alias'], 'from-a1');
  const b1 = await webServer(['--name', 'b1', '--network', 'netb'], 'from-b1');
  try {
    const net = JSON.parse(await env.ok(['network', 'inspect', 'neta']))[0];
    assert.deepEqual(net.IPAM.Config, [{ Subnet: '10.77.0.0/24', Gateway: '10.77.0.254', IPRange: '10.77.0.128/25' }]);
    assert.deepEqual(net.Labels, { team: 'a' });
    const a1ip = (await inspect('a1')).NetworkSettings.Networks.neta.IPAddress as string;
    assert.ok(Number(a1ip.split('.')[3]) >= 128, `address ${a1ip} from the ip-range`);
    assert.ok(net.Containers[(await inspect('a1')).Id], 'inspect lists the attached container');
    assert.equal((await env.ok(['network', 'ls', '--filter', 'label=team=a', '--format', '{{.Name}}'])).trim(), 'neta');

    const out = await sh(['--network', 'neta', '--dns', '127.0.0.2'], [
      'cat /etc/resolv.conf',
      'timeout 5 wget -qO- http://a1:8080/',
      'timeout 5 wget -qO- http://web-alias:8080/',
      'nslookup somewhere.example 2>&1 | grep -A1 "Name:" | tail -1',
      'timeout 5 wget -qO- http://b1:8080/ || echo b1-unresolvable',
    ].join('; '));
    assert.match(out, /nameserver 10\.77\.0\.254/, 'the embedded DNS on the gateway');
    assert.match(out, /from-a1\nfrom-a1/, 'container name and alias resolve');
    assert.match(out, /10\.1\.2\.3/, 'other names are forwarded to the container\'s --dns server');
    assert.match(out, /b1-unresolvable/, 'names of another network do not resolve');
    const b1ip = (await inspect('b1')).NetworkSettings.Networks.netb.IPAddress as string;
    const iso = await sh(['--network', 'neta'], `timeout 3 wget -qO- http://${b1ip}:8080/ || echo blocked`);
    assert.match(iso, /blocked/, 'no traffic between two user networks');

    // Connect a1 to netb while it runs: it reaches b1 by name; disconnect takes that away.
    await env.ok(['network', 'connect', '--alias', 'a1-on-b', 'netb', 'a1']);
    assert.equal((await env.ok(['exec', 'a1', 'sh', '-c', 'timeout 5 wget -qO- http://b1:8080/'])).trim(), 'from-b1');
    assert.equal((await sh(['--network', 'netb'], 'timeout 5 wget -qO- http://a1-on-b:8080/')).trim(), 'from-a1');
    const rm = await docker(env.daemon, ['network', 'rm', 'netb']);
    assert.notEqual(rm.code, 0);
    assert.match(rm.stderr, /has active endpoints/);
    await env.ok(['network', 'disconnect', 'netb', 'a1']);
    assert.match(await env.ok(['exec', 'a1', 'sh', '-c', 'timeout 3 wget -qO- http://b1:8080/ || echo gone']), /gone/);
  } finally {
    upstream.close();
    await env.ok(['rm', '-f', a1, b1]);
  }
  const pruned = await env.ok(['network', 'prune', '-f']);
  assert.match(pruned, /neta/);
  assert.match(pruned, /netb/);
  assert.equal((await env.ok(['network', 'ls', '--format', '{{.Name}}'])).trim().split('\n').sort().join(','), 'bridge,host,none');
});

test('internal networks reach each other but nothing outside', { skip }, async () => {
  await env.ok(['network', 'create', '--internal', 'inner']);
  const srv = await webServer(['--name', 'inner-srv', '--network', 'inner'], 'inside');
  try {
    const out = await sh(['--network', 'inner'], `timeout 5 wget -qO- http://inner-srv:8080/; timeout 3 wget -qO- http://${outside!.ip}:8000/cgi-bin/whoami || echo no-way-out; ip route`);
    assert.match(out, /inside/);
    assert.match(out, /no-way-out/);
    assert.doesNotMatch(out, /default via/, 'no default route on an internal network');
  } finally {
    await env.ok(['rm', '-f', srv]);
    await env.ok(['network', 'rm', 'inner']);
  }
});

test('none, host and container: modes', { skip }, async () => {
  const none = await sh(['--network', 'none'], 'ls /sys/class/net');
  assert.deepEqual(none.trim().split(/\s+/), ['lo']);
  const hostIfs = (await fsp.readdir('/sys/class/net')).sort();
  const host = await sh(['--network', 'host'], 'ls /sys/class/net; hostname');
  const lines = host.trim().split(/\s+/);
  assert.equal(lines.at(-1), os.hostname(), 'the host\'s hostname');
  for (const i of ['lo', 'eth0'].filter((x) => hostIfs.includes(x))) assert.ok(lines.includes(i), `host interface ${i} visible`);
  const target = (await env.ok(['run', '-d', '--name', 'netowner', env.ref, 'sleep', '60'])).trim();
  try {
    const ip = (await inspect(target)).NetworkSettings.IPAddress as string;
    const joined = await sh(['--network', 'container:netowner'], 'ip -4 -o addr show eth0');
    assert.match(joined, new RegExp(`inet ${ip.replaceAll('.', '\\.')}/`), 'shares the target\'s interface');
  } finally {
    await env.ok(['rm', '-f', target]);
  }
});

test('--link, --dns, --dns-search, --add-host, --ip, --mac-address, --hostname, --domainname', { skip }, async () => {
  const target = (await env.ok(['run', '-d', '--name', 'linked', '-e', 'SECRET=42', '--expose', '6379', env.ref, 'sleep', '60'])).trim();
  try {
    const tip = (await inspect(target)).NetworkSettings.IPAddress as string;
    const out = await sh(['--link', 'linked:db', '--dns', '10.9.9.9', '--dns-search', 'corp.example', '--add-host', 'extra.example:10.1.1.1', '--add-host', 'gw.example:host-gateway', '--hostname', 'box', '--domainname', 'example.org'], 'cat /etc/hosts /etc/resolv.conf; env | sort; hostname; cat /proc/sys/kernel/domainname');
    assert.match(out, new RegExp(`${tip.replaceAll('.', '\\.')}\\s+db linked`));
    assert.match(out, /DB_PORT_6379_TCP=tcp:\/\/[\d.]+:6379/);
    assert.match(out, /DB_ENV_SECRET=42/);
    assert.match(out, /DB_NAME=\/[^/]+\/db/);
    assert.match(out, /nameserver 10\.9\.9\.9/);
    assert.match(out, /search corp\.example/);
    assert.match(out, /10\.1\.1\.1\s+extra\.example/);
    const gw = (await env.ok(['network', 'inspect', 'bridge', '--format', '{{(index .IPAM.Config 0).Gateway}}'])).trim();
    assert.match(out, new RegExp(`${gw.replaceAll('.', '\\.')}\\s+gw\\.example`));
    assert.match(out, /\sbox\.example\.org box\n/);
    assert.match(out, /\nbox\nexample\.org\n$/);
  } finally {
    await env.ok(['rm', '-f', target]);
  }
  await env.ok(['network', 'create', '--subnet', '10.78.0.0/24', 'fixed']);
  try {
    const out = await sh(['--network', 'fixed', '--ip', '10.78.0.50', '--mac-address', '02:42:de:ad:be:ef'], 'ip -o link show eth0; ip -4 -o addr show eth0');
    assert.match(out, /02:42:de:ad:be:ef/);
    assert.match(out, /inet 10\.78\.0\.50\/24/);
    const bad = await docker(env.daemon, ['run', '--rm', '--network', 'fixed', '--ip', '10.99.0.5', env.ref, 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /does not belong to the subnet/);
  } finally {
    await env.ok(['network', 'rm', 'fixed']);
  }
  const missing = await docker(env.daemon, ['run', '--rm', '--network', 'no-such-net', env.ref, 'true']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /network no-such-net not found/);
});

test('IPv6 networks: v6 subnet and gateway, --ip6 on run and connect, v6 traffic between containers and out through NAT', { skip }, async () => {
  const { table } = networkNames(env.daemon);
  // The outside host gets a v6 address too; it has no route back to the containers' v6 subnet.
  await runOk('ip', ['addr', 'add', 'fd77:77::1/64', 'dev', outside!.hostIf, 'nodad']);
  await runOk('ip', ['-n', outside!.ns, 'addr', 'add', 'fd77:77::2/64', 'dev', 'eth0', 'nodad']);
  await env.ok(['network', 'create', '--ipv6', '--subnet', '2001:db8:42::/64', 'v6n']);
  const srv = await webServer(['--name', 'v6srv', '--network', 'v6n', '--ip6', '2001:db8:42::10'], 'v6-hello');
  const plain = (await env.ok(['run', '-d', env.ref, 'sleep', '60'])).trim();
  try {
    const net = JSON.parse(await env.ok(['network', 'inspect', 'v6n']))[0];
    assert.equal(net.EnableIPv6, true);
    assert.deepEqual(net.IPAM.Config[1], { Subnet: '2001:db8:42::/64', Gateway: '2001:db8:42::1' });
    assert.match(net.IPAM.Config[0].Subnet, /^\d+\.\d+\.\d+\.\d+\/\d+$/, 'an IPv4 subnet as well, as in Docker');
    const ep = (await inspect('v6srv')).NetworkSettings.Networks.v6n;
    assert.equal(ep.GlobalIPv6Address, '2001:db8:42::10');
    assert.equal(ep.GlobalIPv6PrefixLen, 64);
    assert.equal(ep.IPv6Gateway, '2001:db8:42::1');
    assert.deepEqual(ep.IPAMConfig, { IPv6Address: '2001:db8:42::10' });
    assert.equal(net.Containers[(await inspect('v6srv')).Id].IPv6Address, '2001:db8:42::10/64');

    const out = await sh(['--network', 'v6n'], 'ip -6 route; timeout 5 wget -qO- http://[2001:db8:42::10]:8080/; timeout 5 wget -qO- http://[fd77:77::2]:8000/cgi-bin/whoami');
    assert.match(out, /default via 2001:db8:42::1 dev eth0/);
    assert.match(out, /v6-hello/, 'container to container over IPv6');
    assert.match(out, /\[?fd77:77::1\]?\s*$/, 'the outside host sees the host\'s v6 address: outbound v6 is masqueraded');
    const rules = await runOk('nft', ['list', 'table', 'ip6', table]);
    assert.match(rules.toString(), /ip6 saddr 2001:db8:42::\/64 oifname != "[^"]+" masquerade/);

    // connect with an IPv6Address (docker network connect --ip6) to a running container.
    await env.ok(['network', 'connect', '--ip6', '2001:db8:42::20', 'v6n', plain]);
    const joined = (await inspect(plain)).NetworkSettings.Networks.v6n;
    assert.equal(joined.GlobalIPv6Address, '2001:db8:42::20');
    assert.match(await env.ok(['exec', plain, 'ip', '-6', 'addr', 'show', 'eth1']), /inet6 2001:db8:42::20\/64/);
    assert.match(await env.ok(['exec', plain, 'sh', '-c', 'timeout 5 wget -qO- http://[2001:db8:42::10]:8080/']), /v6-hello/);

    const outside6 = await docker(env.daemon, ['run', '--rm', '--network', 'v6n', '--ip6', '2001:db8:99::5', env.ref, 'true']);
    assert.notEqual(outside6.code, 0);
    assert.match(outside6.stderr, /does not belong to the subnet 2001:db8:42::\/64/);
    const noV6 = await docker(env.daemon, ['network', 'connect', '--ip6', '2001:db8:42::30', 'bridge', plain]);
    assert.notEqual(noV6.code, 0);
  } finally {
    await env.ok(['rm', '-f', srv, plain]);
    await env.ok(['network', 'rm', 'v6n']);
    await run('ip', ['addr', 'del', 'fd77:77::1/64', 'dev', outside!.hostIf]);
  }
  const gone = await run('nft', ['list', 'table', 'ip6', table]);
  assert.notEqual(gone.code, 0, 'no ip6 table once no network has IPv6');
});

test('network create: any name, IPAM as given, a subnet free again after rm; link-local IPs; bad connect and forced disconnect are refused', { skip }, async () => {
  const d = env.daemon;
  const spaced = await d.request('POST', '/networks/create', { Name: 'test 01' });
  assert.equal(spaced.status, 201, spaced.body.toString());
  assert.equal((await d.request('GET', '/networks/test%2001')).json<{ Name: string }>().Name, 'test 01');
  assert.equal((await d.request('DELETE', '/networks/test%2001')).status, 204);

  const ipam = { Driver: 'default', Config: [{ Subnet: '172.28.0.0/16', IPRange: '172.28.5.0/24', Gateway: '172.28.5.254', AuxiliaryAddresses: { a: '172.28.1.5', b: '172.28.1.6' } }] };
  for (let round = 0; round < 2; round++) {
    // The same subnet twice in a row: a removed network's pool is free again.
    const r = await d.request('POST', '/networks/create', { Name: 'ipamnet', IPAM: ipam });
    assert.equal(r.status, 201, r.body.toString());
    const net = (await d.request('GET', '/networks/ipamnet')).json<any>();
    assert.equal(net.IPAM.Options, null, 'no IPAM options asked: null, as in Docker');
    assert.deepEqual(net.IPAM.Config, ipam.Config);
    const overlap = await d.request('POST', '/networks/create', { Name: 'ipamnet2', IPAM: { Config: [{ Subnet: '172.28.128.0/17' }] } });
    assert.equal(overlap.status, 403);
    assert.match(overlap.json<{ message: string }>().message, /Pool overlaps with other one on this address space \(network ipamnet\)/);
    assert.equal((await d.request('DELETE', '/networks/ipamnet')).status, 204);
  }
  const badGw = await d.request('POST', '/networks/create', { Name: 'badgw', IPAM: { Config: [{ Subnet: '10.79.0.0/24', Gateway: '10.80.0.1' }] } });
  assert.equal(badGw.status, 400);
  assert.match(badGw.json<{ message: string }>().message, /invalid gateway 10\.80\.0\.1: parent subnet 10\.79\.0\.0\/24 doesn't contain this address/);
  const hostDriver = await d.request('POST', '/networks/create', { Name: 'another-host', Driver: 'host' });
  assert.equal(hostDriver.status, 403);

  const ll = (await env.ok(['run', '-d', '--link-local-ip', '169.254.8.8', env.ref, 'sleep', '60'])).trim();
  await env.ok(['network', 'create', 'side']);
  try {
    assert.deepEqual((await inspect(ll)).NetworkSettings.Networks.bridge.IPAMConfig, { LinkLocalIPs: ['169.254.8.8'] });
    assert.match(await env.ok(['exec', ll, 'ip', '-4', 'addr', 'show', 'eth0']), /inet 169\.254\.8\.8\/16/);
    const notLinkLocal = await docker(d, ['run', '--rm', '--link-local-ip', '10.1.1.1', env.ref, 'true']);
    assert.notEqual(notLinkLocal.code, 0);
    assert.match(notLinkLocal.stderr, /invalid link-local IP address: 10\.1\.1\.1/);

    const badMac = await d.request('POST', '/networks/side/connect', { Container: ll, EndpointConfig: { MacAddress: 'x' } });
    assert.equal(badMac.status, 400, badMac.body.toString());
    assert.match(badMac.json<{ message: string }>().message, /invalid MAC address: x/);
    assert.equal((await inspect(ll)).NetworkSettings.Networks.side, undefined, 'nothing connected');

    // As in dockerd: forcing does not make a disconnect of a container that is not on the network succeed.
    const forced = await d.request('POST', '/networks/side/disconnect', { Container: ll, Force: true });
    assert.equal(forced.status, 404);
    assert.match(forced.json<{ message: string }>().message, /endpoint .+ not found/);
    const plain = await d.request('POST', '/networks/side/disconnect', { Container: ll });
    assert.equal(plain.status, 403);
    assert.match(plain.json<{ message: string }>().message, /is not connected to network side/);
    const unknown = await d.request('POST', '/networks/side/disconnect', { Container: 'no-such-container', Force: true });
    assert.equal(unknown.status, 404);
  } finally {
    await env.ok(['rm', '-f', ll]);
    await env.ok(['network', 'rm', 'side']);
  }
});

test('a container taken off its only network and connected again gets its default route back; --link on connect names the target for it', { skip }, async () => {
  await env.ok(['network', 'create', 'lnk']);
  const c1 = (await env.ok(['run', '-d', '--name', 'lnk-client', '--network', 'lnk', env.ref, 'sleep', '120'])).trim();
  const other = (await env.ok(['run', '-d', '--network', 'lnk', env.ref, 'sleep', '120'])).trim();
  let upstream = '';
  try {
    await env.ok(['network', 'disconnect', 'lnk', c1]);
    await env.ok(['network', 'connect', '--link', 'lnk-upstream:bar', 'lnk', c1]);
    assert.deepEqual((await inspect(c1)).NetworkSettings.Networks.lnk.Links, ['lnk-upstream:bar']);
    const gw = JSON.parse(await env.ok(['network', 'inspect', 'lnk', '--format', '{{json .IPAM.Config}}']))[0].Gateway as string;
    assert.match(await env.ok(['exec', c1, 'ip', 'route']), new RegExp(`default via ${gw.replaceAll('.', '\\.')} dev eth0`));
    // The link target starts after the link was made: the name resolves from then on.
    upstream = (await env.ok(['run', '-d', '--name', 'lnk-upstream', '--network', 'lnk', env.ref, 'sleep', '120'])).trim();
    const upIp = (await inspect(upstream)).NetworkSettings.Networks.lnk.IPAddress as string;
    const looked = await env.ok(['exec', c1, 'nslookup', 'bar']);
    assert.match(looked, new RegExp(`Address: ${upIp.replaceAll('.', '\\.')}`));
    const elsewhere = await docker(env.daemon, ['exec', other, 'nslookup', 'bar']);
    assert.notEqual(elsewhere.code, 0, 'the alias is the linking container\'s alone');
  } finally {
    await env.ok(['rm', '-f', c1, other, ...(upstream ? [upstream] : [])]);
    await env.ok(['network', 'rm', 'lnk']);
  }
});

test('network prune honours label, label! and until, and refuses bad filters before removing anything', { skip }, async () => {
  await env.ok(['network', 'create', '--label', 'temp=1', 'np-temp']);
  await env.ok(['network', 'create', '--label', 'temp=1', '--label', 'keep', 'np-keep']);
  await env.ok(['network', 'create', 'np-plain']);
  const names = async (): Promise<string[]> => (await env.ok(['network', 'ls', '--filter', 'name=np-', '--format', '{{.Name}}'])).trim().split('\n').filter(Boolean).sort();
  try {
    for (const f of ['until=abc', 'color=red', 'dangling=true']) {
      const r = await docker(env.daemon, ['network', 'prune', '-f', '--filter', f]);
      assert.notEqual(r.code, 0, f);
    }
    const two = await env.daemon.request('POST', `/networks/prune?filters=${encodeURIComponent(JSON.stringify({ until: ['1h', '2h'] }))}`);
    assert.equal(two.status, 400);
    assert.deepEqual(await names(), ['np-keep', 'np-plain', 'np-temp'], 'refused prunes removed nothing');
    const young = await env.daemon.request('POST', `/networks/prune?filters=${encodeURIComponent(JSON.stringify({ until: ['9999h'] }))}`);
    assert.deepEqual(young.json<{ NetworksDeleted: string[] | null }>().NetworksDeleted ?? [], [], 'created now: younger than 9999h ago');
    const out = await env.ok(['network', 'prune', '-f', '--filter', 'label=temp=1', '--filter', 'label!=keep']);
    assert.match(out, /np-temp/);
    assert.deepEqual(await names(), ['np-keep', 'np-plain']);
  } finally {
    await docker(env.daemon, ['network', 'rm', 'np-temp', 'np-keep', 'np-plain']);
  }
});

test('docker rm --link parent/alias removes the link and nothing else', { skip }, async () => {
  const target = (await env.ok(['run', '-d', '--name', 'rmlink-db', env.ref, 'sleep', '120'])).trim();
  const parent = (await env.ok(['run', '-d', '--name', 'rmlink-web', '--link', 'rmlink-db:db', env.ref, 'sleep', '120'])).trim();
  try {
    const names = async (): Promise<string> => (await env.ok(['ps', '--no-trunc', '--filter', `id=${target}`, '--format', '{{.Names}}'])).trim();
    assert.equal(await names(), 'rmlink-db,rmlink-web/db', 'a link is one of the target\'s names, as in Docker');
    await env.ok(['rm', '--link', 'rmlink-web/db']);
    assert.equal(await names(), 'rmlink-db');
    assert.equal((await env.ok(['ps', '-q', '--no-trunc', '--filter', 'name=rmlink-'])).trim().split('\n').sort().join(','), [target, parent].sort().join(','), 'both containers are still there');
    await env.ok(['restart', '-t', '0', parent]);
    assert.doesNotMatch(await env.ok(['exec', parent, 'cat', '/etc/hosts']), /\bdb\b/, 'the next start has no link');
    const again = await docker(env.daemon, ['rm', '--link', 'rmlink-web/db']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /No such container: rmlink-web\/db/);
  } finally {
    await env.ok(['rm', '-f', parent, target]);
  }
});

test('a daemon killed and restarted keeps running containers reachable: ports, names, stats', { skip }, async () => {
  await env.ok(['network', 'create', 'keep']);
  const srv = await webServer(['--name', 'keeper', '--network', 'keep', '-p', '18110:8080'], 'still-here');
  try {
    assert.equal((await eventually(() => httpGet('http://127.0.0.1:18110/'))).trim(), 'still-here');
    await env.daemon.kill9();
    await env.daemon.restart();
    assert.equal((await eventually(() => httpGet('http://127.0.0.1:18110/'))).trim(), 'still-here', 'the published port survived');
    assert.equal((await sh(['--network', 'keep'], 'timeout 5 wget -qO- http://keeper:8080/')).trim(), 'still-here', 'and the name');
    const taken = await docker(env.daemon, ['run', '--rm', '-p', '18110:80', env.ref, 'true']);
    assert.match(taken.stderr, /port is already allocated/, 'the port is held again after the restart');
    const stats = JSON.parse(await env.ok(['stats', '--no-stream', '--format', '{{json .}}', 'keeper']));
    assert.doesNotMatch(stats.NetIO, /^0B \/ 0B$/, 'network counters in docker stats');
  } finally {
    await env.ok(['rm', '-f', srv]);
    await env.ok(['network', 'rm', 'keep']);
  }
});

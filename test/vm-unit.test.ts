// The VM launcher's pure parts: accelerator choice per OS, the qemu command line, the kernel
// command line the guest reads, boot markers, which ports get forwarded, settings checks; and the
// SSH helpers: ssh:// addresses and known_hosts matching (plain, [host]:port, hashed, negated).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import { parseHost } from '../client/index.js';
import { berthHome, hostFor, isPipe, socketIn } from '../client/home.js';
import { KnownHosts, blobFromPublicLine, parseSshHost } from '../client/ssh/index.js';
import type { VmSettings } from '../types/desktop-api.js';
import { parseMarker, stageProgress, BOOT_STAGES } from '../vm/host/console.js';
import type { VmImage } from '../vm/host/image.js';
import { guestArch, wantedGuestArch } from '../vm/host/image.js';
import { wantedPorts } from '../vm/host/ports.js';
import { acceleratorCandidates, kernelCmdline, qemuArgs, qemuBinary, sharesFor } from '../vm/host/qemu.js';
import { virtiofsdArgs } from '../vm/host/virtiofsd.js';
import type { LaunchSpec } from '../vm/host/qemu.js';
import { mergeVmSettings } from '../vm/host/settings.js';
import { makeTempDir, removeDir } from './harness/util.js';

const settings: VmSettings = { cpus: 2, memoryMiB: 2048, diskGiB: 64, shares: ['/home/ann', '/srv/a,b'], accel: 'auto', insecureRegistries: ['host.docker.internal:5000'] };
const image: VmImage = { dir: '/img', arch: 'x86_64', version: 'v1', kernel: '/img/vmlinuz', initrd: '/img/initrd.img', rootfs: '/img/rootfs.img', console: 'ttyS0' };
const spec = (over: Partial<LaunchSpec> = {}): LaunchSpec => ({
  image,
  settings,
  accel: 'kvm',
  platform: 'linux',
  dataDisk: '/h/.berth/vm/data.qcow2',
  sshPort: 40022,
  publicKey: 'ssh-ed25519 AAAAkey berth@h',
  consoleLog: '/h/.berth/vm/console.log',
  qmp: 'unix:/h/.berth/vm/qmp.sock',
  ...over,
});
const after = (args: string[], flag: string): string[] => args.flatMap((a, i) => (args[i - 1] === flag ? [a] : []));

test('accelerators: the OS hypervisor first, TCG as the fallback; an explicit choice is used alone', () => {
  assert.deepEqual(acceleratorCandidates('auto', 'linux', true), ['kvm', 'tcg']);
  assert.deepEqual(acceleratorCandidates('auto', 'linux', false), ['tcg']);
  assert.deepEqual(acceleratorCandidates('auto', 'darwin', false), ['hvf', 'tcg']);
  assert.deepEqual(acceleratorCandidates('auto', 'win32', false), ['whpx', 'tcg']);
  assert.deepEqual(acceleratorCandidates('tcg', 'linux', true), ['tcg']);
  assert.equal(qemuBinary('x86_64', 'linux'), 'qemu-system-x86_64');
  assert.equal(qemuBinary('aarch64', 'darwin'), 'qemu-system-aarch64');
  assert.equal(qemuBinary('x86_64', 'win32'), 'qemu-system-x86_64.exe');
  assert.equal(guestArch('x64'), 'x86_64');
  assert.equal(guestArch('arm64'), 'aarch64');
  assert.throws(() => guestArch('ia32'), /x86_64 and arm64/);
});

test('qemu command line: direct kernel boot, disks by serial, loopback SSH forward, 9p shares, QMP', () => {
  const args = qemuArgs(spec());
  assert.deepEqual(after(args, '-accel'), ['kvm']);
  assert.deepEqual(after(args, '-cpu'), ['host'], 'a hypervisor passes the host CPU through');
  assert.deepEqual(after(qemuArgs(spec({ accel: 'tcg' })), '-cpu'), ['max']);
  assert.deepEqual(after(args, '-smp'), ['2']);
  assert.deepEqual(after(args, '-m'), ['2048']);
  assert.deepEqual(after(args, '-kernel'), ['/img/vmlinuz']);
  assert.ok(args.includes('-nodefaults') && args.includes('-no-reboot'));
  const drives = after(args, '-drive');
  assert.match(drives[0] as string, /file=\/img\/rootfs\.img,format=raw,readonly=on/);
  assert.match(drives[1] as string, /file=\/h\/\.berth\/vm\/data\.qcow2,format=qcow2/);
  const devices = after(args, '-device');
  assert.ok(devices.includes('virtio-blk-pci,drive=root,serial=berth-root'));
  assert.ok(devices.includes('virtio-blk-pci,drive=data,serial=berth-data'));
  assert.deepEqual(after(args, '-netdev'), ['user,id=net0,hostfwd=tcp:127.0.0.1:40022-:22'], 'SSH only on the host loopback');
  assert.deepEqual(after(args, '-fsdev'), ['local,id=share0,path=/home/ann,security_model=none', 'local,id=share1,path=/srv/a,,b,security_model=none'], 'commas in paths are doubled');
  assert.ok(devices.includes('virtio-9p-pci,fsdev=share1,mount_tag=share1'));
  assert.deepEqual(after(args, '-qmp'), ['unix:/h/.berth/vm/qmp.sock,server=on,wait=off']);
  assert.deepEqual(after(qemuArgs(spec({ platform: 'darwin', accel: 'hvf' })), '-fsdev')[0], 'local,id=share0,path=/home/ann,security_model=mapped-xattr');
  assert.deepEqual(after(qemuArgs(spec({ platform: 'win32', accel: 'whpx' })), '-fsdev'), [], 'no 9p in qemu for Windows');
  assert.deepEqual(after(qemuArgs(spec({ image: { ...image, arch: 'aarch64', console: 'ttyAMA0' } })), '-machine'), ['virt']);
});

test('virtio-fs: a vhost-user-fs device per share on its virtiofsd socket, guest RAM a shared memfd', () => {
  const shares = sharesFor(settings, 'virtiofs');
  const args = qemuArgs(spec({ shares, virtiofsSockets: { share0: '/h/.berth/vm/virtiofs-share0.sock', share1: '/h/.berth/vm/virtiofs-share1.sock' } }));
  assert.deepEqual(after(args, '-object'), ['memory-backend-memfd,id=mem,size=2048M,share=on']);
  assert.deepEqual(after(args, '-machine'), ['q35,memory-backend=mem']);
  assert.deepEqual(after(args, '-chardev').slice(1), ['socket,id=share0,path=/h/.berth/vm/virtiofs-share0.sock', 'socket,id=share1,path=/h/.berth/vm/virtiofs-share1.sock']);
  assert.ok(after(args, '-device').includes('vhost-user-fs-pci,chardev=share1,tag=share1,queue-size=1024'));
  assert.deepEqual(after(args, '-fsdev'), [], 'no 9p devices');
  assert.throws(() => qemuArgs(spec({ shares })), /no virtiofsd socket for share0/);
  assert.deepEqual(after(qemuArgs(spec({ accel: 'tcg', image: { ...image, arch: 'aarch64', console: 'ttyAMA0' } })), '-cpu'), ['max,pauth-impdef=on'], 'arm64 TCG: the fast pointer-auth');
  // The C virtiofsd (Debian 12's qemu) and the Rust one spell their options differently.
  assert.deepEqual(virtiofsdArgs('/usr/lib/qemu/virtiofsd', '/s.sock', '/src'), ['--socket-path=/s.sock', '-o', 'source=/src', '-o', 'cache=auto']);
  assert.deepEqual(virtiofsdArgs('/usr/libexec/virtiofsd', '/s.sock', '/a,b'), ['--socket-path', '/s.sock', '--shared-dir', '/a,b', '--cache', 'auto']);
  assert.throws(() => virtiofsdArgs('/usr/lib/qemu/virtiofsd', '/s.sock', '/a,b'), /comma/);
  assert.equal(wantedGuestArch({ BERTH_VM_ARCH: 'aarch64' }, 'x64'), 'aarch64');
  assert.equal(wantedGuestArch({}, 'x64'), 'x86_64');
  assert.throws(() => wantedGuestArch({ BERTH_VM_ARCH: 'riscv64' }, 'x64'), /x86_64 or aarch64/);
});

test('kernel command line: the key, the shares and the registries reach the guest intact', () => {
  const cmdline = kernelCmdline(spec());
  const params = Object.fromEntries(cmdline.split(' ').map((p) => [p.split('=')[0], p.slice(p.indexOf('=') + 1)]));
  assert.equal(params['console'], 'ttyS0');
  assert.equal(Buffer.from(params['berth.key'] as string, 'base64').toString(), 'ssh-ed25519 AAAAkey berth@h');
  assert.equal(Buffer.from(params['berth.shares'] as string, 'base64').toString(), 'share0 /home/ann 9p\nshare1 /srv/a,b 9p');
  const vfs = kernelCmdline(spec({ shares: sharesFor(settings, 'virtiofs') }));
  assert.match(Buffer.from(/berth\.shares=(\S+)/.exec(vfs)?.[1] as string, 'base64').toString(), /^share0 \/home\/ann virtiofs\nshare1 \/srv\/a,b virtiofs$/);
  assert.equal(params['berth.insecure'], 'host.docker.internal:5000');
  assert.doesNotMatch(cmdline, /\n/);
});

test('console markers: stages in order with progress, the host key line, errors; noise ignored', () => {
  assert.deepEqual(parseMarker('BERTH-BOOT rootfs'), { stage: 'rootfs', detail: '' });
  assert.deepEqual(parseMarker('[    1.2] BERTH-BOOT hostkey ssh-ed25519 AAAAC3 root@berth-vm\r'), { stage: 'hostkey', detail: 'ssh-ed25519 AAAAC3 root@berth-vm' });
  assert.deepEqual(parseMarker('BERTH-BOOT error data disk not found'), { error: 'data disk not found' });
  assert.equal(parseMarker('BERTH-BOOT engine'), undefined, 'host-side stages never come from the console');
  assert.equal(parseMarker('Linux version 6.12'), undefined);
  const fractions = BOOT_STAGES.map(([, f]) => f);
  assert.deepEqual([...fractions].sort((a, b) => a - b), fractions);
  assert.equal(stageProgress('engine'), 1);
});

test('forwarded ports: published ones on IPv4, both protocols, merged across containers', () => {
  const wanted = wantedPorts([
    { Names: ['/web'], Ports: [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }, { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }, { PrivatePort: 443, Type: 'tcp' }] },
    { Names: ['/dns'], Ports: [{ IP: '127.0.0.1', PrivatePort: 53, PublicPort: 5353, Type: 'udp' }] },
    { Names: ['/web2'], Ports: [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }] },
  ]);
  assert.deepEqual([...wanted.values()], [
    { proto: 'tcp', port: 8080, containers: ['web', 'web2'] },
    { proto: 'udp', port: 5353, containers: ['dns'] },
  ]);
});

test('VM settings: checked with actionable messages; the disk only grows', () => {
  const base: VmSettings = { cpus: 1, memoryMiB: 1024, diskGiB: 64, shares: [], accel: 'auto' };
  assert.equal(mergeVmSettings(base, { diskGiB: 100 }).diskGiB, 100);
  assert.throws(() => mergeVmSettings(base, { diskGiB: 32 }), /can only grow/);
  assert.throws(() => mergeVmSettings(base, { cpus: 0 }), /cpus must be a whole number/);
  assert.throws(() => mergeVmSettings(base, { memoryMiB: 1.5 }), /memory/);
  assert.throws(() => mergeVmSettings(base, { accel: 'fast' as never }), /one of auto, kvm/);
  assert.throws(() => mergeVmSettings(base, { shares: ['relative/dir'] }), /absolute path/);
  assert.throws(() => mergeVmSettings(base, { insecureRegistries: ['http://x'] }), /host:port/);
  assert.deepEqual(mergeVmSettings(base, { shares: ['/a/', '/a', '/b'] }).shares, ['/a', '/b']);
});

test('ssh:// addresses: user, port and socket default like docker; passwords refused', () => {
  assert.deepEqual(parseSshHost('ssh://ann@box.example', 'me'), { user: 'ann', host: 'box.example', port: 22, socketPath: '/var/run/docker.sock' });
  assert.deepEqual(parseSshHost('ssh://box:2222/run/berth/docker.sock', 'me'), { user: 'me', host: 'box', port: 2222, socketPath: '/run/berth/docker.sock' });
  assert.deepEqual(parseSshHost('ssh://root@[::1]:22', 'me'), { user: 'root', host: '::1', port: 22, socketPath: '/var/run/docker.sock' });
  assert.throws(() => parseSshHost('ssh://ann:secret@box'), /passwords are not supported/);
  assert.throws(() => parseSshHost('tcp://box'), /must start with ssh:\/\//);
  assert.throws(() => parseSshHost('ssh://'), /invalid ssh engine address/);
});

test('known hosts: plain, [host]:port, hashed and negated names; a listed name with another key is a mismatch', async () => {
  const dir = await makeTempDir('berth-kh-');
  try {
    const key = (): Buffer => blobFromPublicLine(ssh2.utils.generateKeyPairSync('ed25519').public);
    const [a, b, c] = [key(), key(), key()];
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[hashed.example]:2200').digest('base64')}`;
    const user = path.join(dir, 'user_known_hosts');
    await fsp.writeFile(
      user,
      [
        '# comment',
        `plain.example,*.wild.example,!bad.wild.example ssh-ed25519 ${a.toString('base64')}`,
        `${hashed} ssh-ed25519 ${b.toString('base64')}`,
        `@revoked plain.example ssh-ed25519 ${c.toString('base64')}`,
        `rsa.example ssh-rsa AAAAB3NzaC1yc2E=`,
      ].join('\n'),
    );
    const known = new KnownHosts(path.join(dir, 'pinned'), [user]);
    assert.equal(await known.verify('plain.example', 22, a), 'match');
    assert.equal(await known.verify('x.wild.example', 22, a), 'match');
    assert.equal(await known.verify('bad.wild.example', 22, a), 'unknown');
    assert.equal(await known.verify('plain.example', 22, b), 'mismatch');
    assert.equal(await known.verify('plain.example', 2222, a), 'unknown', 'another port is another name');
    assert.equal(await known.verify('hashed.example', 2200, b), 'match');
    assert.equal(await known.verify('hashed.example', 2200, a), 'mismatch');
    assert.equal(await known.verify('rsa.example', 22, a), 'mismatch', 'a key of another type than the listed one is refused too');
    assert.equal(await known.verify('plain.example', 22, c), 'mismatch', 'a revoked key is never a match');
    await known.pin('new.example', 2200, b);
    assert.equal(await known.verify('new.example', 2200, b), 'match');
    await assert.rejects(known.pin('new.example', 2200, a), /the host key of \[new\.example\]:2200 changed/, 'pinning another key is refused');
    assert.equal(await known.verify('new.example', 2200, a), 'mismatch');
    await known.pin('new.example', 2200, a, { replace: true });
    assert.equal(await known.verify('new.example', 2200, a), 'match', 'replacing is explicit');
    assert.equal((await fsp.readFile(path.join(dir, 'pinned'), 'utf8')).trim().split('\n').length, 1);
    assert.equal((await fsp.stat(path.join(dir, 'pinned'))).mode & 0o777, 0o600);
    await known.unpin('new.example', 2200);
    assert.equal(await known.verify('new.example', 2200, a), 'unknown');
  } finally {
    await removeDir(dir);
  }
});

test('Windows: the sockets are named pipes per Berth root, and DOCKER_HOST is npipe://', () => {
  const home = berthHome({ USERPROFILE: 'C:\\Users\\ann' }, 'win32');
  assert.equal(home.root, 'C:\\Users\\ann\\.berth');
  assert.equal(home.knownHosts, 'C:\\Users\\ann\\.berth\\ssh\\known_hosts');
  assert.match(home.vmSocket, /^\\\\\.\\pipe\\berth-[0-9a-f]{8}-docker$/);
  assert.match(home.vmControl, /^\\\\\.\\pipe\\berth-[0-9a-f]{8}-vm$/);
  assert.notEqual(berthHome({ USERPROFILE: 'C:\\Users\\bob' }, 'win32').vmSocket, home.vmSocket, 'one pipe per user');
  assert.ok(isPipe(home.vmSocket));
  const host = hostFor(home.vmSocket);
  assert.match(host, /^npipe:\/\/\/\/\.\/pipe\/berth-[0-9a-f]{8}-docker$/);
  assert.deepEqual(parseHost(host), { protocol: 'unix', socketPath: home.vmSocket }, 'the client reads back the pipe it names');
  assert.deepEqual(parseHost('npipe:////./pipe/docker_engine'), { protocol: 'unix', socketPath: '\\\\.\\pipe\\docker_engine' });
  assert.throws(() => parseHost('npipe://nonsense'), /npipe:\/\/\/\/\.\/pipe\/<name>/);

  const posix = berthHome({ HOME: '/home/ann' }, 'linux');
  assert.equal(posix.vmSocket, '/home/ann/.berth/run/docker.sock');
  assert.equal(hostFor(posix.vmSocket), 'unix:///home/ann/.berth/run/docker.sock');
  assert.equal(socketIn(posix, 'engine-x'), '/home/ann/.berth/run/engine-x.sock');
});

/**
 * A SOCK_SEQPACKET client for hosts where the native addon `node-unix-socket` has no prebuilt
 * binary (the npm registry serves it for linux-x64 only; the arm64 Berth VM has none). Node
 * cannot open such a socket, so a small perl process does: perl-base is Essential in Debian (it is
 * in every Debian system, the VM's image included) and its Socket module knows SOCK_SEQPACKET.
 *
 * The bridge keeps message boundaries across the pipes with a frame per packet:
 *   perl → node: one byte 0x01 once connected, then [u32 big-endian length][packet] per packet;
 *   node → perl: [u32 length][packet], each sent as one packet. Closing perl's stdin shuts the
 *   socket's write side (SHUT_WR), as the addon's end() does; perl exits when the peer closes.
 * A connect failure exits with 3 (no such socket), 4 (refused) or 1, and strerror on stderr.
 *
 * The class offers the part of the addon's SeqpacketSocket that attach.ts uses, with the same
 * events ('connect', 'data' per packet, 'end', 'close', 'error'). Unlike the addon it has flow
 * control: perl blocks on a full pipe, which holds back conmon.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';

const BRIDGE = String.raw`
use strict; use warnings; use Socket; use Errno;
my $path = shift @ARGV;
socket(my $s, AF_UNIX, SOCK_SEQPACKET, 0) or do { print STDERR "socket: $!\n"; exit 1 };
# sun_path holds 107 bytes: connect through the directory for longer paths.
if (length($path) > 107 && $path =~ m{^(.*)/([^/]+)$}) { chdir($1) or do { print STDERR "$!\n"; exit 3 }; $path = $2 }
unless (connect($s, pack_sockaddr_un($path))) {
  print STDERR "$!\n";
  exit($!{ENOENT} ? 3 : $!{ECONNREFUSED} ? 4 : 1);
}
binmode STDIN; binmode STDOUT;
sub put { my $b = shift; while (length $b) { my $n = syswrite(STDOUT, $b); exit 0 unless defined $n; substr($b, 0, $n) = '' } }
put("\x01");
my ($in, $inOpen, $sockOpen) = ('', 1, 1);
while ($sockOpen) {
  my $r = ''; vec($r, fileno($s), 1) = 1; vec($r, fileno(STDIN), 1) = 1 if $inOpen;
  if (select($r, undef, undef, undef) < 0) { next if $!{EINTR}; exit 1 }
  if (vec($r, fileno($s), 1)) {
    my $n = sysread($s, my $pkt, 262144);
    if (!$n) { $sockOpen = 0; last }
    put(pack('N', length $pkt) . $pkt);
  }
  if ($inOpen && vec($r, fileno(STDIN), 1)) {
    my $n = sysread(STDIN, $in, 65536, length $in);
    if (!$n) { $inOpen = 0; shutdown($s, 1); next }
    while (length($in) >= 4) {
      my $len = unpack('N', $in);
      last if length($in) < 4 + $len;
      my $pkt = substr($in, 4, $len); substr($in, 0, 4 + $len) = '';
      defined(send($s, $pkt, 0)) or exit 0;
    }
  }
}
exit 0;
`;

export class BridgedSeqpacketSocket extends EventEmitter {
  private child: ChildProcess | undefined;
  private connected = false;
  private ended = false;
  private closed = false;
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly perl = 'perl') {
    super();
  }

  /** Starts connecting; 'connect' or 'error' follows. Paths of any length work. */
  connect(socketPath: string): void {
    const child = spawn(this.perl, ['-e', BRIDGE, socketPath], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.stdin?.on('error', () => undefined); // EPIPE after the bridge exited: 'close' reports the end
    child.stdout?.on('data', (d: Buffer) => this.onOutput(d));
    child.once('error', (err) => this.fail(err));
    child.once('close', (code) => {
      if (!this.connected) {
        // perl's strerror ("No such file or directory", "Connection refused"), as the addon reports it.
        const why = stderr.trim() || `the perl bridge exited with ${code}`;
        this.fail(Object.assign(new Error(why), { code: code === 3 ? 'ENOENT' : code === 4 ? 'ECONNREFUSED' : 'EIO' }));
        return;
      }
      if (!this.ended) {
        this.ended = true;
        this.emit('end');
      }
      this.close();
    });
  }

  private onOutput(d: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    if (!this.connected) {
      if (this.pending[0] !== 0x01) return;
      this.connected = true;
      this.pending = this.pending.subarray(1);
      this.emit('connect');
    }
    while (this.pending.length >= 4) {
      const len = this.pending.readUInt32BE(0);
      if (this.pending.length < 4 + len) break;
      // A copy: the packet must not pin the (possibly larger) read buffer.
      const packet = Buffer.from(this.pending.subarray(4, 4 + len));
      this.pending = this.pending.subarray(4 + len);
      this.emit('data', packet);
    }
  }

  /** Sends buf[offset, offset+length) as one packet; cb once it is handed to the bridge. */
  write(buf: Buffer, offset: number, length: number, cb?: () => void): void {
    const stdin = this.child?.stdin;
    if (!stdin || this.closed) throw new Error('the socket is closed');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(length, 0);
    stdin.write(Buffer.concat([header, buf.subarray(offset, offset + length)]), () => cb?.());
  }

  /** Shuts the write side (the peer reads end of file); reading goes on. */
  end(cb?: () => void): void {
    const stdin = this.child?.stdin;
    if (!stdin || this.closed) {
      cb?.();
      return;
    }
    stdin.end(() => cb?.());
  }

  destroy(): void {
    this.close();
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.emit('error', err);
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    this.emit('close');
  }
}

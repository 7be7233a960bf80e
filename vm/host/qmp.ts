/**
 * A small QMP client (QEMU Machine Protocol: JSON objects, one per line, over a socket). The
 * supervisor uses it for what only qemu can do: add and remove the loopback port forwards of
 * user-mode networking, ask the guest to power down (ACPI), and quit as a last resort.
 *
 * Commands run one at a time, in order; asynchronous events from qemu are emitted as 'event'.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export class QmpError extends Error {}

export class QmpClient extends EventEmitter {
  private buffer = '';
  private readonly queue: Pending[] = [];

  private constructor(private readonly sock: net.Socket) {
    super();
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('close', () => {
      for (const p of this.queue.splice(0)) p.reject(new QmpError('qemu closed the QMP connection'));
      this.emit('close');
    });
    sock.on('error', () => undefined);
  }

  /** Connects (`unix:<path>` or `tcp:<host>:<port>`) and leaves capabilities negotiation mode. */
  static async connect(address: string, timeoutMs = 5_000): Promise<QmpClient> {
    const sock = address.startsWith('unix:')
      ? net.connect(address.slice(5))
      : net.connect(Number(address.split(':')[2]), address.split(':')[1] ?? '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new QmpError(`no QMP connection to ${address} within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(new QmpError(`cannot connect to QMP at ${address}: ${err.message}`));
      });
    });
    const client = new QmpClient(sock);
    // The greeting arrives first and answers nothing: a placeholder takes it.
    await new Promise<unknown>((resolve, reject) => client.queue.push({ resolve, reject }));
    await client.execute('qmp_capabilities');
    return client;
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if ('event' in msg) {
        this.emit('event', msg);
        continue;
      }
      const pending = this.queue.shift();
      if (!pending) continue;
      if ('error' in msg) {
        const e = msg['error'] as { desc?: string } | undefined;
        pending.reject(new QmpError(e?.desc ?? 'QMP error'));
      } else {
        pending.resolve(msg['return'] ?? msg['QMP']);
      }
    }
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.sock.destroyed) {
        reject(new QmpError('the QMP connection is closed'));
        return;
      }
      this.queue.push({ resolve, reject });
      this.sock.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    });
  }

  /** A human monitor command (hostfwd_add has no QMP equivalent); its text output is the answer. */
  async hmp(commandLine: string): Promise<string> {
    const out = await this.execute('human-monitor-command', { 'command-line': commandLine });
    return typeof out === 'string' ? out.trim() : '';
  }

  close(): void {
    this.sock.destroy();
  }
}

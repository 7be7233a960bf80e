/**
 * Docker's stream multiplexing for containers without a TTY ("stdcopy"): every chunk is
 * prefixed with 8 bytes: stream (1 stdout, 2 stderr), three zero bytes, uint32 BE length.
 */
export type OutputStream = 'stdout' | 'stderr';

export function frame(stream: OutputStream, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head[0] = stream === 'stdout' ? 1 : 2;
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}

/** Frame when the container has no TTY; a TTY's output goes as it is. */
export function encodeOutput(tty: boolean, stream: OutputStream, data: Buffer): Buffer {
  return tty ? data : frame(stream, data);
}

/**
 * The vocabulary of the tar codec, shared by the engine and the clients: what an entry is, and
 * the one error the codec throws. Pure data: no Node globals, bytes are Uint8Array.
 */

/** The entry types the codec reads and writes (Go's archive/tar TypeReg, TypeDir, ...). */
export type TarEntryType = 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';

/** What a writer needs to know of an entry. */
export interface TarHeader {
  /** Slash-separated path as stored; directories end with "/" (the writer adds it). */
  name: string;
  type: TarEntryType;
  /** Permission bits plus setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Body size: 0 for everything but files. */
  size: number;
  /** Seconds since the epoch (a reader may report fractions, from PAX). */
  mtime: number;
  /** Target of a symlink or hard link. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, as PAX `SCHILY.xattr.<name>` records (binary values kept as they are). */
  xattrs?: ReadonlyMap<string, Uint8Array>;
}

/** An entry as read: every field known, PAX and GNU long-name records already applied. */
export interface TarEntry extends Omit<TarHeader, 'type' | 'linkname' | 'devmajor' | 'devminor' | 'xattrs'> {
  /** 'other' for type flags the codec does not model (GNU dump dirs, volume labels...): their body can be read or skipped. */
  type: TarEntryType | 'other';
  /** The raw type flag ('0', '5', 'x'...). */
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Seconds since the epoch: PAX or GNU atime when present, else mtime. */
  atime: number;
  xattrs: Map<string, Uint8Array> | undefined;
}

/**
 * A stream that is not a tar archive, is corrupt, or ends where Go's archive/tar would not accept
 * an end. Callers map it to their own error kinds (a bad layer, a bad upload).
 */
export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

export const isTarFormatError = (err: unknown): err is TarFormatError => err instanceof TarFormatError;

/**
 * Berth's one tar codec (engine and clients alike): a streaming reader that accepts what Go's
 * archive/tar accepts, and a writer. Pure code on Uint8Array and async iterables; Node adapters
 * live in hostfs/.
 */
export { ByteReader, type ByteChunks } from './bytes.js';
export { isTarFormatError, TarFormatError, type TarEntry, type TarEntryType, type TarHeader } from './entry.js';
export { blockPadding } from './fields.js';
export { TarReader, type TarReaderOptions } from './reader.js';
export { END_OF_ARCHIVE, encodeHeader, entryChunks, packEntries, tarBytes, tarPadding, type BodySource } from './writer.js';

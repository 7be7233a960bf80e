/** Public surface of the Engine API client. */
export { EngineClient, followProgress, parseGoDuration, toApiTimestamp } from './client.js';
export type {
  EngineClientOptions,
  EventsOptions,
  ListImagesOptions,
  PullOptions,
  PushOptions,
  RemoveImageOptions,
  TimeSpec,
} from './client.js';
export { ContainerApi, RAW_STREAM } from './containers.js';
export { VolumeApi } from './volumes.js';
export type { AttachOptions, ListContainersOptions, LogsOptions, StreamResponse, WaitCondition } from './containers.js';
export { NetworkApi } from './networks.js';
export type { InspectNetworkOptions } from './networks.js';
export { hijack } from './hijack.js';
export type { HijackRequest, HijackedConnection } from './hijack.js';
export { STDERR, STDIN, STDOUT, SYSTEMERR, StdcopyDemuxer, copyRaw, demuxStream, encodeFrame } from './stdcopy.js';
export type { Frame } from './stdcopy.js';
export { packPath } from './pack.js';
export {
  END_OF_ARCHIVE,
  TarFormatError,
  TarReader,
  encodeHeader,
  entryChunks,
  isTarFormatError,
  packEntries,
  tarBytes,
  tarPadding,
} from '../common/tar/index.js';
export type { TarEntry, TarEntryType, TarHeader } from '../common/tar/index.js';
export { EngineError, codeForStatus, isAbortError, isEngineError } from './errors.js';
export type { EngineErrorCode } from './errors.js';
export {
  DEFAULT_API_VERSION,
  DEFAULT_HOST,
  HttpTransport,
  JsonStreamParser,
  connectionError,
  defaultHost,
  encodePathName,
  encodeQuery,
  encodeRegistryAuth,
  errorFromResponse,
  iterateJson,
  parseHost,
  parseJsonStream,
  readBody,
} from './http.js';
export type { Endpoint, QueryValue, RequestSpec, TlsOptions, TransportOptions } from './http.js';
export { dockerTlsSettings, loadTls } from './tls.js';
export type { TlsFiles, TlsSettingsInput } from './tls.js';
export {
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  familiarName,
  familiarString,
  fullName,
  normalizedString,
  parseReference,
  tryParseReference,
  withDefaultTag,
} from './reference.js';
export type { ImageReference } from './reference.js';

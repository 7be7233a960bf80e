/** The SSH transport: keys, host-key pinning, sessions and the socket forwarder. */
export { ensureKeyPair, readPrivateKey } from './keys.js';
export type { KeyPair } from './keys.js';
export {
  HostKeyChangedError,
  KnownHosts,
  blobFromPublicLine,
  certificateProblem,
  describeKey,
  fingerprint,
  keyTypeOf,
  knownHostName,
  parseCertificate,
  parseKnownHosts,
} from './known-hosts.js';
export type { HostKeyCheck, HostKeyVerdict, ListedKey, SshCertificate } from './known-hosts.js';
export { REMOTE_ENGINE_SOCKET, SshError, SshSession, expectKey, parseSshHost } from './session.js';
export type { ExecResult, SshConnectOptions, SshTarget } from './session.js';
export { SocketForwarder, removeStaleSocket } from './forwarder.js';
export type { ForwarderOptions, ForwarderState } from './forwarder.js';
export { probeHostKey, remoteConnector, remoteForwarder } from './remote.js';
export type { RemoteEngine, RemoteOptions } from './remote.js';

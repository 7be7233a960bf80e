/** The bridge host's public surface, for Electron's main process, web mode and tests. */
export { createBridgeHost } from './host.js';
export type { BridgeHost, BridgeHostOptions, StreamControl, StreamSink } from './host.js';
export { BridgeFailure, toBridgeError } from './errors.js';
export { DEFAULT_SETTINGS } from './settings.js';
export { LOCAL_ENGINE_ID, defaultConfigPath } from '../../client/contexts/index.js';

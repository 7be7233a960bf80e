/**
 * Contexts: the engines the CLI and Berth Desktop can talk to, one of them current. The registry
 * (one file both read and write), adding and removing engines (host-key trust for ssh://, TLS files
 * for tcp://), and choosing and connecting the engine a command talks to. Failures are EngineErrors
 * with a stable `code`; each front end words them its own way.
 */
export { EngineRegistry, LOCAL_ENGINE_ID, VM_ENGINE_ID, defaultConfigPath, defaultEngineId } from './registry.js';
export { addEngine, expandHome, hostKeyReport, removeEngine } from './engines.js';
export type { AddedEngine, NewEngine } from './engines.js';
export { chooseEngine, connectEngine, loadContexts } from './resolve.js';
export type { ConnectedEngine, EngineChoice } from './resolve.js';

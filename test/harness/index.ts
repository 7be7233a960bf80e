// One import for tests and benchmarks: `import { startRegistry, pushImage, ... } from './harness/index.js'`.
export * from './registry.js';
export * from './token-server.js';
export * from './images.js';
export * from './proxy.js';
export * from './daemon.js';
export * from './docker.js';
export { freePort, goArch, requireTool, run, runOk } from './util.js';

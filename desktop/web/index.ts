/** Web mode's public surface: the server, and the pieces Electron's app protocol reuses. */
export { startWebServer } from './server.js';
export type { WebServer, WebServerOptions } from './server.js';
export { contentSecurityPolicy, contentType, resolveStatic } from './static.js';
export type { StaticFile } from './static.js';
export { createWireSession } from './wire.js';
export type { WireSession } from './wire.js';

/**
 * The built renderer as files: path resolution that cannot leave the renderer directory, content
 * types, the index.html fallback for the renderer's client-side routes, and the Content Security
 * Policy both web mode and Electron's app protocol send with every page.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The page's CSP: scripts and styles only from the app itself (styles may be inline: xterm.js and
 * the virtualised lists set them), no plugins, no framing, no forms; `connect` only back to the
 * app (and, in web mode, its own WebSocket).
 */
export function contentSecurityPolicy(connect: string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    `connect-src ${["'self'", ...connect].join(' ')}`,
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export interface StaticFile {
  status: 200 | 404 | 503;
  contentType: string;
  body: Buffer;
}

const MISSING_RENDERER = `<!doctype html>
<html><head><meta charset="utf-8"><title>Berth Desktop</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>Berth Desktop</h1>
<p>The renderer has not been built yet: <code>dist/renderer/index.html</code> is missing.</p>
<p>Build it, then reload this page. The bridge is running.</p>
</body></html>
`;

/**
 * The file for a URL path. Paths with an extension are files (404 when missing); others are the
 * renderer's routes and get index.html. Nothing outside `root` is ever read.
 */
export async function resolveStatic(root: string, urlPath: string): Promise<StaticFile> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.split('?')[0] ?? '/');
  } catch {
    return { status: 404, contentType: TYPES['.txt'] as string, body: Buffer.from('not found\n') };
  }
  const base = path.resolve(root);
  const file = path.resolve(base, `.${path.posix.normalize(`/${decoded}`)}`);
  const inside = file === base || file.startsWith(base + path.sep);
  if (inside && !decoded.includes('\0') && path.extname(file) !== '') {
    const body = await fsp.readFile(file).catch(() => undefined);
    if (body) return { status: 200, contentType: contentType(file), body };
    return { status: 404, contentType: TYPES['.txt'] as string, body: Buffer.from('not found\n') };
  }
  const index = await fsp.readFile(path.join(base, 'index.html')).catch(() => undefined);
  if (!index) return { status: 503, contentType: TYPES['.html'] as string, body: Buffer.from(MISSING_RENDERER) };
  return { status: 200, contentType: TYPES['.html'] as string, body: index };
}

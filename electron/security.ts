/**
 * Who may talk to the bridge, and what the pages may load. The renderer is served from our own
 * privileged scheme (berth://app/), never from http, so an IPC message is accepted only from a
 * frame of our own window whose URL is on that origin (or, for a build that loads files directly,
 * inside the renderer directory over file://). Everything else, such as an iframe or a page the
 * window was navigated to, is refused.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { contentSecurityPolicy } from '../desktop/web/index.js';

export const APP_SCHEME = 'berth';
export const APP_ORIGIN = `${APP_SCHEME}://app`;
export const APP_URL = `${APP_ORIGIN}/index.html`;

/** The CSP of every page the app protocol serves: the web mode policy, with no WebSocket. */
export const APP_CSP = contentSecurityPolicy();

/** True when `frameUrl` is one of our pages. */
export function isAppUrl(frameUrl: string, rendererDir: string): boolean {
  let url: URL;
  try {
    url = new URL(frameUrl);
  } catch {
    return false;
  }
  if (url.protocol === `${APP_SCHEME}:`) return url.host === 'app';
  if (url.protocol === 'file:') {
    const root = pathToFileURL(path.resolve(rendererDir) + path.sep).href;
    return url.href.startsWith(root) && !decodeURIComponent(url.pathname).includes('/../');
  }
  return false;
}

/** The facts of an IPC event that decide whether it is ours (from Electron's IpcMainEvent). */
export interface SenderFacts {
  /** webContents id of the sender. */
  senderId: number;
  /** URL of the frame that sent it (null once the frame is gone). */
  frameUrl: string | null;
}

/** Accepts a sender only when it is our window and one of our pages. */
export function isAllowedSender(facts: SenderFacts, ourWebContentsId: number | undefined, rendererDir: string): boolean {
  return ourWebContentsId !== undefined && facts.senderId === ourWebContentsId && facts.frameUrl !== null && isAppUrl(facts.frameUrl, rendererDir);
}

/**
 * The web permissions Berth Desktop's pages use: copying (logs, inspect data, the terminal's
 * selection) and the terminal's paste. Notifications come from the main process, not the page.
 * Everything else (camera, microphone, geolocation, MIDI, HID/USB/serial, screen capture, opening
 * external protocols, fullscreen, storage access...) is refused, as is any permission asked for
 * by something that is not one of our pages.
 */
export const GRANTED_PERMISSIONS: ReadonlySet<string> = new Set(['clipboard-sanitized-write', 'clipboard-read']);

/** The facts of a permission request or check (from Electron's session handlers). */
export interface PermissionAsk {
  permission: string;
  /** The requesting page's URL, or its origin for checks ("berth://app"). */
  requestingUrl: string | null | undefined;
  /** False for a subframe; undefined when Electron does not say. */
  isMainFrame?: boolean;
}

export function isPermissionGranted(ask: PermissionAsk, rendererDir: string): boolean {
  if (!GRANTED_PERMISSIONS.has(ask.permission)) return false;
  if (ask.isMainFrame === false) return false;
  return typeof ask.requestingUrl === 'string' && isAppUrl(ask.requestingUrl, rendererDir);
}

/**
 * Whether a frame may navigate to `url` (will-navigate, will-frame-navigate, will-redirect): the
 * main frame only to our own pages; subframes nowhere (our pages have none, so one that navigates
 * was put there by something else).
 */
export function isNavigationAllowed(url: string, isMainFrame: boolean, rendererDir: string): boolean {
  return isMainFrame && isAppUrl(url, rendererDir);
}

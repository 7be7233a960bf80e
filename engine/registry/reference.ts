/**
 * The engine's view of image references: the shared grammar (common/reference.ts)
 * with its refusals turned into the engine's 'invalid' errors (HTTP 400), plus
 * host classification the registry client needs.
 */
import { isIP } from 'node:net';
import * as grammar from '../../common/reference.js';
import { invalid } from '../common/errors.js';

export {
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  LEGACY_DEFAULT_DOMAIN,
  NAME_TOTAL_LENGTH_MAX,
  OFFICIAL_REPO_PREFIX,
  familiarName,
  familiarString,
  fullName,
  isValidTag,
  normalizeServerAddress,
  refString,
  trimReference,
  type ParseOptions,
} from '../../common/reference.js';

function engineErrors<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  return (...args: A): R => {
    try {
      return fn(...args);
    } catch (err) {
      if (err instanceof grammar.InvalidReferenceError) throw invalid(err.message, err.code);
      throw err;
    }
  };
}

export const parseReference = engineErrors(grammar.parseReference);
export const parseRepoAndTag = engineErrors(grammar.parseRepoAndTag);
export const withTag = engineErrors(grammar.withTag);
export const withDigest = engineErrors(grammar.withDigest);

/** Split "host:port", "[v6]:port", "host" into host (brackets removed) and port. */
export function splitHostPort(domain: string): { host: string; port?: string } {
  if (domain.startsWith('[')) {
    const end = domain.indexOf(']');
    if (end === -1) return { host: domain };
    const host = domain.slice(1, end);
    const rest = domain.slice(end + 1);
    return rest.startsWith(':') ? { host, port: rest.slice(1) } : { host };
  }
  const colon = domain.lastIndexOf(':');
  // A bare IPv6 address without brackets has several colons: no port then.
  if (colon === -1 || domain.indexOf(':') !== colon) return { host: domain };
  return { host: domain.slice(0, colon), port: domain.slice(colon + 1) };
}

/** localhost, 127.0.0.0/8 or ::1 (with or without a port). */
export function isLoopbackHost(domain: string): boolean {
  const { host } = splitHostPort(domain);
  const h = host.toLowerCase();
  if (h === 'localhost') return true;
  const v = isIP(h);
  if (v === 4) return h.startsWith('127.');
  if (v === 6) {
    // Let WHATWG URL canonicalise the address (0:0::1 -> ::1, ::ffff:7f00:1 ...).
    const canon = new URL(`http://[${h}]/`).hostname.slice(1, -1);
    if (canon === '::1') return true;
    const mapped = /^::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}$/.exec(canon);
    return mapped !== null && mapped[1] !== undefined && parseInt(mapped[1], 16) >> 8 === 127;
  }
  return false;
}


/**
 * Errors that cross the bridge. The renderer sees only `BridgeError {message, status}`: the
 * engine's own message and HTTP status when the engine answered, status 0 when it could not be
 * reached, 400 for bad input the bridge refused itself. The client's own failures (contexts, bad
 * input it caught before sending) carry a `code`, mapped here to the status that code stands for.
 * Anything else is a bug and crosses as 500 with its message, so the renderer can show it and the
 * host keeps running.
 */
import { EngineError, isAbortError } from '../../client/index.js';
import type { EngineErrorCode } from '../../client/index.js';
import type { BridgeError } from '../../types/desktop-api.js';

/** A failure the bridge raises itself, already in the shape the renderer receives. */
export class BridgeFailure extends Error implements BridgeError {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = 'BridgeFailure';
    this.status = status;
  }
}

export const invalid = (message: string): BridgeFailure => new BridgeFailure(message, 400);
export const notFound = (message: string): BridgeFailure => new BridgeFailure(message, 404);

export const UNREACHABLE_MESSAGE = 'the engine is not running, so this could not be done; start it (Start engine) and try again';

/**
 * The status for a failure the client detected itself (statusCode 0: bad input, an unknown
 * context, a host key that changed): the one the engine would have answered. SERVER stays 0: it
 * is an answer that could not be read, so the engine was not properly reached.
 */
function statusFor(code: EngineErrorCode): number {
  const statuses: Record<EngineErrorCode, number> = { INVALID: 400, UNAUTHORIZED: 401, NOT_FOUND: 404, CONFLICT: 409, SERVER: 0, UNREACHABLE: 0 };
  return statuses[code];
}

/** Any thrown value as the plain object that crosses IPC or the WebSocket. */
export function toBridgeError(err: unknown): BridgeError {
  if (err instanceof BridgeFailure) return { message: err.message, status: err.status };
  // Not reached: the app says so plainly (the client's own advice is for the command line).
  if (err instanceof EngineError && err.code === 'UNREACHABLE') return { message: UNREACHABLE_MESSAGE, status: 0 };
  if (err instanceof EngineError) return { message: err.message, status: err.statusCode || statusFor(err.code) };
  if (isAbortError(err)) return { message: 'cancelled', status: 0 };
  return { message: err instanceof Error ? err.message : String(err), status: 500 };
}

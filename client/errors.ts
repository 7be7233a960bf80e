/**
 * The client's single error type. Callers switch on `code`; `statusCode` is the
 * HTTP status the engine answered with (0 when there was no answer, or the
 * error was detected on the client side).
 */
export type EngineErrorCode = 'NOT_FOUND' | 'CONFLICT' | 'INVALID' | 'UNAUTHORIZED' | 'SERVER' | 'UNREACHABLE';

export class EngineError extends Error {
  readonly statusCode: number;
  readonly code: EngineErrorCode;
  /**
   * True when the engine reported the failure inside a streamed response
   * (a JSONMessage with `error`) rather than with an HTTP error status.
   */
  readonly inStream: boolean;

  constructor(
    message: string,
    statusCode: number,
    code: EngineErrorCode,
    opts: { cause?: unknown; inStream?: boolean } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'EngineError';
    this.statusCode = statusCode;
    this.code = code;
    this.inStream = opts.inStream ?? false;
  }
}

/** The error code for an HTTP status the engine answered with. */
export function codeForStatus(status: number): EngineErrorCode {
  if (status === 400 || status === 422) return 'INVALID';
  if (status === 401 || status === 403) return 'UNAUTHORIZED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'CONFLICT';
  return 'SERVER';
}

export function isEngineError(err: unknown): err is EngineError {
  return err instanceof EngineError;
}

/** True when `err` is the rejection of an aborted request or iteration. */
export function isAbortError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}

/**
 * One error vocabulary for the whole engine. Subsystems throw BerthError with a
 * kind; the API layer maps the kind to an HTTP status in exactly one place
 * (statusForError). Callers match `kind`/`code`, never `instanceof` chains.
 */
export type ErrorKind =
  | 'invalid' // bad parameter or body: 400
  | 'unauthorized' // registry credentials refused: 401
  | 'forbidden' // 403
  | 'notFound' // 404
  | 'conflict' // 409
  | 'notModified' // 304
  | 'unavailable' // upstream or resource temporarily unavailable: 503
  | 'notImplemented' // the operation does not apply to this object (Docker's ErrNotImplemented): 501
  | 'upstream' // a registry or peer misbehaved: 500 with a clear message (Docker does the same)
  | 'system'; // a bug or an unexpected host failure: 500

export class BerthError extends Error {
  readonly kind: ErrorKind;
  /** Stable, machine-readable code, e.g. "DIGEST_MISMATCH". */
  readonly code: string;
  constructor(kind: ErrorKind, message: string, opts: { code?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BerthError';
    this.kind = kind;
    this.code = opts.code ?? kind.toUpperCase();
  }
}

export const invalid = (msg: string, code?: string): BerthError => new BerthError('invalid', msg, { code });
export const notFound = (msg: string, code?: string): BerthError => new BerthError('notFound', msg, { code });
export const conflict = (msg: string, code?: string): BerthError => new BerthError('conflict', msg, { code });
export const unauthorized = (msg: string, code?: string): BerthError =>
  new BerthError('unauthorized', msg, { code });
export const upstream = (msg: string, code?: string, cause?: unknown): BerthError =>
  new BerthError('upstream', msg, { code, cause });
export const system = (msg: string, cause?: unknown): BerthError => new BerthError('system', msg, { cause });

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  notFound: 404,
  conflict: 409,
  notModified: 304,
  unavailable: 503,
  notImplemented: 501,
  upstream: 500,
  system: 500,
};

export function isBerthError(err: unknown): err is BerthError {
  return err instanceof Error && (err as Partial<BerthError>).kind !== undefined && err.name === 'BerthError';
}

export function statusForError(err: unknown): number {
  return isBerthError(err) ? STATUS[err.kind] : 500;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** True for Node system errors with the given errno code (ENOENT, EEXIST...). */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

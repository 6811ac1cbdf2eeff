/**
 * Typed store errors. The HTTP layer maps them to status codes without string matching:
 * ValidationError → 422, NotFoundError → 404, ConflictError → 409. Other store errors are server faults.
 */
import type { ZodError } from 'zod';

export class StoreError extends Error {
  override readonly name: string = 'StoreError';
}

/** Input that can never be accepted (bad shape, bad name, overlapping window). */
export class ValidationError extends StoreError {
  override readonly name: string = 'ValidationError';
  constructor(
    message: string,
    /** One entry per offending field, e.g. `{ path: 'version', message: '...' }`. */
    readonly issues: ReadonlyArray<{ path: string; message: string }> = [],
  ) {
    super(message);
  }

  static fromZod(what: string, err: ZodError): ValidationError {
    const issues = err.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message }));
    return new ValidationError(
      `invalid ${what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
}

/** The named thing does not exist (unknown Pond, major line, window, run). */
export class NotFoundError extends StoreError {
  override readonly name: string = 'NotFoundError';
}

/** The request contradicts what is already recorded (same version, different content; duplicate window name). */
export class ConflictError extends StoreError {
  override readonly name: string = 'ConflictError';
}

/** The database was written by newer code than this build; opening it could corrupt it. */
export class SchemaTooNewError extends StoreError {
  override readonly name: string = 'SchemaTooNewError';
}

/** The Catchment root cannot be used (not a directory, not writable, unsafe admin key). */
export class RootError extends StoreError {
  override readonly name: string = 'RootError';
}

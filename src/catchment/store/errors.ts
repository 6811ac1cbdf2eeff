/**
 * Typed store errors, each a DomainError with its HTTP status: ValidationError → 422, NotFoundError →
 * 404, ConflictError → 409. The others are server faults (500; the caller is told `internal`).
 */
import type { ZodError } from 'zod';
import { DomainError } from '../../shared/errors.js';

export class StoreError extends DomainError {
  override readonly name: string = 'StoreError';

  constructor(
    message: string,
    kind: { code: string; httpStatus: number; details?: unknown } = { code: 'store_error', httpStatus: 500 },
  ) {
    super({ ...kind, message });
  }
}

/** Input that can never be accepted (bad shape, bad name, overlapping window). */
export class ValidationError extends StoreError {
  override readonly name: string = 'ValidationError';
  constructor(
    message: string,
    /** One entry per offending field, e.g. `{ path: 'version', message: '...' }`. */
    readonly issues: ReadonlyArray<{ path: string; message: string }> = [],
  ) {
    super(message, { code: 'invalid_request', httpStatus: 422, details: issues });
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
  constructor(message: string) {
    super(message, { code: 'not_found', httpStatus: 404 });
  }
}

/** The request contradicts what is already recorded (same version, different content; duplicate window name). */
export class ConflictError extends StoreError {
  override readonly name: string = 'ConflictError';
  constructor(message: string) {
    super(message, { code: 'conflict', httpStatus: 409 });
  }
}

/** The database was written by newer code than this build; opening it could corrupt it. */
export class SchemaTooNewError extends StoreError {
  override readonly name: string = 'SchemaTooNewError';
  constructor(message: string) {
    super(message, { code: 'schema_too_new', httpStatus: 500 });
  }
}

/** The Catchment root cannot be used (not a directory, not writable, unsafe admin key). */
export class RootError extends StoreError {
  override readonly name: string = 'RootError';
  constructor(message: string) {
    super(message, { code: 'unusable_root', httpStatus: 500 });
  }
}

/**
 * Every DomainError subclass in src carries a stable snake_case code and an HTTP status that is a
 * client (4xx) or server (5xx) error, and answers over HTTP in the one shape. The list below must name
 * every subclass: the test reads the sources to find them, so a new error class cannot skip this.
 */

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidCursor } from '../../src/catchment/async/cursor.js';
import { AsyncQueriesDisabled, JobNotFound } from '../../src/catchment/async/service.js';
import { InvalidEndpointUrl } from '../../src/catchment/compute/endpoint-url.js';
import { InputsError } from '../../src/catchment/governed-inputs.js';
import { errorAnswer } from '../../src/catchment/http/error-handler.js';
import { OrchestratorStopped } from '../../src/catchment/orchestrator.js';
import {
  ConflictError,
  NotFoundError,
  RootError,
  SchemaTooNewError,
  StoreError,
  ValidationError,
} from '../../src/catchment/store/errors.js';
import { QueryError, type QueryErrorCode } from '../../src/compute/query.js';
import { ComputeUnavailable } from '../../src/compute/remote/errors.js';
import {
  AsyncAttemptsExhausted,
  RemoteResultGone,
  RemoteResultUnavailable,
} from '../../src/compute/remote/remote-jobs.js';
import { SnapshotError, type SnapshotErrorCode } from '../../src/compute/snapshots.js';
import { DurationError } from '../../src/engine/duration.js';
import { EngineError } from '../../src/engine/engine.js';
import {
  GovernanceError,
  type GovernanceErrorCode,
  PolicyError,
  QueryDeadlineExceeded,
  type QueryLimitCode,
  QueryLimitError,
} from '../../src/governance/errors.js';
import { EntityConflict, Unauthenticated, UnknownEntity } from '../../src/governance/service.js';
import { ArchiveError } from '../../src/pond/archive.js';
import { PondError } from '../../src/pond/manifest.js';
import { ScaffoldError } from '../../src/pond/scaffold.js';
import { QueryExecutionFailed } from '../../src/query/errors.js';
import { DomainError, GrpcStatus, RequestError } from '../../src/shared/errors.js';

const QUERY_CODES: QueryErrorCode[] = [
  'invalid_request',
  'invalid_sql',
  'unknown_table',
  'not_allowed',
  'snapshot_unavailable',
  'timeout',
  'resource_limit',
  'execution_failed',
];
const SNAPSHOT_CODES: SnapshotErrorCode[] = [
  'invalid_input',
  'freshness_regression',
  'staged_file_missing',
  'invalid_parquet',
  'cross_device',
  'corrupt_manifest',
];
const GOVERNANCE_CODES: GovernanceErrorCode[] = [
  'invalid_sql',
  'permission_denied',
  'not_allowed',
  'unknown_table',
];
const LIMIT_CODES: QueryLimitCode[] = ['sql_too_large', 'sql_too_complex', 'too_many_queries'];

const examples: DomainError[] = [
  new RequestError(400, 'invalid_request', 'm'),
  new InputsError('m'),
  new OrchestratorStopped(),
  new StoreError('m'),
  new ValidationError('m', [{ path: 'p', message: 'm' }]),
  new NotFoundError('m'),
  new ConflictError('m'),
  new SchemaTooNewError('m'),
  new RootError('m'),
  ...QUERY_CODES.map((code) => new QueryError(code, 'm')),
  ...SNAPSHOT_CODES.map((code) => new SnapshotError(code, 'm')),
  ...GOVERNANCE_CODES.map((code) => new GovernanceError(code, 'm')),
  new PolicyError(['a', 'b']),
  new Unauthenticated('m'),
  new UnknownEntity('m'),
  new EntityConflict('m'),
  ...QUERY_CODES.map((code) => new QueryExecutionFailed(code, 'm', 'id-1')),
  new ArchiveError('m'),
  new PondError(['a']),
  new ScaffoldError('m'),
  new QueryLimitError('too_many_queries', 'm', 3),
  ...LIMIT_CODES.map((code) => new QueryLimitError(code, 'm')),
  new QueryDeadlineExceeded('governing'),
  new ComputeUnavailable('w1', 'unavailable'),
  new InvalidEndpointUrl('http://x', 'not grpc'),
  new InvalidCursor('m'),
  new AsyncQueriesDisabled(),
  new JobNotFound('q_1'),
  new RemoteResultUnavailable('w1', 'unavailable'),
  new RemoteResultGone('w1'),
  new AsyncAttemptsExhausted('w1', 'unavailable', 3),
];

/** Class name → its base, for every `class X extends Y` in src. */
function classesInSource(): Map<string, string> {
  const bases = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts')) {
        for (const m of readFileSync(file, 'utf8').matchAll(/class (\w+) extends (\w+)/g))
          bases.set(m[1]!, m[2]!);
      }
    }
  };
  walk(path.resolve(import.meta.dirname, '../../src'));
  return bases;
}

describe('the error model', () => {
  it('the examples cover every DomainError subclass in src', () => {
    const bases = classesInSource();
    const isDomain = (name: string): boolean => {
      const base = bases.get(name);
      return base === 'DomainError' || (base !== undefined && isDomain(base));
    };
    const subclasses = [...bases.keys()].filter(isDomain).sort();
    expect(subclasses.length).toBeGreaterThan(15);
    expect([...new Set(examples.map((e) => e.constructor.name))].sort()).toEqual(subclasses);
  });

  it.each(examples.map((e) => [`${e.constructor.name} ${e.code}`, e] as const))(
    '%s has a snake_case code, a 4xx/5xx status and a gRPC status',
    (_name, e) => {
      expect(e).toBeInstanceOf(DomainError);
      expect(e).toBeInstanceOf(Error);
      expect(e.code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(e.httpStatus >= 400 && e.httpStatus <= 599, String(e.httpStatus)).toBe(true);
      expect(e.status).toBe(e.httpStatus);
      expect(Object.values(GrpcStatus)).toContain(e.grpcStatus);
      expect(e.grpcStatus).not.toBe(GrpcStatus.OK);
      expect(e.name).toBe(e.constructor.name);
    },
  );

  it('HTTP answers with its own status and code, and hides the message of a server fault', () => {
    const opts = { maxSqlBytes: () => 1024 };
    const req = { url: '/api/x' };
    for (const e of examples) {
      const a = errorAnswer(e, req, opts);
      if (e.expose) {
        expect(a.status).toBe(e.httpStatus);
        expect(a.body.error.code).toBe(e.code);
        expect(a.body.error.message).toBe(e.message);
      } else {
        expect(e.httpStatus).toBeGreaterThanOrEqual(500);
        expect(a).toMatchObject({ status: 500, internal: true, body: { error: { code: 'internal' } } });
        expect(a.body.error.message).toBe('internal error (see the Catchment log)');
      }
    }
    // The exposed 5xx are those written for the caller.
    expect(new OrchestratorStopped().expose).toBe(true);
    expect(new QueryError('snapshot_unavailable', 'm').expose).toBe(true);
  });

  it('details, error ids and Retry-After reach the answer', () => {
    const opts = { maxSqlBytes: () => 1024 };
    const req = { url: '/api/query' };
    expect(errorAnswer(new PolicyError(['a', 'b']), req, opts).body).toEqual({
      error: { code: 'invalid_policy', message: 'invalid policy: a; b', details: ['a', 'b'] },
    });
    expect(errorAnswer(new QueryExecutionFailed('execution_failed', 'm', 'id-1'), req, opts)).toMatchObject({
      status: 400,
      body: { error: { code: 'execution_failed', message: 'm', error_id: 'id-1' } },
    });
    expect(errorAnswer(new QueryLimitError('too_many_queries', 'm', 3), req, opts)).toMatchObject({
      status: 429,
      headers: { 'retry-after': '3' },
    });
    expect(errorAnswer(new QueryLimitError('sql_too_large', 'm'), req, opts).headers).toEqual({});
  });

  it("the pure engine's errors are mapped by class; anything unknown is internal", () => {
    const opts = { maxSqlBytes: () => 1024 };
    const req = { url: '/api/x' };
    expect(errorAnswer(new EngineError('no such node'), req, opts)).toEqual({
      status: 404,
      body: { error: { code: 'not_found', message: 'no such node' } },
    });
    expect(errorAnswer(new DurationError('bad'), req, opts)).toEqual({
      status: 400,
      body: { error: { code: 'invalid_request', message: 'bad' } },
    });
    expect(errorAnswer(new Error('secret path /x'), req, opts)).toMatchObject({
      status: 500,
      body: { error: { code: 'internal', message: 'internal error (see the Catchment log)' } },
    });
  });
});

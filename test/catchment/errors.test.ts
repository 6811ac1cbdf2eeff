/**
 * Every 4xx the Catchment API gives, against a real Catchment over real HTTP: status, stable code
 * and message, and the one answer shape `{"error":{"code","message","details"?,"error_id"?}}`. No
 * case here starts a run, so no Duck is spawned.
 *
 * Two refusals need load rather than a request and are checked in test/query/http-limits.test.ts:
 * 408 timeout (a query past its time limit) and 429 too_many_queries (with Retry-After).
 */

import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packPond } from '../../src/pond/archive.js';
import { removeDir, TestCatchment, tempDir, writePond } from '../support/runtime.js';

let work: string;
let c: TestCatchment;
/** A second Catchment with FEATURE_ASYNC_QUEUE on, for the cases marked `async`. */
let asyncOn: TestCatchment;
const keys: Record<string, string> = {};
/** Archives by name, packed once. */
const archives: Record<string, Buffer> = {};

const MAX_SQL_BYTES = 4096;

interface Case {
  /** What the case shows, for the failure message. */
  why: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  /** JSON (an object), raw text with a content type, or a named archive. */
  body?: unknown;
  raw?: { type: string; data: string | Buffer };
  archive?: string;
  /** A key name from `keys`; null sends none. Default: the admin key. */
  as?: string | null;
  /** Sent to the Catchment with async queries on (as its administrator). */
  async?: true;
  status: number;
  code: string;
  message: string | RegExp;
  details?: unknown;
}

const cases: Case[] = [
  // ───────────── 400 invalid request ─────────────
  {
    why: 'a path parameter that fails its schema',
    method: 'GET',
    path: '/api/ponds/Bad',
    status: 400,
    code: 'invalid_request',
    message: 'params.name: pond names are lowercase identifiers',
  },
  {
    why: 'a query parameter out of range',
    method: 'GET',
    path: '/api/ponds/inlet/runs?limit=0',
    status: 400,
    code: 'invalid_request',
    message: 'query.limit: Too small: expected number to be >=1',
  },
  {
    why: 'an unknown body field',
    method: 'POST',
    path: '/api/ponds/inlet/pulse',
    body: { extra: 1 },
    status: 400,
    code: 'invalid_request',
    message: 'body: Unrecognized key: "extra"',
  },
  {
    why: 'a body that is not JSON (fastify refuses it)',
    method: 'POST',
    path: '/api/ponds/inlet/pulse',
    raw: { type: 'application/json', data: '{"major":' },
    status: 400,
    code: 'invalid_request',
    message: "Body is not valid JSON but content-type is set to 'application/json'",
  },
  {
    why: 'a tide without a bound',
    method: 'POST',
    path: '/api/ponds/inlet/tide',
    body: {},
    status: 400,
    code: 'invalid_request',
    message: 'body.bound: a tide needs a staleness bound, e.g. {"bound": "10m"}',
  },
  {
    why: 'a tide bound that rounds to 0 ms (it once answered 404)',
    method: 'POST',
    path: '/api/ponds/inlet/tide',
    body: { bound_seconds: 0.0001 },
    status: 400,
    code: 'invalid_request',
    message:
      'body.bound: a tide bound must be at least 1 ms (e.g. {"bound": "10m"} or {"bound_seconds": 600})',
  },
  {
    why: 'a tide bound that is not a duration',
    method: 'POST',
    path: '/api/ponds/inlet/tide',
    body: { bound: '10x' },
    status: 400,
    code: 'invalid_request',
    message: 'body.bound: expected a positive duration such as "30s", "1h30m"',
  },
  {
    why: 'a negative bound_seconds',
    method: 'POST',
    path: '/api/ponds/inlet/tide',
    body: { bound_seconds: -1 },
    status: 400,
    code: 'invalid_request',
    message: 'body.bound_seconds: Too small: expected number to be >0',
  },
  {
    why: 'a window name that is not a lowercase identifier',
    method: 'POST',
    path: '/api/ponds/inlet/windows',
    body: { name: 'Bad', every: '1h' },
    status: 400,
    code: 'invalid_request',
    message: 'body.name: window names are lowercase identifiers (letters, digits, _)',
  },
  {
    why: 'a window interval that is not a single-unit duration',
    method: 'POST',
    path: '/api/ponds/inlet/windows',
    body: { name: 'w', every: '1x' },
    status: 400,
    code: 'invalid_request',
    message: 'body.every: invalid interval "1x" (expected one <integer><unit> group, e.g. "1h")',
  },
  {
    why: 'a window interval of zero',
    method: 'POST',
    path: '/api/ponds/inlet/windows',
    body: { name: 'w', every: '0h' },
    status: 400,
    code: 'invalid_request',
    message: 'body.every: must be > 0',
  },
  {
    why: 'a window longer than its interval',
    method: 'POST',
    path: '/api/ponds/inlet/windows',
    body: { name: 'w', every: '1h', duration: '2h' },
    status: 400,
    code: 'invalid_request',
    message: 'body.duration: must not exceed every',
  },
  {
    why: 'a window start that is neither ISO-8601 nor HH:MM',
    method: 'POST',
    path: '/api/ponds/inlet/windows',
    body: { name: 'w', every: '1h', start: 'soon' },
    status: 400,
    code: 'invalid_request',
    message: 'body.start: "soon" is neither ISO-8601 nor HH:MM',
  },
  {
    why: 'budgets past their maximum',
    method: 'PUT',
    path: '/api/ponds/inlet/budgets',
    body: { immediate_retries: 101, source_retries: 0 },
    status: 400,
    code: 'invalid_request',
    message: 'body.immediate_retries: Too big: expected number to be <=100',
  },
  {
    why: 'a query without SQL',
    method: 'POST',
    path: '/api/query',
    body: { sql: '' },
    status: 400,
    code: 'invalid_request',
    message: 'body.sql: sql must not be empty',
  },
  {
    why: 'an async query without SQL',
    method: 'POST',
    path: '/api/queries',
    body: { sql: '' },
    status: 400,
    code: 'invalid_request',
    message: 'body.sql: sql must not be empty',
  },
  {
    why: 'an async query waiting longer than 30 s',
    method: 'POST',
    path: '/api/queries',
    body: { sql: 'SELECT 1', wait: 31 },
    status: 400,
    code: 'invalid_request',
    message: 'body.wait: wait is at most 30 seconds',
  },
  {
    why: 'an async request_id with characters it may not have',
    method: 'POST',
    path: '/api/queries',
    body: { sql: 'SELECT 1', request_id: 'a b' },
    status: 400,
    code: 'invalid_request',
    message: 'body.request_id: request_id is 1-128 letters, digits or . _ : -',
  },
  {
    why: 'a results page of no rows',
    method: 'GET',
    path: '/api/queries/q_0123456789abcdef0123456789abcdef/results?max_rows=0',
    status: 400,
    code: 'invalid_request',
    message: 'query.max_rows: max_rows must be at least 1',
  },
  {
    why: 'a results page past the row cap',
    method: 'GET',
    path: '/api/queries/q_0123456789abcdef0123456789abcdef/results?max_rows=10001',
    status: 400,
    code: 'invalid_request',
    message: 'query.max_rows: max_rows is at most 10000',
  },
  {
    why: 'async queries while FEATURE_ASYNC_QUEUE is off (their other answers: test/catchment/async-queries.test.ts)',
    method: 'POST',
    path: '/api/queries',
    body: { sql: 'SELECT 1' },
    status: 404,
    code: 'async_disabled',
    message: 'async queries are disabled on this Catchment (set FEATURE_ASYNC_QUEUE=on)',
  },
  {
    why: 'SQL that does not parse',
    method: 'POST',
    path: '/api/query',
    body: { sql: 'SELEC 1' },
    status: 400,
    code: 'invalid_sql',
    message: 'syntax error at or near "SELEC"',
  },
  {
    why: 'SQL nested past maxNestingDepth',
    method: 'POST',
    path: '/api/query',
    body: { sql: `SELECT ${'('.repeat(65)}1${')'.repeat(65)}` },
    status: 400,
    code: 'sql_too_complex',
    message:
      'the SQL nests brackets (subqueries, expressions, lists) more than 64 levels deep (maxNestingDepth); flatten it, for example with CTEs',
  },
  // An async submission is refused as the interactive query is, before any job exists (no job is
  // listed afterwards: see the test after the table).
  {
    why: 'an async query of blank SQL, as the interactive query answers it',
    method: 'POST',
    path: '/api/queries',
    async: true,
    body: { sql: '  \n ' },
    status: 400,
    code: 'invalid_sql',
    message: 'SQL is empty',
  },
  {
    why: 'an async query that does not parse',
    method: 'POST',
    path: '/api/queries',
    async: true,
    body: { sql: 'SELEC 1' },
    status: 400,
    code: 'invalid_sql',
    message: 'syntax error at or near "SELEC"',
  },
  {
    why: 'an async query of two statements',
    method: 'POST',
    path: '/api/queries',
    async: true,
    body: { sql: 'SELECT 1; SELECT 2' },
    status: 400,
    code: 'invalid_sql',
    message: 'expected exactly one SQL statement, got 2',
  },
  {
    why: 'an async query nested past maxNestingDepth',
    method: 'POST',
    path: '/api/queries',
    async: true,
    body: { sql: `SELECT ${'('.repeat(65)}1${')'.repeat(65)}` },
    status: 400,
    code: 'sql_too_complex',
    message:
      'the SQL nests brackets (subqueries, expressions, lists) more than 64 levels deep (maxNestingDepth); flatten it, for example with CTEs',
  },
  {
    why: 'a deploy without an archive',
    method: 'POST',
    path: '/api/deploy',
    raw: { type: 'application/octet-stream', data: '' },
    status: 400,
    code: 'invalid_archive',
    message: 'send the Pond archive as the request body (Content-Type: application/octet-stream)',
  },
  {
    why: 'a deploy of bytes that are not gzip',
    method: 'POST',
    path: '/api/deploy',
    raw: { type: 'application/octet-stream', data: 'not an archive' },
    status: 400,
    code: 'invalid_archive',
    message: 'not a Pond archive (not gzip data)',
  },
  {
    why: 'a deploy of gzip data without the Pond header',
    method: 'POST',
    path: '/api/deploy',
    raw: { type: 'application/octet-stream', data: gzipSync('hello') },
    status: 400,
    code: 'invalid_archive',
    message: 'not a Pond archive (unknown format: it lacks the duckstring Pond header)',
  },
  {
    why: 'a malformed principal name',
    method: 'POST',
    path: '/api/principals',
    body: { name: '-x' },
    status: 400,
    code: 'invalid_request',
    message: 'body.name: names use letters, digits and _ . @ + - (not first)',
  },
  {
    why: 'an unknown privilege',
    method: 'POST',
    path: '/api/grants',
    body: { to: 'reader', privileges: ['FLY'], on: 'inlet' },
    status: 400,
    code: 'invalid_request',
    message:
      'body.privileges.0: Invalid option: expected one of "SELECT"|"TRIGGER"|"OPERATE"|"DEPLOY"|"MANAGE"',
  },
  {
    why: 'a malformed key id',
    method: 'DELETE',
    path: '/api/keys/xyz',
    status: 400,
    code: 'invalid_request',
    message: 'params.id: a key id is 16 hex characters',
  },
  {
    why: 'an audit limit out of range',
    method: 'GET',
    path: '/api/audit?limit=0',
    status: 400,
    code: 'invalid_request',
    message: 'query.limit: Too small: expected number to be >=1',
  },
  {
    why: 'a Duck event that is not one',
    method: 'POST',
    path: '/api/duck/inlet/1/events',
    as: 'duck',
    body: { events: [{ type: 'nonsense' }] },
    status: 400,
    code: 'invalid_request',
    message:
      "body.events[0]: Invalid discriminator value. Expected 'ripple-start' | 'ripple-done' | 'ripple-log' | 'ripple-fail' | 'run-failed' | 'run-published'",
  },
  {
    why: 'a Duck long poll past its maximum wait',
    method: 'GET',
    path: '/api/duck/inlet/1/jobs?wait=60001',
    as: 'duck',
    status: 400,
    code: 'invalid_request',
    message: 'query.wait: Too big: expected number to be <=60000',
  },

  // ───────────── 401 unauthenticated ─────────────
  {
    why: 'no key',
    method: 'GET',
    path: '/api/ponds',
    as: null,
    status: 401,
    code: 'unauthenticated',
    message: 'missing API key (send "Authorization: Bearer KEY")',
  },
  {
    why: 'a key that does not exist',
    method: 'GET',
    path: '/api/ponds',
    as: 'forged',
    status: 401,
    code: 'unauthenticated',
    message: 'invalid API key',
  },
  {
    why: 'a revoked key',
    method: 'GET',
    path: '/api/whoami',
    as: 'revoked',
    status: 401,
    code: 'unauthenticated',
    message: 'invalid API key',
  },
  {
    why: 'a Duck token that is not one',
    method: 'GET',
    path: '/api/duck/whoami',
    as: 'forged',
    status: 401,
    code: 'unauthenticated',
    message: 'invalid Duck token',
  },
  {
    why: "an API key on a Duck's route",
    method: 'GET',
    path: '/api/duck/inlet/1/config',
    status: 401,
    code: 'unauthenticated',
    message: 'invalid Duck token',
  },
  {
    why: "a snapshot download (workers' data plane) without a capability",
    method: 'GET',
    path: '/internal/snapshots/inlet/1/events/x.parquet',
    as: null,
    status: 401,
    code: 'unauthenticated',
    message: 'missing capability (send "Authorization: Capability TOKEN")',
  },
  {
    why: 'an API key, even the admin key, on the snapshot route: only a capability opens it',
    method: 'GET',
    path: '/internal/snapshots/inlet/1/events/x.parquet',
    status: 401,
    code: 'unauthenticated',
    message: 'missing capability (send "Authorization: Capability TOKEN")',
  },

  {
    why: 'a compute endpoint URL that is not grpc(s)://host:port',
    method: 'POST',
    path: '/api/compute/endpoints',
    body: { name: 'w2', url: 'http://127.0.0.1:9444', token: 'worker-token' },
    status: 400,
    code: 'invalid_request',
    message:
      'url: "http://127.0.0.1:9444" is not a worker address (the scheme must be grpc or grpcs); use grpc://host:port or grpcs://host:port',
  },
  {
    why: 'a compute token that could not travel in a header (the message never quotes it)',
    method: 'POST',
    path: '/api/compute/endpoints',
    body: { name: 'w2', url: 'grpc://127.0.0.1:9444', token: 'two words' },
    status: 400,
    code: 'invalid_request',
    message: 'body.token: a token is 1–4096 printable ASCII characters without spaces',
  },
  {
    why: 'an unknown job kind in a compute assignment',
    method: 'POST',
    path: '/api/compute/assignments',
    body: { endpoint: 'w1', principal: 'reader', job_kinds: ['batch'] },
    status: 400,
    code: 'invalid_request',
    message: 'job_kinds: unknown job kind "batch" (known: interactive, async, pond_run)',
  },
  {
    why: 'a Pond-run job kind for a principal',
    method: 'POST',
    path: '/api/compute/assignments',
    body: { endpoint: 'w1', principal: 'reader', job_kinds: ['pond_run'] },
    status: 400,
    code: 'invalid_request',
    message:
      'job_kinds: pond_run assignments target Ponds (*, a Pond name, or name@major), not principal reader',
  },
  {
    why: 'a compute assignment naming two subjects',
    method: 'POST',
    path: '/api/compute/assignments',
    body: { endpoint: 'w1', principal: 'reader', everyone: true },
    status: 400,
    code: 'invalid_request',
    message: 'body: name exactly one of principal, group, everyone or pond',
  },

  // ───────────── 403 refused ─────────────
  {
    why: 'metrics are for administrators',
    method: 'GET',
    path: '/metrics',
    as: 'reader',
    status: 403,
    code: 'permission_denied',
    message: 'permission denied: only administrators may read metrics',
  },
  {
    why: 'the policy document is for administrators',
    method: 'GET',
    path: '/api/policy',
    as: 'reader',
    status: 403,
    code: 'permission_denied',
    message: 'permission denied: only administrators may read the whole policy',
  },
  {
    why: 'a trigger needs TRIGGER',
    method: 'POST',
    path: '/api/ponds/inlet/pulse',
    as: 'reader',
    status: 403,
    code: 'permission_denied',
    message: 'permission denied: TRIGGER on inlet@1',
  },
  {
    why: 'creating principals is for administrators',
    method: 'POST',
    path: '/api/principals',
    as: 'reader',
    body: { name: 'eve' },
    status: 403,
    code: 'permission_denied',
    message: 'permission denied: only administrators may create principals',
  },
  {
    why: 'a deploy needs DEPLOY',
    method: 'POST',
    path: '/api/deploy',
    as: 'reader',
    archive: 'inlet',
    status: 403,
    code: 'permission_denied',
    message: 'permission denied: DEPLOY on inlet@1',
  },
  {
    why: 'a deploy of an unreadable archive without DEPLOY on the catalog',
    method: 'POST',
    path: '/api/deploy',
    as: 'reader',
    raw: { type: 'application/octet-stream', data: 'not an archive' },
    status: 403,
    code: 'permission_denied',
    message: 'permission denied: DEPLOY (the archive could not be read to tell which Pond it deploys)',
  },
  {
    why: 'a query that is not a SELECT',
    method: 'POST',
    path: '/api/query',
    body: { sql: 'DELETE FROM inlet.t' },
    status: 403,
    code: 'not_allowed',
    message: 'only a single SELECT query is allowed',
  },
  {
    why: 'an async query that is not a SELECT, as the interactive query answers it',
    method: 'POST',
    path: '/api/queries',
    async: true,
    body: { sql: 'DELETE FROM inlet.t' },
    status: 403,
    code: 'not_allowed',
    message: 'only a single SELECT query is allowed',
  },
  {
    why: 'a query that reads a file',
    method: 'POST',
    path: '/api/query',
    body: { sql: "SELECT * FROM read_csv('/etc/passwd')" },
    status: 403,
    code: 'not_allowed',
    message: 'function read_csv() is not allowed: it reads files or the network; query tables as pond.table',
  },

  {
    why: 'managing compute needs MANAGE on the catalog',
    method: 'POST',
    path: '/api/compute/endpoints',
    as: 'reader',
    body: { name: 'w2', url: 'grpc://127.0.0.1:9444', token: 'worker-token' },
    status: 403,
    code: 'permission_denied',
    message: 'permission denied: MANAGE on *',
  },

  // ───────────── 404 not found ─────────────
  {
    why: 'no such route',
    method: 'GET',
    path: '/api/nope',
    status: 404,
    code: 'not_found',
    message: 'no route GET /api/nope',
  },
  {
    why: 'an unknown Pond',
    method: 'GET',
    path: '/api/ponds/ghost',
    status: 404,
    code: 'not_found',
    message: 'unknown pond "ghost"',
  },
  {
    why: 'an unknown Pond, even with a bad tide bound (the Pond is resolved first)',
    method: 'POST',
    path: '/api/ponds/x/tide',
    body: { bound_seconds: 0.0001 },
    status: 404,
    code: 'not_found',
    message: 'unknown pond "x"',
  },
  {
    why: 'an unknown major line',
    method: 'GET',
    path: '/api/ponds/inlet/runs?major=7',
    status: 404,
    code: 'not_found',
    message: 'unknown line "inlet@7"',
  },
  {
    why: 'a Pond the caller may not know of answers like an unknown one',
    method: 'GET',
    path: '/api/ponds/reports/tables',
    as: 'reader',
    status: 404,
    code: 'not_found',
    message: 'unknown pond "reports"',
  },
  {
    why: 'an unknown window',
    method: 'DELETE',
    path: '/api/ponds/inlet/windows/nope',
    status: 404,
    code: 'not_found',
    message: 'pond "inlet" major 1 has no window "nope"',
  },
  {
    why: 'an unknown principal',
    method: 'DELETE',
    path: '/api/principals/ghost',
    status: 404,
    code: 'not_found',
    message: 'no principal "ghost"',
  },
  {
    why: 'an unknown group',
    method: 'DELETE',
    path: '/api/groups/ghost',
    status: 404,
    code: 'not_found',
    message: 'no group "ghost"',
  },
  {
    why: 'an unknown key',
    method: 'DELETE',
    path: '/api/keys/0123456789abcdef',
    status: 404,
    code: 'not_found',
    message: 'no key "0123456789abcdef"',
  },
  {
    why: 'a query of a table that does not exist',
    method: 'POST',
    path: '/api/query',
    body: { sql: 'SELECT * FROM ghost.t' },
    status: 404,
    code: 'unknown_table',
    message: 'table ghost.t does not exist or you may not read it',
  },

  {
    why: 'a compute assignment to an unknown endpoint',
    method: 'POST',
    path: '/api/compute/assignments',
    body: { endpoint: 'ghost', principal: 'reader' },
    status: 404,
    code: 'not_found',
    message: 'no compute endpoint "ghost"',
  },
  {
    why: 'a compute assignment of an unknown group',
    method: 'POST',
    path: '/api/compute/assignments',
    body: { endpoint: 'w1', group: 'ghosts' },
    status: 404,
    code: 'not_found',
    message: 'no group "ghosts"',
  },
  {
    why: 'compute explain of an unknown principal',
    method: 'GET',
    path: '/api/compute/explain/ghost',
    status: 404,
    code: 'not_found',
    message: 'no principal "ghost"',
  },

  // ───────────── 409 conflict ─────────────
  {
    why: 'a principal that exists',
    method: 'POST',
    path: '/api/principals',
    body: { name: 'reader' },
    status: 409,
    code: 'conflict',
    message: '"reader" already exists',
  },
  {
    why: 'a window name the line already has',
    method: 'POST',
    path: '/api/ponds/inlet/windows',
    body: { name: 'nightly', every: '1d' },
    status: 409,
    code: 'conflict',
    message: 'pond "inlet" major 1 already has a window named "nightly"',
  },
  {
    why: 'a version deployed again with different content',
    method: 'POST',
    path: '/api/deploy',
    archive: 'inlet-changed',
    status: 409,
    code: 'conflict',
    message:
      /^inlet@1\.0\.0 is already deployed with different content \(sha256 [0-9a-f]{12}…, upload [0-9a-f]{12}…\); versions are immutable, so bump the version$/,
  },

  {
    why: 'a compute endpoint name that exists (case-insensitively)',
    method: 'POST',
    path: '/api/compute/endpoints',
    body: { name: 'W1', url: 'grpc://127.0.0.1:9445', token: 'worker-token' },
    status: 409,
    code: 'conflict',
    message: 'compute endpoint "W1" already exists',
  },
  {
    why: 'a compute assignment that exists',
    method: 'POST',
    path: '/api/compute/assignments',
    body: { endpoint: 'w1', everyone: true },
    status: 409,
    code: 'conflict',
    message: 'everyone is already assigned to compute endpoint "w1" (unassign it first to change it)',
  },

  // ───────────── 413 too large ─────────────
  {
    why: 'SQL past maxSqlBytes',
    method: 'POST',
    path: '/api/query',
    body: { sql: `SELECT '${'x'.repeat(MAX_SQL_BYTES)}'` },
    status: 413,
    code: 'sql_too_large',
    message: 'the SQL text is 4105 bytes; queries are limited to 4 KiB (maxSqlBytes)',
  },
  {
    why: 'an async query past maxSqlBytes',
    method: 'POST',
    path: '/api/queries',
    async: true,
    body: { sql: `SELECT '${'x'.repeat(MAX_SQL_BYTES)}'` },
    status: 413,
    code: 'sql_too_large',
    message: 'the SQL text is 4105 bytes; queries are limited to 4 KiB (maxSqlBytes)',
  },
  {
    why: 'a query request body past what could carry maxSqlBytes',
    method: 'POST',
    path: '/api/query',
    body: { sql: 'x'.repeat(MAX_SQL_BYTES * 7) },
    status: 413,
    code: 'sql_too_large',
    message: 'the request is too large to carry a query: queries are limited to 4 KiB (maxSqlBytes)',
  },

  // ───────────── 415 unsupported media type ─────────────
  {
    why: 'a body of a type no route reads (fastify refuses it)',
    method: 'POST',
    path: '/api/query',
    raw: { type: 'application/xml', data: '<sql>SELECT 1</sql>' },
    status: 415,
    code: 'invalid_request',
    message: 'Unsupported Media Type',
  },

  // ───────────── 422 unprocessable ─────────────
  {
    why: 'windows on a Pond with Sources',
    method: 'POST',
    path: '/api/ponds/reports/windows',
    body: { name: 'w', every: '1h' },
    status: 422,
    code: 'invalid_request',
    message: 'windows apply to Inlets only; reports has Sources',
  },
  {
    why: 'a window name the store refuses (longer than 63 characters)',
    method: 'POST',
    path: '/api/ponds/inlet/windows',
    body: { name: 'w'.repeat(64), every: '1h' },
    status: 422,
    code: 'invalid_request',
    message: 'invalid window: name: must be at most 63 characters',
    details: [{ path: 'name', message: 'must be at most 63 characters' }],
  },
  {
    why: 'a policy file that is not a policy',
    method: 'POST',
    path: '/api/policy/apply',
    body: { file: 'principals: 3' },
    status: 422,
    code: 'invalid_policy',
    message: 'invalid policy: principals: Expected array, received number',
    details: ['principals: Expected array, received number'],
  },
  {
    why: "a policy file's compute section naming a token variable that was not sent",
    method: 'POST',
    path: '/api/policy/apply',
    body: {
      file: 'compute:\n  endpoints:\n    - {name: w9, url: "grpc://127.0.0.1:9449", token_env: W9_TOKEN}\n',
    },
    status: 422,
    code: 'invalid_policy',
    message:
      'invalid policy: compute.endpoints.0.token_env: environment variable W9_TOKEN is not set (policy apply reads it from its environment)',
  },
  {
    why: 'a Pond whose pond.toml is invalid',
    method: 'POST',
    path: '/api/deploy',
    archive: 'bad-version',
    status: 422,
    code: 'invalid_pond',
    message: 'pond.version: "1.0" is not a semver version (expected MAJOR.MINOR.PATCH)',
    details: ['pond.version: "1.0" is not a semver version (expected MAJOR.MINOR.PATCH)'],
  },
  {
    why: 'a Source that is not deployed',
    method: 'POST',
    path: '/api/deploy',
    archive: 'orphan',
    status: 422,
    code: 'invalid_pond',
    message: 'sources.ghost: unknown source Pond "ghost" (major 1) — deploy it first',
    details: ['sources.ghost: unknown source Pond "ghost" (major 1) — deploy it first'],
  },
  {
    why: 'a prerelease does not satisfy a plain minimum version',
    method: 'POST',
    path: '/api/deploy',
    archive: 'needs-final',
    status: 422,
    code: 'invalid_pond',
    message: 'sources.early: needs early ≥ 1.0.0 in major 1, deployed is 1.0.0-rc.1',
  },
];

async function send(k: Case): Promise<{ status: number; headers: Headers; body: unknown }> {
  const target = k.async ? asyncOn : c;
  const key = k.as === null ? null : k.as === undefined ? target.running.adminKey : keys[k.as];
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  let body: string | Buffer | undefined;
  if (k.archive !== undefined) {
    headers['content-type'] = 'application/octet-stream';
    body = archives[k.archive];
  } else if (k.raw) {
    headers['content-type'] = k.raw.type;
    body = k.raw.data;
  } else if (k.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(k.body);
  }
  const res = await fetch(`${target.url}${k.path}`, { method: k.method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) };
}

beforeAll(async () => {
  work = await tempDir('errors');
  c = await TestCatchment.start(path.join(work, 'root'), {
    livenessMs: 60_000,
    watchdogMs: 60_000,
    queries: { maxSqlBytes: MAX_SQL_BYTES },
  });
  asyncOn = await TestCatchment.start(path.join(work, 'async-root'), {
    env: { FEATURE_ASYNC_QUEUE: 'on' },
    queries: { maxSqlBytes: MAX_SQL_BYTES },
  });
  const pond = (name: string, files: Record<string, string>, extra = {}) =>
    writePond(work, { name, files, ...extra }).then(packPond);
  const t = { 'ripples/t.sql': 'SELECT 1 AS a' };
  archives.inlet = await pond('inlet', t);
  archives['inlet-changed'] = await pond('inlet', { 'ripples/t.sql': 'SELECT 2 AS a' });
  archives['bad-version'] = await pond('broken', t, { version: '1.0' });
  archives.orphan = await pond('orphan', t, { sources: { ghost: '1.0.0' } });
  archives['needs-final'] = await pond('late', t, { sources: { early: '1.0.0' } });
  const deploy = async (archive: Buffer) => {
    const r = await fetch(`${c.url}/api/deploy`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.running.adminKey}`, 'content-type': 'application/octet-stream' },
      body: archive,
    });
    expect(r.status, await r.text()).toBe(201);
  };
  await deploy(archives.inlet);
  await deploy(await pond('reports', t, { sources: { inlet: '1.0.0' } }));
  await deploy(await pond('early', t, { version: '1.0.0-rc.1' }));
  expect((await c.api('POST', '/api/ponds/inlet/windows', { name: 'nightly', every: '1d' })).status).toBe(
    201,
  );
  expect((await c.api('POST', '/api/principals', { name: 'reader' })).status).toBe(201);
  expect(
    (await c.api('POST', '/api/grants', { to: 'reader', privileges: ['SELECT'], on: 'inlet' })).status,
  ).toBe(200);
  const w1 = { name: 'w1', url: 'grpc://127.0.0.1:9444', token: 'worker-token' };
  expect((await c.api('POST', '/api/compute/endpoints', w1)).status).toBe(201);
  expect((await c.api('POST', '/api/compute/assignments', { endpoint: 'w1', everyone: true })).status).toBe(
    201,
  );
  keys.reader = (await c.api('POST', '/api/keys', { principal: 'reader' })).body.key;
  const revoked = await c.api('POST', '/api/keys', { principal: 'reader' });
  keys.revoked = revoked.body.key;
  expect((await c.api('DELETE', `/api/keys/${revoked.body.id}`)).status).toBe(200);
  keys.forged = 'ds_not_a_key';
  // A Duck token as the supervisor would register one; no process runs behind it.
  keys.duck = c.running.catchment.store.registerDuck({
    pond: 'inlet',
    major: 1,
    pid: null,
    state: 'running',
    atMs: Date.now(),
  }).token;
}, 60_000);

afterAll(async () => {
  await asyncOn?.close();
  await c?.close();
  await removeDir(work);
});

describe('every 4xx of the API', () => {
  it.each(cases.map((k) => [`${k.status} ${k.code}: ${k.why}`, k] as const))('%s', async (_name, k) => {
    const res = await send(k);
    if (process.env.PROBE) console.log(JSON.stringify({ why: k.why, status: res.status, body: res.body }));
    expect(res.status, JSON.stringify(res.body)).toBe(k.status);
    const error = (res.body as { error: Record<string, unknown> }).error;
    // One shape for every error answer: code and message, and nothing but details and error_id besides.
    expect(Object.keys(res.body as object)).toEqual(['error']);
    expect(Object.keys(error).filter((f) => !['code', 'message', 'details', 'error_id'].includes(f))).toEqual(
      [],
    );
    expect(error.code).toBe(k.code);
    if (typeof k.message === 'string') expect(error.message).toBe(k.message);
    else expect(error.message).toMatch(k.message);
    if (k.details !== undefined) expect(error.details).toEqual(k.details);
  });
});

describe('async submissions refused at submit time', () => {
  it('leave no job behind', async () => {
    const listed = await asyncOn.api('GET', '/api/queries');
    expect(listed.status).toBe(200);
    expect(listed.body.jobs).toEqual([]);
    // And a valid submission is still taken: the refusals were about the text, not the queue.
    const taken = await asyncOn.api('POST', '/api/queries', { sql: 'SELECT 42 AS answer', wait: 10 });
    expect(taken.body.job.state, JSON.stringify(taken.body)).toBe('SUCCEEDED');
    expect((await asyncOn.api('GET', '/api/queries')).body.jobs).toHaveLength(1);
  });
});

/**
 * The row types of duck.db, written by hand from `migrations.ts` (keep the two in step: a migration that
 * adds or changes a column changes its table here). Kysely derives every query's parameter and result
 * types from this interface, so no repository casts a row.
 *
 * `standing_triggers` (migration 2) is left out on purpose: triggers live only in the engine snapshot,
 * and nothing reads or writes that table any more. It stays in the schema because migrations are
 * never edited.
 */
import type { Generated } from 'kysely';
import type { DuckState, RunStatus } from './schemas.js';

export interface SchemaMigrationsTable {
  id: number;
  name: string;
  applied_at: number;
}

export interface PondsTable {
  name: string;
  created_at: number;
}

export interface PondVersionsTable {
  pond: string;
  version: string;
  major: number;
  checksum: string;
  /** JSON object text. */
  manifest: string;
  /** Root-relative, POSIX separators. */
  source_path: string;
  deployed_at: number;
}

export interface SelectionsTable {
  pond: string;
  major: number;
  version: string;
  selected_at: number;
}

export interface WindowsTable {
  id: Generated<number>;
  pond: string;
  major: number;
  name: string;
  start_anchor: number;
  every_ms: number;
  duration_ms: number;
  /** JSON array of weekday names. */
  valid_days: string;
  until_ms: number | null;
  created_at: number;
}

export interface BudgetsTable {
  pond: string;
  major: number;
  immediate_retries: number;
  source_retries: number;
  updated_at: number;
}

export interface EngineStateTable {
  id: number;
  encoding: 'json+deflate-raw';
  state: Buffer;
  saved_at: number;
}

export interface PondRunsTable {
  id: Generated<number>;
  pond: string;
  major: number;
  f: number;
  version: string;
  status: RunStatus;
  started_at: number;
  finished_at: number | null;
  trigger_reason: string | null;
  error: string | null;
}

export interface RippleAttemptsTable {
  run_id: number;
  pond: string;
  major: number;
  version: string;
  f: number;
  ripple: string;
  attempt: number;
  status: RunStatus;
  started_at: number;
  finished_at: number | null;
  rows_written: number | null;
  error: string | null;
  stack: string | null;
  duck_id: string | null;
}

export interface RippleLogsTable {
  id: Generated<number>;
  pond: string;
  major: number;
  f: number;
  ripple: string;
  attempt: number;
  seq: number;
  at: number;
  level: 'info' | 'warn' | 'error';
  message: string;
  /** JSON object text, or null. */
  fields: string | null;
}

export interface DucksTable {
  pond: string;
  major: number;
  duck_id: string;
  pid: number | null;
  /** SHA-256 (hex) of the Duck's token. */
  token_hash: string;
  state: DuckState;
  registered_at: number;
  /** Never written since liveness moved into the supervisor's memory; reset on every registration. */
  last_seen: number | null;
}

export interface GovPolicyTable {
  id: number;
  /** JSON policy document. */
  document: string;
  revision: number;
  updated_at: number;
}

export interface GovApiKeysTable {
  id: string;
  principal: string;
  key_hash: string;
  description: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

export interface GovAuditTable {
  id: Generated<number>;
  at: number;
  principal: string;
  kind: 'query' | 'change';
  action: string;
  decision: 'allowed' | 'denied' | 'failed';
  /** JSON object text. */
  detail: string;
}

export type QueryJobState = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED' | 'EXPIRED';

export interface QueryJobsTable {
  id: string;
  /** Submission order (newest first when listing; fairness ties). */
  seq: number;
  principal: string;
  request_id: string | null;
  sql: string;
  state: QueryJobState;
  attempts: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  expires_at: number | null;
  error_code: string | null;
  error_message: string | null;
  error_id: string | null;
  row_count: number | null;
  /** 0/1, or null before the job finished. */
  truncated: number | null;
  /** JSON array of {name, type, sql_type}. */
  columns: string | null;
  /** Relative to the Catchment root. */
  result_file: string | null;
  placement: string | null;
  /** The worker's job id when the result is kept on the worker (placement remote:NAME). */
  remote_job_id: string | null;
  /** JSON array of the job's attempts (src/catchment/async/job-store.ts, JobAttempt). */
  attempt_log: string;
}

export interface DuckDbTables {
  schema_migrations: SchemaMigrationsTable;
  ponds: PondsTable;
  pond_versions: PondVersionsTable;
  selections: SelectionsTable;
  windows: WindowsTable;
  budgets: BudgetsTable;
  engine_state: EngineStateTable;
  pond_runs: PondRunsTable;
  ripple_attempts: RippleAttemptsTable;
  ripple_logs: RippleLogsTable;
  ducks: DucksTable;
  gov_policy: GovPolicyTable;
  gov_api_keys: GovApiKeysTable;
  gov_audit: GovAuditTable;
  query_jobs: QueryJobsTable;
}

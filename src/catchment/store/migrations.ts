/**
 * duck.db schema, as numbered forward-only migrations. Never edit a released migration: append a new one.
 * Conventions: STRICT tables; times are integer epoch ms; freshness F is integer epoch ms; every path is
 * root-relative. A "line" is one (pond, major); its selection row is the parent of all per-line config.
 */
export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'pond identity',
    sql: `
      CREATE TABLE ponds (
        name TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
      ) STRICT;

      -- One immutable row per deployed artifact.
      CREATE TABLE pond_versions (
        pond TEXT NOT NULL REFERENCES ponds(name),
        version TEXT NOT NULL,
        major INTEGER NOT NULL CHECK (major >= 0),
        checksum TEXT NOT NULL CHECK (length(checksum) = 64),
        manifest TEXT NOT NULL CHECK (json_valid(manifest)),
        source_path TEXT NOT NULL CHECK (substr(source_path, 1, 1) <> '/'),
        deployed_at INTEGER NOT NULL,
        PRIMARY KEY (pond, version),
        UNIQUE (pond, major, version)
      ) STRICT;

      CREATE TRIGGER pond_versions_immutable BEFORE UPDATE ON pond_versions
      BEGIN
        SELECT RAISE(ABORT, 'pond_versions rows are immutable');
      END;

      -- The selection pointer: which version a major line runs. The composite key forces the selected
      -- version to belong to that major.
      CREATE TABLE selections (
        pond TEXT NOT NULL,
        major INTEGER NOT NULL,
        version TEXT NOT NULL,
        selected_at INTEGER NOT NULL,
        PRIMARY KEY (pond, major),
        FOREIGN KEY (pond, major, version) REFERENCES pond_versions(pond, major, version)
      ) STRICT;
    `,
  },
  {
    id: 2,
    name: 'operational config per line',
    sql: `
      -- Operator-owned. Ordered by id: the engine examines windows in list order.
      CREATE TABLE windows (
        id INTEGER PRIMARY KEY,
        pond TEXT NOT NULL,
        major INTEGER NOT NULL,
        name TEXT NOT NULL,
        start_anchor INTEGER NOT NULL,
        every_ms INTEGER NOT NULL CHECK (every_ms > 0),
        duration_ms INTEGER NOT NULL CHECK (duration_ms > 0 AND duration_ms <= every_ms),
        valid_days TEXT NOT NULL CHECK (json_valid(valid_days)),
        until_ms INTEGER,
        created_at INTEGER NOT NULL,
        UNIQUE (pond, major, name),
        FOREIGN KEY (pond, major) REFERENCES selections(pond, major)
      ) STRICT;

      -- Seeded from pond.toml on the line's first deploy only, then operator-owned.
      CREATE TABLE budgets (
        pond TEXT NOT NULL,
        major INTEGER NOT NULL,
        immediate_retries INTEGER NOT NULL CHECK (immediate_retries >= 0),
        source_retries INTEGER NOT NULL CHECK (source_retries >= 0),
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (pond, major),
        FOREIGN KEY (pond, major) REFERENCES selections(pond, major)
      ) STRICT;

      -- Operator intent for the standing trigger; authoritative over the engine snapshot's copy.
      CREATE TABLE standing_triggers (
        pond TEXT NOT NULL,
        major INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('wave', 'tide')),
        bound_ms INTEGER,
        set_at INTEGER NOT NULL,
        PRIMARY KEY (pond, major),
        FOREIGN KEY (pond, major) REFERENCES selections(pond, major),
        CHECK ((kind = 'wave' AND bound_ms IS NULL) OR (kind = 'tide' AND bound_ms > 0))
      ) STRICT;
    `,
  },
  {
    id: 3,
    name: 'engine state',
    sql: `
      -- The engine snapshot as deflate-raw compressed JSON: ~50x smaller than the text, so frequent saves
      -- of a large Catchment stay cheap in WAL traffic and backups.
      CREATE TABLE engine_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        encoding TEXT NOT NULL CHECK (encoding IN ('json+deflate-raw')),
        state BLOB NOT NULL,
        saved_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    id: 4,
    name: 'run history',
    sql: `
      CREATE TABLE pond_runs (
        id INTEGER PRIMARY KEY,
        pond TEXT NOT NULL,
        major INTEGER NOT NULL,
        f INTEGER NOT NULL,
        version TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'killed', 'passed')),
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        trigger_reason TEXT,
        error TEXT,
        UNIQUE (pond, major, f),
        FOREIGN KEY (pond, major, version) REFERENCES pond_versions(pond, major, version)
      ) STRICT;
      CREATE INDEX pond_runs_recent ON pond_runs (pond, major, started_at DESC, f DESC);
      CREATE INDEX pond_runs_by_status ON pond_runs (status, pond, started_at DESC);

      -- One row per Ripple attempt.
      CREATE TABLE ripple_attempts (
        run_id INTEGER NOT NULL REFERENCES pond_runs(id),
        pond TEXT NOT NULL,
        major INTEGER NOT NULL,
        version TEXT NOT NULL,
        f INTEGER NOT NULL,
        ripple TEXT NOT NULL,
        attempt INTEGER NOT NULL CHECK (attempt >= 0),
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'killed', 'passed')),
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        rows_written INTEGER,
        error TEXT,
        stack TEXT,
        duck_id TEXT,
        PRIMARY KEY (pond, major, f, ripple, attempt),
        FOREIGN KEY (pond, major, version) REFERENCES pond_versions(pond, major, version)
      ) STRICT;
      CREATE INDEX ripple_attempts_by_run ON ripple_attempts (run_id);
      CREATE INDEX ripple_attempts_by_status ON ripple_attempts (status, pond, started_at DESC);
    `,
  },
  {
    id: 5,
    name: 'duck registry',
    sql: `
      CREATE TABLE ducks (
        pond TEXT NOT NULL,
        major INTEGER NOT NULL,
        duck_id TEXT NOT NULL UNIQUE,
        pid INTEGER,
        token_hash TEXT NOT NULL CHECK (length(token_hash) = 64),
        state TEXT NOT NULL CHECK (state IN ('starting', 'running', 'stopping', 'stopped')),
        registered_at INTEGER NOT NULL,
        last_seen INTEGER,
        PRIMARY KEY (pond, major),
        FOREIGN KEY (pond, major) REFERENCES selections(pond, major)
      ) STRICT;
    `,
  },
  {
    id: 6,
    name: 'governance',
    sql: `
      -- The policy (principals, groups, admins, grants, row filters, masks) as one validated document:
      -- every change is checked as a whole (cycles, unknown names, filter and mask SQL) before it lands.
      CREATE TABLE gov_policy (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        document TEXT NOT NULL CHECK (json_valid(document)),
        revision INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;

      -- API keys: only the SHA-256 of the secret is kept; the secret is shown once.
      CREATE TABLE gov_api_keys (
        id TEXT PRIMARY KEY,
        principal TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE CHECK (length(key_hash) = 64),
        description TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER
      ) STRICT;
      CREATE INDEX gov_api_keys_by_principal ON gov_api_keys (principal);

      CREATE TABLE gov_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        principal TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('query', 'change')),
        action TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('allowed', 'denied', 'failed')),
        detail TEXT NOT NULL CHECK (json_valid(detail))
      ) STRICT;
      CREATE INDEX gov_audit_by_time ON gov_audit (at);
    `,
  },
  {
    id: 7,
    name: 'ripple logs',
    sql: `
      -- The ctx.log lines of Ripple attempts (bounded per attempt by the Duck, per line by the store).
      -- id is the read cursor: lines are appended in arrival order. (seq, at) tell a replayed event
      -- (same lines, ignored) from a new execution reusing the attempt's key (new times, kept).
      CREATE TABLE ripple_logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        pond TEXT NOT NULL,
        major INTEGER NOT NULL CHECK (major >= 0),
        f INTEGER NOT NULL,
        ripple TEXT NOT NULL,
        attempt INTEGER NOT NULL CHECK (attempt >= 0),
        seq INTEGER NOT NULL CHECK (seq >= 0),
        at INTEGER NOT NULL,
        level TEXT NOT NULL CHECK (level IN ('info', 'warn', 'error')),
        message TEXT NOT NULL,
        fields TEXT CHECK (fields IS NULL OR json_valid(fields)),
        UNIQUE (pond, major, f, ripple, attempt, seq, at)
      ) STRICT;
      CREATE INDEX ripple_logs_by_line ON ripple_logs (pond, major, id);
    `,
  },
  {
    id: 8,
    name: 'compute directory',
    sql: `
      -- Query workers the Catchment may route to (issue 10). The worker's AGENT_TOKEN is kept
      -- encrypted (AES-256-GCM, key in secrets/compute.key): it must be sent, so it cannot be hashed.
      -- revision changes with url or token, so the router replaces its connection.
      CREATE TABLE compute_endpoints (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        url TEXT NOT NULL,
        token_ciphertext TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'draining', 'inactive')),
        capacity INTEGER CHECK (capacity IS NULL OR capacity > 0),
        revision INTEGER NOT NULL CHECK (revision >= 1),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;

      -- Who runs where: a principal, a group (nested groups count) or everyone, per job kind.
      CREATE TABLE compute_assignments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subject_kind TEXT NOT NULL CHECK (subject_kind IN ('principal', 'group', 'everyone')),
        subject_name TEXT NOT NULL COLLATE NOCASE,
        endpoint_id INTEGER NOT NULL REFERENCES compute_endpoints(id) ON DELETE CASCADE,
        is_default INTEGER NOT NULL CHECK (is_default IN (0, 1)),
        fallback_local INTEGER NOT NULL CHECK (fallback_local IN (0, 1)),
        job_kinds TEXT NOT NULL CHECK (json_valid(job_kinds)),
        created_at INTEGER NOT NULL,
        UNIQUE (subject_kind, subject_name, endpoint_id)
      ) STRICT;
      CREATE INDEX compute_assignments_by_endpoint ON compute_assignments (endpoint_id);
    `,
  },
  {
    id: 9,
    name: 'async query jobs',
    sql: `
      -- Async queries (issue 11): one row per job, from QUEUED to a final state. The id is random
      -- and unguessable; request_id makes a submission idempotent per principal. result_file is
      -- relative to the root; columns is the answer's column list with the SQL type each column is
      -- read back as, so a page is typed exactly like an interactive answer.
      CREATE TABLE query_jobs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        principal TEXT NOT NULL COLLATE NOCASE,
        request_id TEXT,
        sql TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED', 'EXPIRED')),
        attempts INTEGER NOT NULL CHECK (attempts >= 0),
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        expires_at INTEGER,
        error_code TEXT,
        error_message TEXT,
        error_id TEXT,
        row_count INTEGER,
        truncated INTEGER CHECK (truncated IS NULL OR truncated IN (0, 1)),
        columns TEXT CHECK (columns IS NULL OR json_valid(columns)),
        result_file TEXT,
        placement TEXT,
        UNIQUE (principal, request_id)
      ) STRICT;
      CREATE INDEX query_jobs_by_principal ON query_jobs (principal, seq);
      CREATE INDEX query_jobs_by_state ON query_jobs (state, seq);
    `,
  },
  {
    id: 10,
    name: 'async query attempts',
    sql: `
      -- Async jobs routed to workers (issue 11): remote_job_id is the worker's id of the job whose
      -- result stays on that worker (placement remote:NAME names it); attempt_log is the JSON list
      -- of the job's attempts — target, outcome, reason, times — shown by GET /api/queries/{id}.
      ALTER TABLE query_jobs ADD COLUMN remote_job_id TEXT;
      ALTER TABLE query_jobs ADD COLUMN attempt_log TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(attempt_log));
    `,
  },
];

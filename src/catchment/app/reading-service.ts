/**
 * Reading Ponds: status of lines, run history, published tables and the catalog, each filtered to
 * what the caller may see.
 */
import { listVisibleTables } from '../../governance/catalog.js';
import { GovernanceError } from '../../governance/errors.js';
import type { GovernanceService, Identity } from '../../governance/service.js';
import type { Catchment } from '../catchment.js';
import type { DataService } from '../data.js';
import { lineStatus } from '../status.js';
import type { RunStatus } from '../store/index.js';
import type { LineAccess, LineRef } from './line-access.js';

export class ReadingService {
  constructor(
    private readonly catchment: Catchment,
    private readonly data: DataService,
    private readonly governance: GovernanceService,
    private readonly access: LineAccess,
  ) {}

  /**
   * A line's status; run errors (which may quote data) only for holders of OPERATE, who can read the
   * full run history anyway.
   */
  status(who: Identity, line: LineRef) {
    const operates = this.governance.can(who, 'OPERATE', {
      kind: 'pond',
      pond: line.pond,
      major: line.major,
    });
    const status = lineStatus(this.catchment, line.pond, line.major, operates);
    if (operates) return status;
    return {
      ...status,
      last_runs: status.last_runs.map((r) => ({ ...r, error: r.error === null ? null : 'hidden' })),
    };
  }

  /** Every line the caller may view, with its status. */
  allLines(who: Identity) {
    return this.catchment.store
      .listLines()
      .filter((l) => this.access.mayView(who, l))
      .map((l) => this.status(who, l));
  }

  /** Every line of one Pond the caller may view; 404 for a Pond it may not know, 403 for one it only reads. */
  async pondLines(who: Identity, pond: string) {
    const lines = this.catchment.store.listLines(pond).filter((l) => this.access.mayView(who, l));
    if (lines.length === 0) {
      // A table grant alone shows the tables, not the lines' status; a Pond the caller may not
      // know of answers exactly like one that does not exist.
      await this.access.resolve(who, pond, undefined);
      throw new GovernanceError(
        'permission_denied',
        `permission denied: no privilege on a line of ${pond} (the tables you may read: GET /api/ponds/${pond}/tables, or GET /api/tables)`,
      );
    }
    return lines.map((l) => this.status(who, l));
  }

  /** Pond Runs of a line, newest first, each with its Ripple attempts. */
  runs(line: LineRef, filter: { limit: number; status?: RunStatus | undefined }) {
    const store = this.catchment.store;
    const runs = store.listPondRuns({
      ...line,
      limit: filter.limit,
      ...(filter.status ? { status: filter.status } : {}),
    });
    return runs.map((r) => ({ ...r, attempts: store.listRunAttempts(r.id) }));
  }

  /** The published tables of a line the caller may SELECT, with what it may learn of them. */
  async tables(who: Identity, line: LineRef) {
    const { described, tables: readable } = await this.access.readableTables(who, line);
    const policy = this.governance.policy();
    // Row and byte counts of a filtered table would tell how many rows the caller cannot see; only
    // those who manage the filter get them.
    const tables = readable.map((t) =>
      policy.rowFilter(line.pond, line.major, t.name) === undefined ||
      this.governance.can(who, 'MANAGE', { kind: 'table', pond: line.pond, major: line.major, table: t.name })
        ? t
        : { ...t, rows: null, bytes: null },
    );
    if (this.access.mayView(who, line)) return { ...described, tables };
    // The line's own publish time moves when any table is republished; a reader of some tables
    // gets the newest of theirs instead, so it learns nothing about the others.
    const publishedAt =
      tables
        .map((t) => t.publishedAt)
        .sort()
        .at(-1) ?? null;
    return { ...described, publishedAt, tables };
  }

  /** The catalog: every published table the caller may SELECT, of every Pond and major. */
  async catalog(who: Identity) {
    const { catalog } = await this.data.snapshot();
    return listVisibleTables(this.governance.policy(), who.principal, catalog);
  }
}

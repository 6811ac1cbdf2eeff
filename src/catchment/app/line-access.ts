/**
 * Which lines a principal may know of and act on. A Pond, or a line, the caller may not know of
 * answers exactly like one that does not exist (the same status, code and message with the name
 * substituted) and never becomes the default major: names are not an oracle.
 */
import { GovernanceError } from '../../governance/errors.js';
import { PRIVILEGES, type Privilege } from '../../governance/policy.js';
import type { GovernanceService, Identity } from '../../governance/service.js';
import { RequestError } from '../../shared/errors.js';
import type { Catchment } from '../catchment.js';
import type { DataService } from '../data.js';

/** One line of a Pond: `pond@major`. */
export interface LineRef {
  pond: string;
  major: number;
}

export class LineAccess {
  constructor(
    private readonly catchment: Catchment,
    private readonly data: DataService,
    private readonly governance: GovernanceService,
  ) {}

  /** Seeing a line's status, windows and budgets takes any privilege on it. */
  mayView(who: Identity, line: LineRef): boolean {
    return PRIVILEGES.some((p) =>
      this.governance.can(who, p, { kind: 'pond', pond: line.pond, major: line.major }),
    );
  }

  /** 403 unless the caller holds some privilege on the line. */
  requireView(who: Identity, line: LineRef): void {
    if (!this.mayView(who, line)) {
      throw new GovernanceError(
        'permission_denied',
        `permission denied: no privilege on ${line.pond}@${line.major}`,
      );
    }
  }

  /** 403 unless the caller holds `privilege` on the line. */
  require(who: Identity, privilege: Privilege, line: LineRef): void {
    this.governance.require(who, privilege, { kind: 'pond', pond: line.pond, major: line.major });
  }

  /** The published tables of a line the caller may SELECT (a table grant alone shows these). */
  async readableTables(who: Identity, line: LineRef) {
    const described = await this.data.describe(line.pond, line.major);
    return {
      described,
      tables: described.tables.filter((t) =>
        this.governance.can(who, 'SELECT', {
          kind: 'table',
          pond: line.pond,
          major: line.major,
          table: t.name,
        }),
      ),
    };
  }

  /** A line the caller may know exists: it holds a privilege on it, or SELECT on one of its tables. */
  async knows(who: Identity, line: LineRef): Promise<boolean> {
    return this.mayView(who, line) || (await this.readableTables(who, line)).tables.length > 0;
  }

  /** The line a request means: `major` if given, else the newest line of the Pond the caller knows. */
  async resolve(who: Identity, pond: string, major: number | undefined): Promise<LineRef> {
    const known: number[] = [];
    for (const l of this.catchment.store.listLines(pond)) {
      if (await this.knows(who, { pond: l.pond, major: l.major })) known.push(l.major);
    }
    if (known.length === 0) throw unknownPond(pond);
    if (major === undefined) return { pond, major: Math.max(...known) };
    if (!known.includes(major)) throw new RequestError(404, 'not_found', `unknown line "${pond}@${major}"`);
    return { pond, major };
  }
}

export const unknownPond = (name: string) => new RequestError(404, 'not_found', `unknown pond "${name}"`);

/**
 * The governed catalog: which published tables exist (per Pond major), their columns, and which
 * major `pond.table` means. It is input to the rewrite (ctx.catalog); the Catchment builds it from
 * the published manifests.
 */
import { z } from 'zod';
import { IDENTIFIER_PATTERN, POND_REF_SOURCE } from '../shared/ids.js';
import { PolicyError } from './errors.js';
import type { Policy } from './policy.js';

const pondName = z
  .string()
  .regex(new RegExp(`^${POND_REF_SOURCE}$`), 'a pond name uses letters, digits, _ and -');
const tableName = z.string().regex(IDENTIFIER_PATTERN, 'a table name uses letters, digits and _');
/** DuckDB type text as DESCRIBE prints it; it is spliced into a CAST, so nothing that ends a clause. */
const typeText = z
  .string()
  .min(1)
  .max(2000)
  .refine((t) => !/[;\0]|--|\/\*/.test(t), 'not a DuckDB type');

export const catalogSchema = z
  .object({
    tables: z.array(
      z
        .object({
          pond: pondName,
          major: z.number().int().min(0),
          name: tableName,
          columns: z
            .array(
              z
                .object({
                  name: z
                    .string()
                    .min(1)
                    .max(255)
                    .refine((n) => !n.includes('\0'), 'column name contains a NUL byte'),
                  type: typeText,
                })
                .strict(),
            )
            .min(1),
        })
        .strict(),
    ),
    /** Pond → the major that `pond.table` names. */
    selected: z.record(pondName, z.number().int().min(0)),
  })
  .strict();

export type CatalogInput = z.input<typeof catalogSchema>;

export interface CatalogColumn {
  name: string;
  type: string;
}

export interface CatalogTable {
  pond: string;
  major: number;
  name: string;
  columns: readonly CatalogColumn[];
  /** 'pond@major.table', lower-cased: the view name the executor is given. */
  key: string;
}

export class Catalog {
  private readonly tables = new Map<string, CatalogTable>();
  private readonly selected = new Map<string, number>();
  private readonly majors = new Map<string, Set<number>>();

  private constructor(input: z.output<typeof catalogSchema>) {
    const issues: string[] = [];
    for (const t of input.tables) {
      const pond = t.pond.toLowerCase();
      const name = t.name.toLowerCase();
      const key = `${pond}@${t.major}.${name}`;
      if (this.tables.has(key)) issues.push(`table ${key} is listed twice`);
      const seen = new Set<string>();
      for (const c of t.columns) {
        if (seen.has(c.name.toLowerCase())) issues.push(`table ${key}: column "${c.name}" is listed twice`);
        seen.add(c.name.toLowerCase());
      }
      this.tables.set(key, { pond, major: t.major, name, columns: t.columns, key });
      const majors = this.majors.get(pond) ?? new Set<number>();
      majors.add(t.major);
      this.majors.set(pond, majors);
    }
    for (const [pond, major] of Object.entries(input.selected)) {
      const p = pond.toLowerCase();
      if (!this.majors.get(p)?.has(major)) issues.push(`selected major ${pond}@${major} has no tables`);
      this.selected.set(p, major);
    }
    if (issues.length > 0) throw new PolicyError(issues.map((i) => `catalog: ${i}`));
  }

  static parse(input: unknown): Catalog {
    if (input instanceof Catalog) return input;
    const parsed = catalogSchema.safeParse(input);
    if (!parsed.success) {
      throw new PolicyError(
        parsed.error.issues.map((i) => `catalog.${i.path.join('.') || ''}: ${i.message}`.replace(/\.:/, ':')),
      );
    }
    return new Catalog(parsed.data);
  }

  hasPond(pond: string): boolean {
    return this.majors.has(pond.toLowerCase());
  }

  /** The major `pond.table` names, if the pond has a selected major. */
  selectedMajor(pond: string): number | undefined {
    return this.selected.get(pond.toLowerCase());
  }

  /** A table by pond, major (undefined: the selected one) and name; case-insensitive. */
  find(pond: string, major: number | undefined, table: string): CatalogTable | undefined {
    const m = major ?? this.selectedMajor(pond);
    if (m === undefined) return undefined;
    return this.tables.get(`${pond.toLowerCase()}@${m}.${table.toLowerCase()}`);
  }

  all(): CatalogTable[] {
    return [...this.tables.values()];
  }
}

export interface VisibleTable {
  /** 'pond@major.table' */
  key: string;
  pond: string;
  major: number;
  name: string;
  /** True when `pond.table` (no major) names this table. */
  selected: boolean;
  /** Whether a row filter applies to the caller (rows may be hidden). */
  filtered: boolean;
  columns: { name: string; type: string; masked: boolean }[];
}

/** The governed catalog listing: only the tables the principal may SELECT. */
export function listVisibleTables(policy: Policy, principal: string, catalog: Catalog): VisibleTable[] {
  return catalog
    .all()
    .filter((t) =>
      policy.can(principal, 'SELECT', { kind: 'table', pond: t.pond, major: t.major, table: t.name }),
    )
    .map((t) => {
      const masks = policy.columnMasks(t.pond, t.major, t.name);
      return {
        key: t.key,
        pond: t.pond,
        major: t.major,
        name: t.name,
        selected: catalog.selectedMajor(t.pond) === t.major,
        filtered: policy.rowFilter(t.pond, t.major, t.name) !== undefined,
        columns: t.columns.map((c) => ({
          name: c.name,
          type: c.type,
          masked: masks.has(c.name.toLowerCase()),
        })),
      };
    })
    .sort((a, b) => a.key.localeCompare(b.key));
}

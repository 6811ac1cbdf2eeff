/**
 * The declarative policy file (`duckstring policy apply FILE`): its format, its translation into a
 * policy document, and the readable diff between two documents (what `--dry-run` prints).
 *
 * The file is the whole desired policy, except the bootstrap entries, which are always kept: the
 * principal `admin`, the group `admins` containing it, and `admins` among the administrators. A file
 * may add members to `admins` or name more administrators.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PolicyError } from './errors.js';
import { type PolicyDocument, PRINCIPAL_KINDS, PRIVILEGES } from './policy.js';
import { ADMINS_GROUP, BOOTSTRAP_ADMIN, bootstrapDocument } from './store.js';

const name = z.string().min(1).max(128);

export const policyFileSchema = z
  .object({
    groups: z.array(z.object({ name, members: z.array(name).default([]) }).strict()).default([]),
    principals: z
      .array(
        z
          .object({ name, kind: z.enum(PRINCIPAL_KINDS).default('user'), groups: z.array(name).default([]) })
          .strict(),
      )
      .default([]),
    admins: z.array(name).default([]),
    grants: z
      .array(
        z
          .object({
            to: name,
            privileges: z.array(z.enum(PRIVILEGES)).min(1),
            on: z.string().min(1).max(300),
          })
          .strict(),
      )
      .default([]),
    row_filters: z.array(z.object({ on: z.string(), where: z.string() }).strict()).default([]),
    column_masks: z
      .array(z.object({ on: z.string(), column: z.string(), as: z.string() }).strict())
      .default([]),
    /** Query workers and assignments: checked and applied by src/catchment/compute/policy-section.ts. */
    compute: z.unknown().optional(),
  })
  .strict();

export type PolicyFile = z.output<typeof policyFileSchema>;

/** Parses YAML (or JSON) text in the file format; PolicyError lists every problem. */
export function parsePolicyFile(text: string): PolicyFile {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new PolicyError([`not valid YAML: ${(error as Error).message.split('\n')[0]}`]);
  }
  const parsed = policyFileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new PolicyError(parsed.error.issues.map((i) => `${i.path.join('.') || 'file'}: ${i.message}`));
  }
  return parsed.data;
}

const lower = (s: string) => s.toLowerCase();

/** The policy document a file describes (not yet validated: Policy.parse does that). */
export function fileToDocument(file: PolicyFile): PolicyDocument {
  const boot = bootstrapDocument();
  const groups = new Map<string, { name: string; members: string[] }>();
  for (const g of [...boot.groups, ...file.groups]) {
    const existing = groups.get(lower(g.name));
    if (existing) {
      for (const m of g.members)
        if (!existing.members.some((x) => lower(x) === lower(m))) existing.members.push(m);
    } else groups.set(lower(g.name), { name: g.name, members: [...g.members] });
  }
  const principals = new Map<string, { name: string; kind: (typeof PRINCIPAL_KINDS)[number] }>();
  principals.set(BOOTSTRAP_ADMIN, { name: BOOTSTRAP_ADMIN, kind: 'user' });
  const issues: string[] = [];
  for (const p of file.principals) {
    if (lower(p.name) === BOOTSTRAP_ADMIN) {
      if (p.kind !== 'user') issues.push(`principals: "${BOOTSTRAP_ADMIN}" is built in (a user)`);
    } else principals.set(lower(p.name), { name: p.name, kind: p.kind });
    for (const g of p.groups) {
      const group = groups.get(lower(g));
      if (!group) issues.push(`principals: "${p.name}" joins unknown group "${g}"`);
      else if (!group.members.some((m) => lower(m) === lower(p.name))) group.members.push(p.name);
    }
  }
  if (issues.length > 0) throw new PolicyError(issues);
  const admins = [ADMINS_GROUP, ...file.admins.filter((a) => lower(a) !== ADMINS_GROUP)];
  return {
    principals: [...principals.values()],
    groups: [...groups.values()],
    admins,
    grants: file.grants.flatMap((g) => g.privileges.map((privilege) => ({ to: g.to, privilege, on: g.on }))),
    rowFilters: file.row_filters.map((f) => ({ table: f.on, filter: f.where })),
    columnMasks: file.column_masks.map((m) => ({ table: m.on, column: m.column, mask: m.as })),
  };
}

/** One line per entry as the diff shows it, keyed by identity (what makes two entries "the same"). */
function entries(doc: PolicyDocument): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of doc.principals) out.set(`principal ${lower(p.name)}`, `principal ${p.name} (${p.kind})`);
  for (const g of doc.groups) {
    out.set(`group ${lower(g.name)}`, `group ${g.name}`);
    for (const m of g.members)
      out.set(`member ${lower(g.name)} ${lower(m)}`, `member ${m} of group ${g.name}`);
  }
  for (const a of doc.admins) out.set(`admin ${lower(a)}`, `admin ${a}`);
  for (const g of doc.grants) {
    out.set(
      `grant ${lower(g.to)} ${g.privilege} ${lower(g.on)}`,
      `grant ${g.privilege} on ${g.on} to ${g.to}`,
    );
  }
  for (const f of doc.rowFilters)
    out.set(`filter ${lower(f.table)}`, `row filter on ${f.table}: ${f.filter}`);
  for (const m of doc.columnMasks) {
    out.set(`mask ${lower(m.table)} ${lower(m.column)}`, `column mask on ${m.table}.${m.column}: ${m.mask}`);
  }
  return out;
}

/** `+ …` added, `- …` removed, `~ …` changed; empty when the documents mean the same policy. */
export function diffDocuments(before: PolicyDocument, after: PolicyDocument): string[] {
  const a = entries(before);
  const b = entries(after);
  const out: string[] = [];
  for (const [key, text] of a) {
    const next = b.get(key);
    if (next === undefined) out.push(`- ${text}`);
    else if (next !== text) out.push(`~ ${next}`);
  }
  for (const [key, text] of b) if (!a.has(key)) out.push(`+ ${text}`);
  return out;
}

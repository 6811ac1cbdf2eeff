/**
 * Identity and policy commands: principals, groups, grants, row filters, column masks, API keys,
 * `policy apply FILE` and the audit log. Each talks to a Catchment over HTTP with `--catchment URL
 * --key KEY` (or DUCKSTRING_CATCHMENT_URL / DUCKSTRING_KEY).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { governance as api } from '../api/index.js';
import { parseDuration } from '../engine/duration.js';
import type { Privilege } from '../governance/policy.js';
import { CatchmentClient, type ConnectionOptions, formatTable } from './client.js';
import { type CliIO, UsageError } from './io.js';
import { withConnection } from './runtime.js';

type ChangeOutcome = api.ChangeOutcome;

function printChange(io: CliIO, out: ChangeOutcome, what: string): void {
  if (!out.changed) io.stdout(`${what}: no change\n`);
  else io.stdout(`${what}\n${out.diff.map((d) => `  ${d}`).join('\n')}\n`);
}

function privilegeList(text: string): Privilege[] {
  const list = text
    .split(',')
    .map((p) => p.trim().toUpperCase())
    .filter(Boolean);
  if (list.length === 0)
    throw new UsageError('name at least one privilege (SELECT, TRIGGER, OPERATE, DEPLOY, MANAGE)');
  // The Catchment checks the names (400 naming the privileges it knows).
  return list as Privilege[];
}

/** `--expires` takes a duration from now ("30d", "12h") or an ISO-8601 time. */
function expiresAt(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    return new Date(Date.now() + parseDuration(text)).toISOString();
  } catch {
    const t = Date.parse(text);
    if (Number.isNaN(t))
      throw new UsageError(`--expires: "${text}" is neither a duration (30d) nor an ISO-8601 time`);
    return new Date(t).toISOString();
  }
}

export function registerGovernanceCommands(program: Command, io: CliIO): void {
  withConnection(
    program.command('whoami').description('Show the principal your key authenticates as.'),
  ).action(async (opts: ConnectionOptions) => {
    const me = await new CatchmentClient(opts).call(api.whoami, {});
    io.stdout(
      `${me.principal} (${me.kind}${me.admin ? ', administrator' : ''}); groups: ${me.groups.join(', ') || '—'}\n`,
    );
  });

  // ───────────── principals & groups ─────────────
  const principal = program.command('principal').description('Manage principals (users, services, taps).');
  withConnection(
    principal
      .command('create')
      .description('Create a principal.')
      .argument('<name>')
      .option('--kind <kind>', 'user, service or tap (an app whose reads are pull demand)', 'user'),
  ).action(async (name: string, opts: ConnectionOptions & { kind: string }) => {
    const out = await new CatchmentClient(opts).call(api.createPrincipal, {
      // The Catchment checks the kind (400 naming the kinds it knows).
      body: { name, kind: opts.kind as api.PrincipalKindName },
    });
    printChange(io, out, `created principal ${name}`);
  });
  withConnection(
    principal.command('delete').description('Delete a principal (and its keys).').argument('<name>'),
  ).action(async (name: string, opts: ConnectionOptions) => {
    const out = await new CatchmentClient(opts).call(api.deletePrincipal, { params: { name } });
    printChange(io, out, `deleted principal ${name}`);
  });
  withConnection(principal.command('list').description('List principals and groups.')).action(
    async (opts: ConnectionOptions) => {
      const res = await new CatchmentClient(opts).call(api.principals, {});
      io.stdout(
        `${formatTable(
          ['name', 'kind'],
          res.principals.map((p) => [p.name, p.kind]),
        )}\n\n${formatTable(
          ['group', 'members'],
          res.groups.map((g) => [g.name, g.members.join(', ')]),
        )}\n\nadministrators: ${res.admins.join(', ')}\n`,
      );
    },
  );

  const group = program.command('group').description('Manage groups (nested; cycles are refused).');
  withConnection(
    group
      .command('create')
      .description('Create a group.')
      .argument('<name>')
      .option('--members <list>', 'comma-separated principals or groups'),
  ).action(async (name: string, opts: ConnectionOptions & { members?: string }) => {
    const members = (opts.members ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean);
    const out = await new CatchmentClient(opts).call(api.createGroup, { body: { name, members } });
    printChange(io, out, `created group ${name}`);
  });
  withConnection(group.command('delete').description('Delete a group.').argument('<name>')).action(
    async (name: string, opts: ConnectionOptions) => {
      const out = await new CatchmentClient(opts).call(api.deleteGroup, { params: { name } });
      printChange(io, out, `deleted group ${name}`);
    },
  );
  for (const [verb, e] of [
    ['add', api.addMember],
    ['remove', api.removeMember],
  ] as const) {
    withConnection(
      group
        .command(verb)
        .description(`${verb === 'add' ? 'Add a member to' : 'Remove a member from'} a group.`)
        .argument('<group>')
        .argument('<member>'),
    ).action(async (g: string, member: string, opts: ConnectionOptions) => {
      const out = await new CatchmentClient(opts).call(e, { params: { name: g, member } });
      printChange(
        io,
        out,
        `${verb === 'add' ? 'added' : 'removed'} ${member} ${verb === 'add' ? 'to' : 'from'} ${g}`,
      );
    });
  }

  // ───────────── grants, filters, masks ─────────────
  for (const verb of ['grant', 'revoke'] as const) {
    withConnection(
      program
        .command(verb)
        .description(
          `${verb === 'grant' ? 'Grant' : 'Revoke'} privileges (SELECT, TRIGGER, OPERATE, DEPLOY, MANAGE) on *, pond, pond@N or pond.table.`,
        )
        .argument('<privileges>', 'comma-separated, e.g. SELECT,TRIGGER')
        .requiredOption('--on <securable>', '*, pond, pond@N, pond.table or pond@N.table')
        .requiredOption('--to <name>', 'principal or group'),
    ).action(async (privileges: string, opts: ConnectionOptions & { on: string; to: string }) => {
      const out = await new CatchmentClient(opts).call(verb === 'grant' ? api.grant : api.revoke, {
        body: { to: opts.to, privileges: privilegeList(privileges), on: opts.on },
      });
      printChange(
        io,
        out,
        `${verb === 'grant' ? 'granted' : 'revoked'} ${privileges} on ${opts.on} ${verb === 'grant' ? 'to' : 'from'} ${opts.to}`,
      );
    });
  }

  const filter = program.command('filter').description("Set or remove a table's row filter.");
  withConnection(
    filter
      .command('set')
      .description("Set a table's row filter (may call current_principal() and is_member('group')).")
      .argument('<table>', 'pond.table or pond@N.table')
      .argument('<where>', 'boolean SQL expression over the table columns'),
  ).action(async (table: string, where: string, opts: ConnectionOptions) => {
    const out = await new CatchmentClient(opts).call(api.setRowFilter, {
      params: { table },
      body: { where },
    });
    printChange(io, out, `row filter on ${table} set`);
  });
  withConnection(
    filter.command('remove').description("Remove a table's row filter.").argument('<table>'),
  ).action(async (table: string, opts: ConnectionOptions) => {
    const out = await new CatchmentClient(opts).call(api.removeRowFilter, { params: { table } });
    printChange(io, out, `row filter on ${table} removed`);
  });

  const mask = program.command('mask').description("Set or remove a column's mask.");
  withConnection(
    mask
      .command('set')
      .description("Set a column's mask (an expression of the column's type).")
      .argument('<table>', 'pond.table or pond@N.table')
      .argument('<column>')
      .argument('<expression>'),
  ).action(async (table: string, column: string, expression: string, opts: ConnectionOptions) => {
    const out = await new CatchmentClient(opts).call(api.setColumnMask, {
      params: { table, column },
      body: { as: expression },
    });
    printChange(io, out, `mask on ${table}.${column} set`);
  });
  withConnection(
    mask.command('remove').description("Remove a column's mask.").argument('<table>').argument('<column>'),
  ).action(async (table: string, column: string, opts: ConnectionOptions) => {
    const out = await new CatchmentClient(opts).call(api.removeColumnMask, { params: { table, column } });
    printChange(io, out, `mask on ${table}.${column} removed`);
  });

  // ───────────── keys ─────────────
  const key = program.command('key').description('Manage API keys.');
  withConnection(
    key
      .command('create')
      .description('Create an API key for a principal and print it (alone, once) on stdout.')
      .argument('<principal>')
      .option('--expires <when>', 'a duration from now (30d) or an ISO-8601 time')
      .option('--description <text>', 'what the key is for'),
  ).action(async (p: string, opts: ConnectionOptions & { expires?: string; description?: string }) => {
    const res = await new CatchmentClient(opts).call(api.createKey, {
      body: {
        principal: p,
        ...(opts.expires !== undefined ? { expires_at: expiresAt(opts.expires) } : {}),
        ...(opts.description !== undefined ? { description: opts.description } : {}),
      },
    });
    io.stdout(`${res.key}\n`);
  });
  withConnection(
    key.command('list').description('List API keys (never their secrets).').option('--principal <name>'),
  ).action(async (opts: ConnectionOptions & { principal?: string }) => {
    const res = await new CatchmentClient(opts).call(api.listKeys, {
      query: opts.principal ? { principal: opts.principal } : {},
    });
    io.stdout(
      `${formatTable(
        ['id', 'principal', 'created', 'expires', 'revoked'],
        res.keys.map((k) => [k.id, k.principal, k.created_at, k.expires_at ?? '—', k.revoked_at ?? '—']),
      )}\n`,
    );
  });
  withConnection(key.command('revoke').description('Revoke an API key by id.').argument('<id>')).action(
    async (id: string, opts: ConnectionOptions) => {
      await new CatchmentClient(opts).call(api.revokeKey, { params: { id } });
      io.stdout(`revoked key ${id}\n`);
    },
  );

  // ───────────── policy file & audit ─────────────
  const policy = program.command('policy').description('Declarative policy.');
  withConnection(
    policy
      .command('apply')
      .description('Make the policy what FILE (YAML) says; idempotent.')
      .argument('<file>')
      .option('--dry-run', 'print the changes without applying them'),
  ).action(async (file: string, opts: ConnectionOptions & { dryRun?: boolean }) => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
    }
    // Worker tokens of the compute section come from this process's environment, never the file.
    const env: Record<string, string> = {};
    // Loaded here, not at start-up: it brings the YAML parser, which no other command needs.
    const { tokenEnvNames } = await import('../catchment/compute/policy-section.js');
    for (const name of tokenEnvNames(text)) {
      const value = process.env[name];
      if (value === undefined || value === '')
        throw new UsageError(
          `compute: environment variable ${name} (a token_env) is not set; nothing was applied`,
        );
      env[name] = value;
    }
    const out = await new CatchmentClient(opts).call(api.applyPolicy, {
      body: { file: text, dry_run: opts.dryRun ?? false, env },
    });
    if (out.diff.length === 0) io.stdout('policy is up to date: no changes\n');
    else {
      io.stdout(
        `${opts.dryRun ? 'would change' : 'applied'} (${out.diff.length} change${out.diff.length === 1 ? '' : 's'}):\n`,
      );
      io.stdout(`${out.diff.map((d) => `  ${d}`).join('\n')}\n`);
    }
  });
  withConnection(policy.command('show').description('Print the whole policy document (JSON).')).action(
    async (opts: ConnectionOptions) => {
      const res = await new CatchmentClient(opts).call(api.policy, {});
      io.stdout(`${JSON.stringify(res.policy, null, 2)}\n`);
    },
  );

  withConnection(
    program
      .command('audit')
      .description(
        'Show the audit log, newest first (administrators); --error-id ID looks one failure up (administrators, or the principal whose query it was).',
      )
      .option('--limit <n>', 'entries', '50')
      .option('--principal <name>')
      .option('--kind <kind>', 'query or change')
      .option('--error-id <id>', 'the failure behind an error id')
      .option('--json', 'print JSON Lines'),
  ).action(
    async (
      opts: ConnectionOptions & {
        limit: string;
        principal?: string;
        kind?: string;
        errorId?: string;
        json?: boolean;
      },
    ) => {
      if (opts.errorId !== undefined) {
        const found = await new CatchmentClient(opts).call(api.lookupError, { params: { id: opts.errorId } });
        io.stdout(opts.json ? `${JSON.stringify(found)}\n` : formatErrorLookup(found));
        return;
      }
      const res = await new CatchmentClient(opts).call(api.audit, {
        query: {
          limit: opts.limit,
          ...(opts.principal ? { principal: opts.principal } : {}),
          // The Catchment checks the kind (400 naming the kinds it knows).
          ...(opts.kind ? { kind: opts.kind as 'query' | 'change' } : {}),
        },
      });
      if (opts.json) {
        for (const e of res.entries) io.stdout(`${JSON.stringify(e)}\n`);
        return;
      }
      io.stdout(
        `${formatTable(
          ['at', 'principal', 'action', 'decision', 'detail'],
          res.entries.map((e) => [
            e.at,
            e.principal,
            e.action,
            e.decision,
            String(
              e.detail.sql ?? e.detail.reason ?? (e.detail.diff as string[] | undefined)?.join('; ') ?? '',
            ),
          ]),
        )}\n`,
      );
    },
  );
}

/**
 * One looked-up failure: when, whose, the SQL, what the caller was told and, for administrators,
 * the full text — each whole, on its own indented lines.
 */
function formatErrorLookup(found: {
  error_id: string;
  at: string;
  principal: string;
  action: string;
  sql: string | null;
  message: string | null;
  error?: string | null | undefined;
}): string {
  const block = (label: string, text: string | null | undefined) =>
    text ? [`${label}:`, ...text.split('\n').map((line) => `  ${line}`)] : [];
  return `${[
    `error ${found.error_id}`,
    `at:        ${found.at}`,
    `principal: ${found.principal}`,
    `action:    ${found.action}`,
    ...block('sql', found.sql),
    ...block('message', found.message),
    ...block('error', found.error),
  ].join('\n')}\n`;
}

/**
 * `duckstring compute …`: query workers (endpoints), who is routed to them (assignments) and
 * `explain`. A worker's token is read from an environment variable (`--token-env VAR`) or standard
 * input (`--token-stdin`), never from the command line, where `ps` and shell history would keep it.
 */
import { type Command, Option } from 'commander';
import { compute as api } from '../api/index.js';
import { CatchmentClient, type ConnectionOptions, formatTable } from './client.js';
import { type CliIO, readProcessStdin, UsageError } from './io.js';
import { withConnection } from './runtime.js';

interface TokenOptions {
  tokenEnv?: string;
  tokenStdin?: boolean;
  token?: string;
}

interface SubjectOptions {
  principal?: string;
  group?: string;
  everyone?: boolean;
  pond?: string;
}

/** Where the token comes from; the refusing `--token` exists only to say why it is refused. */
function withTokenOptions(cmd: Command): Command {
  return cmd
    .option('--token-env <var>', "read the worker's AGENT_TOKEN from this environment variable")
    .option('--token-stdin', "read the worker's AGENT_TOKEN from standard input")
    .addOption(new Option('--token <token>').hideHelp());
}

/** The token the options name; undefined when none is named and `required` is false. */
async function readToken(opts: TokenOptions, io: CliIO, required: boolean): Promise<string | undefined> {
  if (opts.token !== undefined) {
    throw new UsageError(
      'a token is never passed on the command line (ps and shell history would keep it): use --token-env VAR or --token-stdin',
    );
  }
  if (opts.tokenEnv !== undefined && opts.tokenStdin)
    throw new UsageError('use either --token-env or --token-stdin, not both');
  if (opts.tokenEnv !== undefined) {
    const value = process.env[opts.tokenEnv];
    if (value === undefined || value === '')
      throw new UsageError(`--token-env: environment variable ${opts.tokenEnv} is not set`);
    return value;
  }
  if (opts.tokenStdin) {
    const value = (await (io.readStdin ?? readProcessStdin)()).trim();
    if (value === '') throw new UsageError('--token-stdin: standard input is empty');
    return value;
  }
  if (required) throw new UsageError("name the worker's token with --token-env VAR or --token-stdin");
  return undefined;
}

function capacityOption(text: string): number | null {
  if (text === 'none') return null;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--capacity must be a positive whole number or "none", got "${text}"`);
  return n;
}

function subjectBody(opts: SubjectOptions): {
  principal?: string;
  group?: string;
  everyone?: true;
  pond?: string;
} {
  const given = [opts.principal, opts.group, opts.everyone ? true : undefined, opts.pond].filter(
    (x) => x !== undefined,
  );
  if (given.length !== 1)
    throw new UsageError('name exactly one of --principal NAME, --group NAME, --everyone or --pond TARGET');
  if (opts.principal !== undefined) return { principal: opts.principal };
  if (opts.group !== undefined) return { group: opts.group };
  if (opts.pond !== undefined) return { pond: opts.pond };
  return { everyone: true };
}

function subjectText(s: { kind: string; name: string | null }): string {
  if (s.kind === 'pond' && s.name === '*') return 'every pond';
  return s.kind === 'everyone' ? 'everyone' : `${s.kind} ${s.name}`;
}

function assignmentRow(a: api.AssignmentView): unknown[] {
  return [
    a.id,
    subjectText(a.subject),
    a.endpoint,
    a.default ? 'yes' : 'no',
    a.fallback_local ? 'on' : 'off',
    a.job_kinds.join(','),
  ];
}

const ASSIGNMENT_COLUMNS = ['id', 'subject', 'endpoint', 'default', 'fallback', 'kinds'];

function printEndpoint(io: CliIO, e: api.EndpointView): void {
  io.stdout(
    `${e.name}  ${e.url}  ${e.status}  capacity ${e.capacity ?? 'none'}  revision ${e.revision}  ${e.assignments} assignment${e.assignments === 1 ? '' : 's'}\n`,
  );
}

/** Registers `compute`; returns it so other compute commands (`compute status`) join it. */
export function registerComputeCommands(program: Command, io: CliIO): Command {
  const compute = program
    .command('compute')
    .description('Query workers: endpoints, assignments (who runs where), explain (MANAGE on *).');

  // ───────────── endpoints ─────────────
  const endpoint = compute.command('endpoint').description('Register and manage query workers.');
  withConnection(
    withTokenOptions(
      endpoint
        .command('create')
        .description(
          'Register a worker: its grpc:// or grpcs:// address and its AGENT_TOKEN (stored encrypted).',
        )
        .argument('<name>')
        .requiredOption('--url <url>', 'grpc://host:port or grpcs://host:port')
        .option('--status <status>', 'active, draining or inactive', 'active')
        .option('--capacity <n>', 'queries sent to it at once at most ("none": the worker decides)'),
    ),
  ).action(
    async (
      name: string,
      opts: ConnectionOptions & TokenOptions & { url: string; status: string; capacity?: string },
    ) => {
      const token = (await readToken(opts, io, true))!;
      const e = await new CatchmentClient(opts).call(api.createEndpoint, {
        body: {
          name,
          url: opts.url,
          token,
          // The Catchment checks the status (400 naming the statuses it knows).
          status: opts.status as api.EndpointView['status'],
          ...(opts.capacity !== undefined ? { capacity: capacityOption(opts.capacity) } : {}),
        },
      });
      io.stdout('registered ');
      printEndpoint(io, e);
    },
  );

  withConnection(endpoint.command('list').description('List registered workers.')).action(
    async (opts: ConnectionOptions) => {
      const res = await new CatchmentClient(opts).call(api.listEndpoints, {});
      io.stdout(
        `${formatTable(
          ['name', 'url', 'status', 'capacity', 'revision', 'assignments'],
          res.endpoints.map((e) => [
            e.name,
            e.url,
            e.status,
            e.capacity ?? 'none',
            e.revision,
            e.assignments,
          ]),
        )}\n`,
      );
    },
  );

  withConnection(
    endpoint.command('show').description('Show a worker and its assignments.').argument('<name>'),
  ).action(async (name: string, opts: ConnectionOptions) => {
    const res = await new CatchmentClient(opts).call(api.showEndpoint, { params: { name } });
    printEndpoint(io, res.endpoint);
    if (res.assignments.length > 0)
      io.stdout(`\n${formatTable(ASSIGNMENT_COLUMNS, res.assignments.map(assignmentRow))}\n`);
  });

  withConnection(
    withTokenOptions(
      endpoint
        .command('update')
        .description('Change a worker: URL, token, status or capacity (takes effect without a restart).')
        .argument('<name>')
        .option('--url <url>', 'grpc://host:port or grpcs://host:port')
        .option('--status <status>', 'active, draining or inactive')
        .option('--capacity <n>', 'queries sent to it at once at most, or "none"'),
    ),
  ).action(
    async (
      name: string,
      opts: ConnectionOptions & TokenOptions & { url?: string; status?: string; capacity?: string },
    ) => {
      const token = await readToken(opts, io, false);
      const body = {
        ...(opts.url !== undefined ? { url: opts.url } : {}),
        ...(token !== undefined ? { token } : {}),
        ...(opts.status !== undefined ? { status: opts.status as api.EndpointView['status'] } : {}),
        ...(opts.capacity !== undefined ? { capacity: capacityOption(opts.capacity) } : {}),
      };
      if (Object.keys(body).length === 0)
        throw new UsageError(
          'name something to change: --url, --token-env/--token-stdin, --status or --capacity',
        );
      const res = await new CatchmentClient(opts).call(api.updateEndpoint, { params: { name }, body });
      io.stdout(
        res.changed.length === 0 ? `${name}: no change\n` : `updated ${name}: ${res.changed.join(', ')}\n`,
      );
      printEndpoint(io, res.endpoint);
    },
  );

  withConnection(
    endpoint
      .command('delete')
      .description('Remove a worker and the assignments routing to it.')
      .argument('<name>'),
  ).action(async (name: string, opts: ConnectionOptions) => {
    const res = await new CatchmentClient(opts).call(api.deleteEndpoint, { params: { name } });
    io.stdout(
      `deleted ${res.name} (and ${res.deleted_assignments} assignment${res.deleted_assignments === 1 ? '' : 's'})\n`,
    );
  });

  withConnection(
    endpoint.command('health').description("A worker's health as the Catchment sees it.").argument('<name>'),
  ).action(async (name: string, opts: ConnectionOptions) => {
    const res = await new CatchmentClient(opts).call(api.endpointHealth, { params: { name } });
    const h = res.health;
    io.stdout(
      `${res.endpoint.name}  ${res.endpoint.url}  ${res.endpoint.status}\nhealth: ${h.state}${h.since ? ` since ${h.since}` : ''}${h.reason ? ` (${h.reason})` : ''}\n`,
    );
    if (h.detail) io.stdout(`${JSON.stringify(h.detail, null, 2)}\n`);
  });

  // ───────────── assignments ─────────────
  withConnection(
    compute
      .command('assign')
      .description(
        "Route a principal, a group (nested groups count) or everyone's queries, or a Pond's runs (--pond), to a worker.",
      )
      .argument('<endpoint>')
      .option('--principal <name>')
      .option('--group <name>')
      .option('--everyone')
      .option('--pond <target>', "a Pond's runs (job kind pond_run): NAME, NAME@MAJOR, or '*' for every Pond")
      .option('--default', "this subject's default worker (beats its non-default assignments)")
      .option('--no-fallback', 'answer 503 instead of running locally when the worker cannot take a query')
      .option(
        '--kinds <list>',
        'job kinds it covers: interactive, async (default: both); pond_run for --pond (its default)',
      ),
  ).action(
    async (
      endpointName: string,
      opts: ConnectionOptions & SubjectOptions & { default?: boolean; fallback: boolean; kinds?: string },
    ) => {
      const kinds = opts.kinds
        ?.split(',')
        .map((k) => k.trim())
        .filter(Boolean);
      const a = await new CatchmentClient(opts).call(api.createAssignment, {
        body: {
          endpoint: endpointName,
          ...subjectBody(opts),
          default: opts.default ?? false,
          fallback_local: opts.fallback,
          ...(kinds ? { job_kinds: kinds } : {}),
        },
      });
      io.stdout(
        `assignment ${a.id}: ${subjectText(a.subject)} → ${a.endpoint}${a.default ? ' (default)' : ''}, fallback ${a.fallback_local ? 'on' : 'off'}, kinds ${a.job_kinds.join(',')}\n`,
      );
    },
  );

  withConnection(
    compute
      .command('unassign')
      .description('Remove an assignment: by --id, or by endpoint and subject.')
      .argument('[endpoint]')
      .option('--id <n>', 'the assignment id (see "compute assignments")')
      .option('--principal <name>')
      .option('--group <name>')
      .option('--everyone')
      .option('--pond <target>'),
  ).action(
    async (endpointName: string | undefined, opts: ConnectionOptions & SubjectOptions & { id?: string }) => {
      const client = new CatchmentClient(opts);
      let id: number;
      if (opts.id !== undefined) {
        if (endpointName !== undefined || opts.principal || opts.group || opts.everyone || opts.pond)
          throw new UsageError('--id names the assignment alone: drop the endpoint and subject');
        id = Number(opts.id);
        if (!Number.isInteger(id) || id < 1)
          throw new UsageError(`--id must be a positive whole number, got "${opts.id}"`);
      } else {
        if (endpointName === undefined)
          throw new UsageError('name the assignment: --id N, or ENDPOINT with its subject');
        const subject = subjectBody(opts);
        const wanted =
          subject.principal !== undefined
            ? { kind: 'principal', name: subject.principal }
            : subject.group !== undefined
              ? { kind: 'group', name: subject.group }
              : subject.pond !== undefined
                ? { kind: 'pond', name: subject.pond }
                : { kind: 'everyone', name: null };
        const same = (a: string | null, b: string | null) =>
          (a ?? '').toLowerCase() === (b ?? '').toLowerCase();
        const found = (await client.call(api.listAssignments, {})).assignments.find(
          (a) =>
            same(a.endpoint, endpointName) &&
            a.subject.kind === wanted.kind &&
            same(a.subject.name, wanted.name),
        );
        if (!found)
          throw new UsageError(
            `no assignment of ${subjectText(wanted)} to compute endpoint "${endpointName}"`,
          );
        id = found.id;
      }
      const res = await client.call(api.deleteAssignment, { params: { id } });
      io.stdout(
        `removed assignment ${res.assignment.id}: ${subjectText(res.assignment.subject)} → ${res.assignment.endpoint}\n`,
      );
    },
  );

  withConnection(compute.command('assignments').description('List every assignment.')).action(
    async (opts: ConnectionOptions) => {
      const res = await new CatchmentClient(opts).call(api.listAssignments, {});
      io.stdout(`${formatTable(ASSIGNMENT_COLUMNS, res.assignments.map(assignmentRow))}\n`);
    },
  );

  // ───────────── explain ─────────────
  withConnection(
    compute
      .command('explain')
      .description("Which worker a principal's queries would go to, and why (before health and canaries).")
      .argument('<principal>')
      .option('--kind <kind>', 'one job kind: interactive or async (default: each)')
      .option('--json', 'print the whole answer as JSON'),
  ).action(async (principal: string, opts: ConnectionOptions & { kind?: string; json?: boolean }) => {
    const res = await new CatchmentClient(opts).call(api.explain, {
      params: { principal },
      query: opts.kind !== undefined ? { kind: opts.kind } : {},
    });
    if (opts.json) {
      io.stdout(`${JSON.stringify(res, null, 2)}\n`);
      return;
    }
    for (const r of res.routes) {
      const where =
        r.placement === 'local'
          ? 'local'
          : r.endpoints
              .map((e) => `${e.name} (${e.url}, fallback ${e.fallback_local ? 'on' : 'off'})`)
              .join(', ');
      io.stdout(`${res.principal} ${r.kind}: ${where}\n  because ${r.reason}\n`);
      for (const c of r.considered) {
        if (c.outcome === 'chosen') continue;
        io.stdout(
          `  not ${c.assignment.endpoint} (assignment ${c.assignment.id}, ${subjectText(c.assignment.subject)}): ${c.outcome}${c.outcome === 'endpoint not active' ? ` (${c.endpoint_status})` : ''}\n`,
        );
      }
    }
  });

  return compute;
}

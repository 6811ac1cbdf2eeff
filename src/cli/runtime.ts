/**
 * Runtime commands: start a Catchment, deploy Ponds, trigger and control them, read status, history
 * and data. Everything except `catchment start` talks to a Catchment over HTTP.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { lines as lineApi, ponds as pondApi, query as queryApi } from '../api/index.js';
import type { LineStatus } from '../api/ponds.js';
import { formatDuration, parseDuration } from '../engine/duration.js';
import { packPond } from '../pond/archive.js';
import { parseManifest } from '../pond/manifest.js';
import { CatchmentClient, type ConnectionOptions, DEFAULT_ROOT, formatCsv, formatTable } from './client.js';
import { type CliIO, UsageError } from './io.js';
import { runAsyncQuery } from './queries.js';
import { wrapIndented } from './wrap.js';

export function withConnection(cmd: Command): Command {
  return cmd
    .addOption(new Option('-c, --catchment <url>', 'Catchment URL').env('DUCKSTRING_CATCHMENT_URL'))
    .addOption(
      new Option('--key <key>', 'API key (default: the admin key under ./.duckstring)').env('DUCKSTRING_KEY'),
    );
}

const majorOption = () =>
  new Option('-m, --major <n>', 'major line (default: the newest)').argParser((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new UsageError(`--major must be a non-negative integer, got "${v}"`);
    return n;
  });

const iso = (v: string | null | undefined) => (v ? v.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');

/** `trigger window add`: --name and --every are required options (commander refuses without them). */
type WindowOptions = ConnectionOptions & {
  name: string;
  every: string;
  start?: string;
  duration?: string;
  on?: string;
  until?: string;
  major?: number;
};

export function registerRuntimeCommands(program: Command, io: CliIO): void {
  program
    .command('catchment')
    .description('Run the control plane.')
    .command('start')
    .description('Start a Catchment (HTTP API, engine, Duck supervisor) on a local root.')
    .option('--root <dir>', 'state root (database, deployed code, data)', DEFAULT_ROOT)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '7474')
    .option('--liveness <duration>', 'declare a silent Duck dead after this long', '60s')
    .action(async (opts: { root: string; host: string; port: string; liveness: string }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new UsageError(`--port must be 0–65535, got "${opts.port}"`);
      const { startCatchment } = await import('../catchment/main.js');
      const { RootLockedError } = await import('../catchment/root-lock.js');
      const { RemoteFlagError } = await import('../compute/remote/flags.js');
      const { AsyncConfigError } = await import('../catchment/async/config.js');
      const { catchmentLogger } = await import('../catchment/logger.js');
      const running = await startCatchment({
        root: path.resolve(opts.root),
        host: opts.host,
        port,
        livenessMs: parseDuration(opts.liveness),
        log: catchmentLogger(2),
      }).catch((error: unknown) => {
        // Another Catchment owns this root: bad input, not a crash.
        if (error instanceof RootLockedError) throw new UsageError(error.message);
        if (error instanceof RemoteFlagError || error instanceof AsyncConfigError)
          throw new UsageError(`Catchment not started: ${error.message}`);
        throw error;
      });
      io.stdout(`Catchment listening on ${running.url} (root ${path.resolve(opts.root)})\n`);
      if (running.keyCreated) {
        io.stdout(
          `Admin key (shown once; also stored 0600 in ${path.join(path.resolve(opts.root), 'admin.key')}):\n  ${running.adminKey}\n`,
        );
      }
      await new Promise<void>((resolve) => {
        const stop = () => {
          io.stdout('Stopping Catchment and Ducks…\n');
          void running.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  const pond = program.commands.find((c) => c.name() === 'pond') ?? program.command('pond');
  withConnection(
    pond
      .command('deploy')
      .description('Upload a Pond (or, with --all, every Pond under DIR in Source order) to the Catchment.')
      .argument('[dir]', 'Pond directory (with --all: a folder of Ponds)', '.')
      .option('--all', 'deploy every Pond found in the sub-folders of DIR, Sources first'),
  ).action(async (dir: string, opts: ConnectionOptions & { all?: boolean }) => {
    const client = new CatchmentClient(opts);
    const dirs = opts.all ? await pondsInOrder(dir) : [path.resolve(dir)];
    for (const d of dirs) {
      const archive = await packPond(d);
      const out = await client.call(pondApi.deploy, { body: archive });
      io.stdout(
        `${out.created ? 'deployed' : 'already deployed'} ${out.name} ${out.version} (major ${out.major}; ripples: ${out.ripples.join(', ')})\n`,
      );
    }
  });

  const trigger = program.command('trigger').description('Place demand on a Pond.');
  for (const [verb, help] of [
    ['tap', 'pull once: resupply with anything fresher'],
    ['pulse', 'push once: bring the Pond and its ancestors to now'],
    ['wave', 'standing pull (re-tap on every completion)'],
    ['remove', 'remove the standing trigger'],
  ] as const) {
    withConnection(
      trigger.command(verb).description(help).argument('<pond>').addOption(majorOption()),
    ).action(async (name: string, opts: ConnectionOptions & { major?: number }) => {
      const route = verb === 'remove' ? 'untrigger' : verb;
      await postVerb(new CatchmentClient(opts), name, route, { major: opts.major }, io);
    });
  }
  withConnection(
    trigger
      .command('tide')
      .description('standing push: keep staleness under BOUND (e.g. 10m, 1h30m)')
      .argument('<pond>')
      .argument('<bound>')
      .addOption(majorOption()),
  ).action(async (name: string, bound: string, opts: ConnectionOptions & { major?: number }) => {
    parseDuration(bound);
    await postVerb(new CatchmentClient(opts), name, 'tide', { major: opts.major, bound }, io);
  });

  registerWindowCommands(trigger, io);

  withConnection(
    program
      .command('budgets')
      .description("Show or set a Pond's retry budgets (operator-owned after the first deploy).")
      .argument('<pond>')
      .option('--immediate <n>', 'Ripple re-attempts inside one Pond Run')
      .option('--source <n>', 'extra Pond Runs after failures, taken when Sources advance')
      .addOption(majorOption()),
  ).action(
    async (
      name: string,
      opts: ConnectionOptions & { immediate?: string; source?: string; major?: number },
    ) => {
      const client = new CatchmentClient(opts);
      const params = { name };
      let res: { immediate_retries: number; source_retries: number };
      if (opts.immediate === undefined && opts.source === undefined) {
        res = await client.call(lineApi.budgets, { params, query: { major: opts.major } });
      } else {
        const current = await client.call(lineApi.budgets, { params, query: { major: opts.major } });
        const int = (v: string | undefined, flag: string, fallback: number) => {
          if (v === undefined) return fallback;
          const n = Number(v);
          if (!Number.isInteger(n) || n < 0)
            throw new UsageError(`${flag} must be a non-negative integer, got "${v}"`);
          return n;
        };
        res = await client.call(lineApi.setBudgets, {
          params,
          body: {
            immediate_retries: int(opts.immediate, '--immediate', current.immediate_retries),
            source_retries: int(opts.source, '--source', current.source_retries),
            ...(opts.major !== undefined ? { major: opts.major } : {}),
          },
        });
      }
      io.stdout(`${name}: immediate_retries=${res.immediate_retries} source_retries=${res.source_retries}\n`);
    },
  );

  const control = program.command('control').description('Operate a Pond without placing demand upstream.');
  for (const [verb, help] of [
    ['wake', 'one run without soliciting Sources; lifts a kill or failure'],
    ['force', 'recompute now at the current freshness; lifts a kill or failure'],
    ['sleep', 'drop demand and cancel the standing trigger'],
    ['kill', 'stop the Duck and park the Pond as killed'],
    ['clear', 'reset a killed or failed Pond without running it'],
    ['refresh', 'make the next run a rebuild from scratch'],
  ] as const) {
    const cmd = withConnection(
      control.command(verb).description(help).argument('<pond>').addOption(majorOption()),
    );
    if (verb === 'sleep') cmd.option('--upstream', 'also drop demand on every ancestor');
    cmd.action(async (name: string, opts: ConnectionOptions & { major?: number; upstream?: boolean }) => {
      await postVerb(
        new CatchmentClient(opts),
        name,
        verb,
        { major: opts.major, ...(opts.upstream ? { upstream: true } : {}) },
        io,
      );
    });
  }

  withConnection(
    program
      .command('status')
      .description('Every Pond line, or one Pond: status, freshness, trigger, runs.')
      .argument('[pond]'),
  )
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, opts: ConnectionOptions & { json?: boolean }) => {
      const client = new CatchmentClient(opts);
      const lines: LineStatus[] = name
        ? (await client.call(pondApi.pond, { params: { name } })).lines
        : (await client.call(pondApi.listLines, {})).ponds;
      if (opts.json) return io.stdout(`${JSON.stringify(lines, null, 2)}\n`);
      if (lines.length === 0)
        return io.stdout('No Ponds deployed yet. Deploy one with "duckstring pond deploy DIR".\n');
      io.stdout(
        `${formatTable(
          ['pond', 'major', 'version', 'status', 'freshness', 'trigger', 'runs', 'duck', 'last run'],
          lines.map((l) => [
            l.pond,
            l.major,
            l.version,
            l.status,
            iso(l.freshness.end),
            l.trigger?.kind ?? '—',
            `${l.runs.completed}/${l.runs.started}`,
            l.duck.pid ?? '—',
            l.last_runs[0]
              ? `${l.last_runs[0].status}${l.last_runs[0].error ? `: ${l.last_runs[0].error}` : ''}`
              : '—',
          ]),
        )}\n`,
      );
      for (const l of lines)
        if (l.attention) io.stdout(`${attentionLine(`${l.pond}@${l.major}`, l.attention)}\n`);
    });

  withConnection(
    program
      .command('history')
      .description('Run history of a Pond, one line per Ripple attempt.')
      .argument('<pond>'),
  )
    .addOption(majorOption())
    .option('--limit <n>', 'Pond Runs to show', '10')
    .option('--json', 'print JSON')
    .action(
      async (name: string, opts: ConnectionOptions & { major?: number; limit: string; json?: boolean }) => {
        const client = new CatchmentClient(opts);
        const res = await client.call(pondApi.runs, {
          params: { name },
          query: { limit: opts.limit, major: opts.major },
        });
        if (opts.json) return io.stdout(`${JSON.stringify(res, null, 2)}\n`);
        const rows: unknown[][] = [];
        // An attempt's error is printed whole under its row (a table cell would cut it).
        const errors: (string | null)[] = [];
        for (const r of res.runs) {
          rows.push([new Date(r.f).toISOString(), r.version, '(run)', '', r.status, '']);
          errors.push(null);
          for (const a of r.attempts) {
            rows.push(['', '', a.ripple, a.attempt, a.status, a.rowsWritten ?? '']);
            errors.push(a.error ?? null);
          }
        }
        const [header, rule, ...lines] = formatTable(
          ['freshness', 'version', 'ripple', 'attempt', 'status', 'rows'],
          rows,
        ).split('\n');
        const width = process.stdout.isTTY && process.stdout.columns ? process.stdout.columns : 100;
        const out = [header, rule];
        lines.forEach((line, i) => {
          out.push(line!);
          const error = errors[i];
          if (error) out.push(...wrapIndented(`error: ${error}`, width, '    ', '           '));
        });
        io.stdout(`${out.join('\n')}\n`);
      },
    );

  withConnection(
    program
      .command('tables')
      .description("A Pond's published tables: schema, rows, freshness.")
      .argument('<pond>'),
  )
    .addOption(majorOption())
    .action(async (name: string, opts: ConnectionOptions & { major?: number }) => {
      const client = new CatchmentClient(opts);
      const res = await client.call(pondApi.tables, { params: { name }, query: { major: opts.major } });
      if (res.tables.length === 0) return io.stdout(`${name} has not published any table yet.\n`);
      io.stdout(`freshness ${iso(res.freshness)}\n`);
      io.stdout(
        `${formatTable(
          ['table', 'rows', 'columns'],
          res.tables.map((t) => [t.name, t.rows, t.columns.map((c) => `${c.name} ${c.type}`).join(', ')]),
        )}\n`,
      );
    });

  withConnection(
    program
      .command('query')
      .description('Run a SELECT over published tables (named pond.table).')
      .argument('<sql>'),
  )
    .option('--json', 'print the JSON result')
    .option('--csv', 'print CSV')
    .option('--async', 'submit it as an async query job and print the job id')
    .option('--wait <duration>', 'run it as an async job: wait up to this long, then page through the result')
    .action(
      async (
        sql: string,
        opts: ConnectionOptions & { json?: boolean; csv?: boolean; async?: boolean; wait?: string },
      ) => {
        if (opts.async || opts.wait !== undefined) return runAsyncQuery(sql, opts, io);
        const res = await new CatchmentClient(opts).call(queryApi.query, { body: { sql } });
        const cols = res.columns.map((c) => c.name);
        if (opts.json) io.stdout(`${JSON.stringify(res)}\n`);
        else if (opts.csv) io.stdout(`${formatCsv(cols, res.rows)}\n`);
        else
          io.stdout(
            `${formatTable(cols, res.rows)}\n(${res.row_count} row${res.row_count === 1 ? '' : 's'})\n`,
          );
      },
    );
}

async function postVerb(
  client: CatchmentClient,
  name: string,
  verb: lineApi.Verb,
  body: { major?: number | undefined; bound?: string; upstream?: boolean },
  io: CliIO,
): Promise<void> {
  const clean = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
  const res = await client.call(lineApi.verbs[verb], { params: { name }, body: clean });
  const line = `${name}@${res.major}`;
  io.stdout(
    verb === 'untrigger'
      ? `removed the standing trigger of ${line} (now ${res.status.status})\n`
      : `${verb} ${line}: now ${res.status.status}\n`,
  );
  if (res.status.attention) io.stdout(`${attentionLine(line, res.status.attention)}\n`);
}

/** Why a line ignores demand and the way out, in one line (for verbs and `status`). */
export function attentionLine(line: string, a: NonNullable<LineStatus['attention']>): string {
  const since = a.since ? ` since ${iso(a.since)}` : '';
  const then =
    a.state === 'sleeping'
      ? `It holds demand until then; to run outside the windows: ${a.way_out}`
      : `It ignores demand until cleared: ${a.way_out}`;
  return `${line} is ${a.state}${since}: ${a.reason}. ${then}`;
}

/** Pond folders under `dir`, ordered so every Source comes before the Ponds reading it. */
async function pondsInOrder(dir: string): Promise<string[]> {
  const root = path.resolve(dir);
  const found: Array<{ dir: string; name: string; sources: string[] }> = [];
  for (const entry of await readdir(root)) {
    const d = path.join(root, entry);
    if (!(await stat(d)).isDirectory()) continue;
    let text: string;
    try {
      const { readFile } = await import('node:fs/promises');
      text = await readFile(path.join(d, 'pond.toml'), 'utf8');
    } catch {
      continue;
    }
    const m = parseManifest(text, path.join(entry, 'pond.toml'));
    found.push({ dir: d, name: m.name, sources: m.sources.map((s) => s.name) });
  }
  if (found.length === 0) throw new UsageError(`no Ponds (folders with a pond.toml) under ${root}`);
  const order: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const byName = new Map(found.map((f) => [f.name, f]));
  const visit = (f: (typeof found)[number]) => {
    if (done.has(f.name)) return;
    if (visiting.has(f.name)) throw new UsageError(`Ponds under ${root} form a cycle through "${f.name}"`);
    visiting.add(f.name);
    for (const s of f.sources) {
      const src = byName.get(s);
      if (src) visit(src);
    }
    visiting.delete(f.name);
    done.add(f.name);
    order.push(f.dir);
  };
  for (const f of found) visit(f);
  return order;
}

/**
 * `trigger window add|list|remove POND …`: verb first, like `trigger tap POND`, so the documented
 * order is the one the parser accepts.
 */
function registerWindowCommands(trigger: Command, io: CliIO): void {
  const windows = trigger
    .command('window')
    .description('Availability windows of an Inlet (anchor + fixed interval; no cron): add, list, remove.')
    .addHelpText(
      'after',
      '\nExample: duckstring trigger window add orders --name nightly --every 1d --start 02:00 --duration 2h',
    );
  withConnection(
    windows
      .command('add')
      .description('add a window (overlapping windows and duplicate names are refused)')
      .argument('<pond>')
      .requiredOption('--name <name>', 'window name (unique per Pond)')
      .requiredOption('--every <interval>', 'one <int><unit> group: 30m, 1h, 1d, 1w')
      .option('--start <when>', 'ISO-8601 instant or HH:MM (UTC, today); default 00:00 today')
      .option('--duration <duration>', 'how long each occurrence stays open (default: --every)')
      .option('--on <days>', 'comma list of MON..SUN')
      .option('--until <iso>', 'no occurrence after this instant')
      .addOption(majorOption()),
  ).action(async (name: string, opts: WindowOptions) => {
    const client = new CatchmentClient(opts);
    const body = {
      name: opts.name,
      every: opts.every,
      ...(opts.start ? { start: opts.start } : {}),
      ...(opts.duration ? { duration: opts.duration } : {}),
      // The Catchment checks the day names (400 naming a wrong one).
      ...(opts.on ? { on: opts.on.split(',').map((d) => d.trim().toUpperCase() as lineApi.Weekday) } : {}),
      ...(opts.until ? { until: opts.until } : {}),
      ...(opts.major !== undefined ? { major: opts.major } : {}),
    };
    const res = await client.call(lineApi.addWindow, { params: { name }, body });
    io.stdout(`added window ${JSON.stringify(res.window)}\n`);
  });

  withConnection(
    windows.command('list').description("the line's windows").argument('<pond>').addOption(majorOption()),
  ).action(async (name: string, opts: ConnectionOptions & { major?: number }) => {
    const client = new CatchmentClient(opts);
    const res = await client.call(lineApi.listWindows, { params: { name }, query: { major: opts.major } });
    if (res.windows.length === 0)
      return io.stdout(`${name} has no windows (it may run whenever demanded).\n`);
    const rows = res.windows.map((w) => [
      w.name,
      w.start,
      formatDuration(w.every_ms),
      formatDuration(w.duration_ms),
      w.on.join(',') || 'every day',
      w.until ?? '—',
    ]);
    io.stdout(`${formatTable(['name', 'start', 'every', 'duration', 'on', 'until'], rows)}\n`);
  });

  withConnection(
    windows
      .command('remove')
      .description('remove one window')
      .argument('<pond>')
      .argument('<window>', 'window name')
      .addOption(majorOption()),
  ).action(async (name: string, win: string, opts: ConnectionOptions & { major?: number }) => {
    const client = new CatchmentClient(opts);
    await client.call(lineApi.removeWindow, { params: { name, window: win }, query: { major: opts.major } });
    io.stdout(`removed window ${win} from ${name}\n`);
  });
}

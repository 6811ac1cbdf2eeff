/** Ripple logs: the stored `ctx.log` lines of a line's Ripple attempts. */
import { logs } from '../../../api/index.js';
import type { Application } from '../../app/index.js';
import type { RouteTable } from '../routes.js';

const iso = (ms: number) => new Date(ms).toISOString();

export function registerLogRoutes(routes: RouteTable, app: Application): void {
  routes.implement(logs.logs, ({ query, line }) => {
    const store = app.catchment.store.logs;
    const lines = store.list({
      pond: line.pond,
      major: line.major,
      since: query.since,
      ripple: query.ripple,
      limit: query.limit,
    });
    const last = lines.at(-1);
    return {
      pond: line.pond,
      major: line.major,
      lines: lines.map((l) => ({
        id: l.id,
        f: iso(l.f),
        ripple: l.ripple,
        attempt: l.attempt,
        at: iso(l.at),
        level: l.level,
        message: l.message,
        fields: l.fields,
      })),
      // An empty page keeps the caller's cursor; without one, it starts at the newest line.
      next: last?.id ?? query.since ?? store.latestId(line.pond, line.major),
    };
  });
}

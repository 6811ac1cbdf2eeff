/** The Duck dial-back: which line a token is, what to run, jobs (long poll) and progress events. */
import { duck } from '../../../api/index.js';
import type { Application } from '../../app/index.js';
import { bearer } from '../guard.js';
import type { RouteTable } from '../routes.js';

export function registerDuckRoutes(routes: RouteTable, app: Application): void {
  // Open: the token itself is what is asked about (an unknown one answers 401).
  routes.implement(duck.duckWhoami, ({ raw }) => app.ducks.whoami(bearer(raw)));
  const line = (p: { name: string; major: number }) => ({ pond: p.name, major: p.major });
  routes.implement(duck.duckConfig, ({ params }) => app.ducks.config(line(params)));
  routes.implement(duck.duckJobs, async ({ params, query, raw }) => ({
    jobs: await app.ducks.jobs(
      line(params),
      query.wait,
      bearer(raw) ?? '',
      () => raw.raw.socket?.destroyed ?? false,
    ),
  }));
  routes.implement(duck.duckEvents, ({ params, body }) => ({
    ok: true as const,
    applied: app.ducks.report(line(params), body.events),
  }));
}

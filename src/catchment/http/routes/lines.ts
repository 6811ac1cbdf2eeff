/** Configuring and controlling a line: trigger and control verbs, windows, retry budgets. */
import { lines } from '../../../api/index.js';
import type { Application } from '../../app/index.js';
import type { RouteTable } from '../routes.js';

export function registerLineRoutes(routes: RouteTable, app: Application): void {
  for (const [verb, e] of Object.entries(lines.verbs) as [lines.Verb, (typeof lines.verbs)[lines.Verb]][]) {
    routes.implement(e, ({ body, identity, line }) => {
      app.lineConfig.control(line, verb, body ?? {});
      return {
        ok: true as const,
        pond: line.pond,
        major: line.major,
        status: app.reading.status(identity, line),
      };
    });
  }
  routes.implement(lines.listWindows, ({ line }) => ({ windows: app.lineConfig.windows(line) }));
  routes.implement(lines.addWindow, ({ body, line }) => ({ window: app.lineConfig.addWindow(line, body) }));
  routes.implement(lines.removeWindow, ({ params, line }) => {
    app.lineConfig.removeWindow(line, params.window);
    return { ok: true as const };
  });
  routes.implement(lines.budgets, ({ line }) => app.lineConfig.budgets(line));
  routes.implement(lines.setBudgets, ({ body, line }) => app.lineConfig.setBudgets(line, body));
}

/**
 * A DuckFleet that places each line's Duck by the compute directory's `pond_run` assignments: on a
 * worker (LaunchDuck over the internal gRPC contract) when an assignment routes the line to a
 * healthy endpoint, locally otherwise. A line no assignment covers, or every line while routing is
 * off, runs locally exactly as before.
 *
 * When the chosen endpoint is unhealthy, or refuses or fails the launch, an assignment that allows
 * fallback runs the Duck locally; one that does not reports the Duck as exited with a reason naming
 * the endpoint, so the supervisor fails the run through the ordinary fault path (budgets, blocking).
 *
 * A remote Duck's liveness is polled with ListDucks: a Duck the worker reports exited, or a worker
 * that stops answering, is a Duck gone (a worker's Ducks end with it, see duck-launcher.ts).
 */

import { DuckState } from '../../compute/grpc/gen/duckstring/worker/v1/worker_pb.js';
import type { WorkerConnection } from '../../compute/remote/client-pool.js';
import {
  type EndpointTarget,
  type Placement,
  placementLabel,
  type RouteDecision,
} from '../../compute/topology.js';
import { type Clock, systemClock, type Timer } from '../../shared/clock.js';
import type { DuckFleet, DuckInstance, DuckLaunch } from './fleet.js';

/** What the fleet needs of the compute side (bound once remote routing is on). */
export interface DuckPlacement {
  /** The `pond_run` route of a line (`name@major`). */
  route(line: string): RouteDecision;
  /** Undefined when the endpoint may take work; otherwise why not. */
  unhealthy(endpoint: EndpointTarget): string | undefined;
  connect(endpoint: EndpointTarget): WorkerConnection;
  log?(level: 'info' | 'warn', msg: string, data: Record<string, unknown>): void;
}

export interface RoutedFleetOptions {
  clock?: Clock;
  /** Between ListDucks polls of a remote Duck (default 500 ms). */
  pollMs?: number;
  /** Consecutive failed polls after which a worker is taken as gone (default 2). */
  pollFailures?: number;
  /** Longest a LaunchDuck or StopDuck call may take (default 15 s). */
  callTimeoutMs?: number;
}

class PlacedDuck implements DuckInstance {
  placement: Placement = { kind: 'local' };
  /** The local Duck, when it runs here (directly or as the fallback). */
  local: DuckInstance | null = null;
  /** The remote side: endpoint and the pid the worker reported. */
  remote: { endpoint: EndpointTarget; pid: number | undefined } | null = null;
  gone = false;
  poll: Timer | null = null;
  failures = 0;
  polling = false;
  private readonly waiters: Array<() => void> = [];

  constructor(
    readonly line: string,
    private readonly exited: (how: string) => void,
  ) {}

  get id(): number | undefined {
    return this.local?.id;
  }

  /** The remote Duck (or its launch) is over: tell the supervisor once. */
  end(how: string): void {
    if (this.gone) return;
    this.gone = true;
    this.poll?.cancel();
    this.poll = null;
    for (const w of this.waiters.splice(0)) w();
    this.exited(how);
  }

  whenGone(): Promise<void> {
    return this.gone ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

export class RoutedDuckFleet implements DuckFleet {
  private placement: DuckPlacement | null = null;
  private readonly clock: Clock;
  private readonly pollMs: number;
  private readonly pollFailures: number;
  private readonly callTimeoutMs: number;

  constructor(
    private readonly local: DuckFleet,
    options: RoutedFleetOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.pollMs = options.pollMs ?? 500;
    this.pollFailures = options.pollFailures ?? 2;
    this.callTimeoutMs = options.callTimeoutMs ?? 15_000;
  }

  /** Turns routing on (null: every Duck local). */
  bind(placement: DuckPlacement | null): void {
    this.placement = placement;
  }

  launch(launch: DuckLaunch, exited: (how: string) => void): DuckInstance {
    const duck = new PlacedDuck(launch.line, exited);
    const placement = this.placement;
    const decision = placement?.route(launch.line);
    if (!placement || !decision || decision.candidates.length === 0) {
      duck.local = this.local.launch(launch, exited);
      return duck;
    }
    const healthy = decision.candidates.find((c) => placement.unhealthy(c.endpoint) === undefined);
    if (!healthy) {
      const first = decision.candidates[0]!;
      const why = `compute endpoint "${first.endpoint.name}" is unhealthy (${placement.unhealthy(first.endpoint)})`;
      this.fallBack(
        duck,
        launch,
        exited,
        decision.candidates.some((c) => c.fallbackLocal),
        first,
        why,
      );
      return duck;
    }
    duck.placement = { kind: 'remote', endpoint: healthy.endpoint.name };
    duck.remote = { endpoint: healthy.endpoint, pid: undefined };
    void this.launchRemote(duck, launch, healthy.endpoint).catch((error: unknown) => {
      const why = `compute endpoint "${healthy.endpoint.name}" could not launch the Duck (${(error as Error).message})`;
      this.fallBack(duck, launch, exited, healthy.fallbackLocal, healthy, why);
    });
    return duck;
  }

  private fallBack(
    duck: PlacedDuck,
    launch: DuckLaunch,
    exited: (how: string) => void,
    allowed: boolean,
    candidate: { endpoint: EndpointTarget; assignment: string },
    why: string,
  ): void {
    duck.remote = null;
    if (allowed) {
      this.placement?.log?.('warn', 'duck falls back to local', { line: launch.line, reason: why });
      duck.placement = { kind: 'fallback', endpoint: candidate.endpoint.name, reason: why };
      duck.local = this.local.launch(launch, exited);
      return;
    }
    duck.placement = { kind: 'remote', endpoint: candidate.endpoint.name };
    // Reported after launch returns: the supervisor only knows the Duck once launch has returned.
    queueMicrotask(() => duck.end(`not launched: ${why}; ${candidate.assignment} allows no local fallback`));
  }

  private async launchRemote(duck: PlacedDuck, launch: DuckLaunch, endpoint: EndpointTarget): Promise<void> {
    const status = await this.call(endpoint, (c) =>
      c.client.launchDuck(
        { line: launch.line, catchmentUrl: launch.catchmentUrl, duckToken: launch.token },
        { headers: c.headers, timeoutMs: this.callTimeoutMs },
      ),
    );
    if (duck.gone) return;
    duck.remote = { endpoint, pid: status.pid };
    this.placement?.log?.('info', 'duck launched on worker', {
      line: launch.line,
      endpoint: endpoint.name,
      workerPid: status.pid,
    });
    duck.poll = this.clock
      .setInterval(() => {
        if (duck.polling) return;
        duck.polling = true;
        void this.check(duck).finally(() => {
          duck.polling = false;
        });
      }, this.pollMs)
      .unref();
  }

  private async check(duck: PlacedDuck): Promise<void> {
    const remote = duck.remote;
    if (!remote || duck.gone) return;
    let ducks: Awaited<ReturnType<WorkerConnection['client']['listDucks']>>['ducks'];
    try {
      ducks = (
        await this.call(remote.endpoint, (c) =>
          c.client.listDucks({}, { headers: c.headers, timeoutMs: Math.max(1000, this.pollMs * 2) }),
        )
      ).ducks;
    } catch (error) {
      duck.failures += 1;
      if (duck.failures >= this.pollFailures)
        duck.end(`compute endpoint "${remote.endpoint.name}" unreachable: ${(error as Error).message}`);
      return;
    }
    duck.failures = 0;
    const mine = ducks.find((d) => d.line === duck.line && d.pid === remote.pid);
    if (!mine) duck.end(`the Duck is no longer on compute endpoint "${remote.endpoint.name}"`);
    else if (mine.state === DuckState.EXITED)
      duck.end(`${mine.exit} on compute endpoint "${remote.endpoint.name}"`);
  }

  private async call<T>(endpoint: EndpointTarget, fn: (c: WorkerConnection) => Promise<T>): Promise<T> {
    const placement = this.placement;
    if (!placement) throw new Error('remote routing is off');
    const connection = placement.connect(endpoint);
    try {
      return await fn(connection);
    } finally {
      connection.release();
    }
  }

  adopt(line: string, id: number): DuckInstance | null {
    const adopted = this.local.adopt(line, id);
    if (!adopted) return null;
    const duck = new PlacedDuck(line, () => {});
    duck.local = adopted;
    return duck;
  }

  observe(instance: DuckInstance): 'running' | 'gone' {
    const duck = instance as PlacedDuck;
    if (duck.local) return this.local.observe(duck.local);
    return duck.gone ? 'gone' : 'running';
  }

  signal(instance: DuckInstance, force: boolean): void {
    const duck = instance as PlacedDuck;
    if (duck.local) {
      this.local.signal(duck.local, force);
      return;
    }
    const remote = duck.remote;
    if (!remote || duck.gone) return;
    this.call(remote.endpoint, (c) =>
      c.client.stopDuck({ line: duck.line, force }, { headers: c.headers, timeoutMs: this.callTimeoutMs }),
    ).catch(() => {
      // An unreachable worker took its Ducks with it; the poll reports this one gone.
    });
  }

  async stop(instance: DuckInstance, graceMs: number): Promise<void> {
    const duck = instance as PlacedDuck;
    if (duck.local) return this.local.stop(duck.local, graceMs);
    if (duck.gone) return;
    if (!duck.remote) return duck.whenGone();
    this.signal(duck, false);
    const force = this.clock.setTimeout(() => this.signal(duck, true), graceMs);
    // The poll sees the exit; a worker that cannot be reached at all is given up after twice the grace.
    const giveUp = this.clock.setTimeout(() => duck.end('stopped (worker did not confirm)'), graceMs * 2);
    await duck.whenGone();
    force.cancel();
    giveUp.cancel();
  }

  /** `local`, `remote:NAME` or `fallback:NAME`: where the Duck runs. */
  where(instance: DuckInstance): string {
    return placementLabel((instance as PlacedDuck).placement);
  }

  /** The pid the worker reported for a remote Duck (undefined for a local one). */
  remotePid(instance: DuckInstance): number | undefined {
    return (instance as PlacedDuck).remote?.pid;
  }
}

/**
 * The DuckFleet port: where Ducks run. The supervisor (../supervisor.ts) decides when a line needs a
 * Duck, when one is idle and when a silent one is dead; a fleet only launches, adopts, stops and
 * observes them. Local processes come first (local-fleet.ts); a fleet of remote workers implements
 * the same interface later, so nothing here is process-specific beyond an opaque instance id.
 */

/** What a new Duck needs to dial in. */
export interface DuckLaunch {
  line: string;
  catchmentUrl: string;
  /** The secret the Duck presents; the Catchment keeps only its hash. */
  token: string;
}

/** One running Duck as the fleet knows it. */
export interface DuckInstance {
  readonly line: string;
  /**
   * What a restarted Catchment needs to adopt it (for local processes the pid); undefined when the
   * launch failed before the Duck got one.
   */
  readonly id: number | undefined;
}

export interface DuckFleet {
  /** Starts a Duck for `launch.line`; `exited` is called once when it goes away (with how). */
  launch(launch: DuckLaunch, exited: (how: string) => void): DuckInstance;
  /**
   * Takes over a Duck a previous Catchment process launched, or null if it is not running any
   * more. Its exit is noticed by `observe`, not by a callback.
   */
  adopt(line: string, id: number): DuckInstance | null;
  /** Is the Duck still running? */
  observe(instance: DuckInstance): 'running' | 'gone';
  /** Asks the Duck to stop (it finishes cleanly), or with `force` ends it at once. */
  signal(instance: DuckInstance, force: boolean): void;
  /** Asks the Duck to stop, forces it after `graceMs`, and resolves once it is gone. */
  stop(instance: DuckInstance, graceMs: number): Promise<void>;
  /** Where the Duck runs: `local` (the default), `remote:ENDPOINT` or `fallback:ENDPOINT`. */
  where?(instance: DuckInstance): string;
}

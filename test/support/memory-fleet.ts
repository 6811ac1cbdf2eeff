/**
 * A DuckFleet whose Ducks are entries in memory: the test decides when one exits. With a ManualClock
 * the supervisor's policy runs without processes or sleeps.
 */
import type { DuckFleet, DuckInstance, DuckLaunch } from '../../src/catchment/fleet/fleet.js';

interface MemoryDuck extends DuckInstance {
  running: boolean;
  exited?: (how: string) => void;
  signals: Array<'stop' | 'kill'>;
}

export class MemoryFleet implements DuckFleet {
  readonly ducks: MemoryDuck[] = [];
  private nextId = 1000;

  /** `launched` lets a test start its own Duck (e.g. a simulated one) for each launch. */
  constructor(private readonly launched?: (launch: DuckLaunch, instance: DuckInstance) => void) {}

  launch(launch: DuckLaunch, exited: (how: string) => void): DuckInstance {
    const duck: MemoryDuck = { line: launch.line, id: this.nextId++, running: true, exited, signals: [] };
    this.ducks.push(duck);
    this.launched?.(launch, duck);
    return duck;
  }

  adopt(line: string, id: number): DuckInstance | null {
    const duck = this.ducks.find((d) => d.id === id && d.line === line && d.running);
    return duck ?? null;
  }

  /** Registers a Duck a "previous Catchment" launched, for adoption tests. */
  leftRunning(line: string): number {
    const duck: MemoryDuck = { line, id: this.nextId++, running: true, signals: [] };
    this.ducks.push(duck);
    return duck.id!;
  }

  observe(instance: DuckInstance): 'running' | 'gone' {
    return (instance as MemoryDuck).running ? 'running' : 'gone';
  }

  signal(instance: DuckInstance, force: boolean): void {
    const duck = instance as MemoryDuck;
    duck.signals.push(force ? 'kill' : 'stop');
    this.exit(duck, force ? 'SIGKILL' : 'SIGTERM');
  }

  async stop(instance: DuckInstance): Promise<void> {
    this.signal(instance, false);
  }

  /** The Duck goes away (crash, signal), reported like a process exit. */
  exit(instance: DuckInstance, how: string): void {
    const duck = instance as MemoryDuck;
    if (!duck.running) return;
    duck.running = false;
    duck.exited?.(how);
  }

  of(line: string): MemoryDuck[] {
    return this.ducks.filter((d) => d.line === line);
  }
}

/**
 * The Catchment's run activity as a feed many watchers share (`GET /api/events`): every engine event
 * batch becomes run activities (./activity.ts), each numbered and kept in a bounded ring so a
 * watcher that reconnects catches up from its last event id. Watchers are told in batches: one
 * engine batch is one call, however many activities it holds.
 *
 * An event id is `<boot>-<seq>`: `seq` counts up from 1 in this process, `boot` is random per
 * process. A cursor from an earlier process (the Catchment restarted) is recognised as such rather
 * than mistaken for a position in this one's sequence.
 */
import { randomBytes } from 'node:crypto';
import type { GapEvent } from '../api/events.js';
import type { EngineEvent } from '../engine/engine.js';
import type { Privilege } from '../governance/policy.js';
import type { GovernanceService, Identity } from '../governance/service.js';
import { type RunActivity, type RunHistory, runActivity } from './activity.js';
import type { LineAccess } from './app/line-access.js';

/** A run activity with its place in the feed. */
export interface Sequenced {
  id: string;
  seq: number;
  activity: RunActivity;
}

export interface Subscription {
  /** What the cursor missed and this process still keeps, oldest first. */
  replay: Sequenced[];
  /** Set when the cursor cannot be continued exactly (see GapEvent). */
  gap: GapEvent | null;
  unsubscribe(): void;
}

export interface ActivityWatcher {
  /** New activities, in feed order; one call per engine batch. */
  activities(batch: readonly Sequenced[]): void;
  /** The feed ended (the Catchment is shutting down). */
  closed(): void;
}

/** Where the activity comes from: the Catchment's engine events and run history. */
export interface ActivitySource {
  onEvents(listener: (events: readonly EngineEvent[]) => void): () => void;
  store: RunHistory;
}

export class ActivityHub {
  readonly boot = randomBytes(4).toString('hex');
  private readonly ring: Sequenced[] = [];
  private nextSeq = 1;
  private readonly watchers = new Set<ActivityWatcher>();
  private readonly detach: () => void;
  private ended = false;

  constructor(
    source: ActivitySource,
    /** How many activities are kept for reconnecting watchers. */
    private readonly capacity = 1000,
  ) {
    this.detach = source.onEvents((events) => this.publish(runActivity(events, source.store)));
  }

  /** Numbers and keeps `activities`, then tells every watcher in one call. */
  publish(activities: readonly RunActivity[]): void {
    if (activities.length === 0 || this.ended) return;
    const batch = activities.map((activity) => {
      const seq = this.nextSeq++;
      return { id: `${this.boot}-${seq}`, seq, activity };
    });
    this.ring.push(...batch);
    // Trim in bulk, not one shift per activity.
    if (this.ring.length > this.capacity * 2) this.ring.splice(0, this.ring.length - this.capacity);
    for (const w of this.watchers) w.activities(batch);
  }

  /** The activities kept, oldest first (at most `capacity`). */
  kept(): Sequenced[] {
    return this.ring.slice(-this.capacity);
  }

  /**
   * Adds a watcher. `since` (an event id) asks for what came after it: replayed from the ring, or,
   * when that cannot be exact, everything kept with a gap saying why. Without `since`, only new
   * activity. The replay and the subscription are taken at once, so nothing falls between them.
   */
  subscribe(since: string | undefined, watcher: ActivityWatcher): Subscription {
    const { replay, gap } = since === undefined ? { replay: [], gap: null } : this.after(since);
    if (this.ended) watcher.closed();
    else this.watchers.add(watcher);
    return { replay, gap, unsubscribe: () => this.watchers.delete(watcher) };
  }

  /** Stops following the Catchment and ends every watcher's feed. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.detach();
    for (const w of this.watchers) w.closed();
    this.watchers.clear();
  }

  private after(since: string): { replay: Sequenced[]; gap: GapEvent | null } {
    const kept = this.kept();
    const m = /^([0-9a-f]+)-(\d+)$/.exec(since);
    if (!m || m[1] !== this.boot) {
      return {
        replay: kept,
        gap: {
          reason: 'restarted',
          since,
          message:
            kept.length > 0 && kept[0]!.seq > 1
              ? `the Catchment restarted since event ${since}; what follows is the oldest activity it keeps (older activity of this process is not kept)`
              : `the Catchment restarted since event ${since}; what follows is its activity since it started`,
        },
      };
    }
    const seq = Number(m[2]);
    const oldest = kept[0]?.seq ?? this.nextSeq;
    if (seq + 1 < oldest) {
      return {
        replay: kept,
        gap: {
          reason: 'expired',
          since,
          // No count: it would tell a watcher how much activity it may not see happened.
          message: `activity after event ${since} is no longer kept (the Catchment keeps the last ${this.capacity} run events); what follows starts at the oldest kept`,
        },
      };
    }
    return { replay: kept.filter((s) => s.seq > seq), gap: null };
  }
}

/**
 * What one principal may see of run activity, by the rules of status: a line's activity only with
 * some privilege on the line; a run's error text only with OPERATE (it may quote data), otherwise
 * `"hidden"`. Read from the current policy, so a revoked grant stops the feed at once. Decisions
 * are cached per line for the life of the returned function (one batch).
 */
export function activityView(
  access: LineAccess,
  governance: GovernanceService,
  who: Identity,
): (a: RunActivity) => RunActivity | null {
  const decided = new Map<string, { view: boolean; operate: boolean }>();
  const can = (p: Privilege, a: RunActivity) =>
    governance.can(who, p, { kind: 'pond', pond: a.pond, major: a.major });
  return (a) => {
    const key = `${a.pond}@${a.major}`;
    let d = decided.get(key);
    if (!d) {
      d = { view: access.mayView(who, a), operate: can('OPERATE', a) };
      decided.set(key, d);
    }
    if (!d.view) return null;
    if (a.error !== null && !d.operate) return { ...a, error: 'hidden' };
    return a;
  };
}

/**
 * Why a line ignores demand, and the command that gets it out: the answer every demand verb and
 * `status` carry, so a failed Pond never answers a pulse with a bare "now failed".
 *
 * Pure: the caller gathers the engine's status, the run history and the topology; nothing here
 * reads the store or the clock.
 */
import type { PondStatus } from '../engine/engine.js';

/**
 * The states in which demand does not run the line: the engine drops Taps and Pulses on failed,
 * killed and blocked lines (engine.md: blocked Ponds ignore demand); a sleeping Inlet (outside every
 * availability window) holds them until a window opens.
 */
export type IgnoringState = 'failed' | 'killed' | 'blocked' | 'sleeping';

export interface Attention {
  state: IgnoringState;
  /** When the line entered the state (ISO-8601), when the run history knows it. */
  since: string | null;
  /** One sentence: what happened. */
  reason: string;
  /** The command that makes the line take demand again. */
  way_out: string;
}

/** The last failed (or killed) Pond Run of a line, as the run history recorded it. */
export interface HaltedRun {
  f: number;
  finishedAt: number | null;
  /** The Ripple whose attempt failed, when the failure was a Ripple's. */
  ripple: string | null;
  error: string | null;
}

export interface LineFacts {
  pond: string;
  major: number;
  /** Whether `-m MAJOR` can be left out of commands (this is the Pond's newest major). */
  newestMajor: boolean;
  status: PondStatus;
  /** The newest failed run (for `failed`) or killed run (for `killed`); null when none is recorded. */
  lastHalt: HaltedRun | null;
}

/** An Inlet with availability windows, none of them open now. */
export interface WindowsClosed {
  /** The next occurrence to open, or null when none will (every window expired). */
  next: { window: string; at: number } | null;
}

export interface AttentionInput extends LineFacts {
  /** Set when the line is an Inlet with windows and none is open now; null otherwise. */
  windowsClosed: WindowsClosed | null;
  /**
   * For a blocked line: the failed or killed line upstream that blocks it (the first one found
   * walking required Sources), with its own facts. Null when the line is not blocked.
   */
  blockedBy: LineFacts | null;
  /**
   * Run errors may quote data: only holders of OPERATE on the line see their text (never the text of
   * the Source that blocks it).
   */
  showErrors: boolean;
}

const isoOf = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The CLI command that clears a halted line. */
export function clearCommand(line: Pick<LineFacts, 'pond' | 'major' | 'newestMajor'>): string {
  return `duckstring control clear ${line.pond}${line.newestMajor ? '' : ` -m ${line.major}`}`;
}

/** First line of an error message, without trailing blanks. */
function firstLine(message: string): string {
  return message.split('\n', 1)[0]!.trimEnd();
}

function haltReason(line: LineFacts, showErrors: boolean): string {
  const run = line.lastHalt;
  if (line.status === 'killed') {
    return run
      ? `killed by an operator during the run at F ${new Date(run.f).toISOString()}`
      : 'killed by an operator';
  }
  if (!run) return 'its last run failed';
  const what = `the run at F ${new Date(run.f).toISOString()} failed${run.ripple ? ` in Ripple ${run.ripple}` : ''}`;
  if (run.error === null) return what;
  if (!showErrors) return `${what} (its error is shown to holders of OPERATE on ${line.pond}@${line.major})`;
  return `${what}: ${firstLine(run.error)}`;
}

/** What a line that ignores demand should tell whoever places demand on it; null when it takes demand. */
export function attentionFor(input: AttentionInput): Attention | null {
  if (input.status === 'failed' || input.status === 'killed') {
    return {
      state: input.status,
      since: isoOf(input.lastHalt?.finishedAt ?? null),
      reason: haltReason(input, input.showErrors),
      way_out: clearCommand(input),
    };
  }
  if (input.status === 'blocked') {
    const root = input.blockedBy;
    if (root === null) {
      return {
        state: 'blocked',
        since: null,
        reason: 'a required Source is failed or killed',
        way_out: `duckstring status (clear the failed or killed Source with duckstring control clear SOURCE)`,
      };
    }
    return {
      state: 'blocked',
      since: isoOf(root.lastHalt?.finishedAt ?? null),
      // The Source's error is that line's data: OPERATE on this line does not cover it.
      reason: `its Source ${root.pond}@${root.major} is ${root.status}: ${haltReason(root, false)}`,
      way_out: clearCommand(root),
    };
  }
  if (input.status === 'queued' && input.windowsClosed) {
    const next = input.windowsClosed.next;
    const m = input.newestMajor ? '' : ` -m ${input.major}`;
    return {
      state: 'sleeping',
      since: null,
      reason: next
        ? `an Inlet outside its availability windows: the demand waits until window ${next.window} opens at ${new Date(next.at).toISOString()}`
        : 'an Inlet whose availability windows will not open again',
      way_out: next
        ? `duckstring trigger window remove ${input.pond} ${next.window}${m}`
        : `duckstring trigger window list ${input.pond}${m}`,
    };
  }
  return null;
}

/**
 * The `ctx.log` lines of one Ripple attempt, as the Duck sends them to the Catchment: `ripple-log`
 * events while the attempt runs (every `LOG_FLUSH_MS`) and one before its outcome. Bounded: a Ripple that logs in a loop must not grow the
 * Duck's outbox or the Catchment's database without limit, so past the line or byte budget lines are
 * counted, not kept, and one closing line says how many were dropped.
 */
import type { RippleLogLine } from './protocol.js';

export const MAX_LOG_LINES = 1_000;
/** How often a running attempt's new lines are sent, so `duckstring logs --follow` sees them live. */
export const LOG_FLUSH_MS = 1_000;
export const MAX_LOG_BYTES = 256 * 1024;
/** One message is cut at this many characters (the protocol accepts a little more, for the marker). */
export const MAX_MESSAGE_CHARS = 8_192;

type Level = RippleLogLine['level'];

/** Fields as plain JSON (bigints and dates as text); anything that cannot be written becomes text. */
function plainFields(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (fields === undefined) return undefined;
  try {
    const text = JSON.stringify(fields, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    const parsed: unknown = text === undefined ? undefined : JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
    return { fields: String(fields) };
  } catch {
    return { fields: String(fields) };
  }
}

export class AttemptLog {
  private readonly kept: RippleLogLine[] = [];
  private bytes = 0;
  private dropped = 0;
  private taken = 0;

  constructor(private readonly now: () => number) {}

  add(level: Level, message: string, fields?: Record<string, unknown>): void {
    if (this.dropped > 0 || this.kept.length >= MAX_LOG_LINES) {
      this.dropped++;
      return;
    }
    const text =
      message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS)}… (message cut)` : message;
    const plain = plainFields(fields);
    const size = Buffer.byteLength(text) + (plain ? Buffer.byteLength(JSON.stringify(plain)) : 0);
    if (this.bytes + size > MAX_LOG_BYTES) {
      this.dropped++;
      return;
    }
    this.bytes += size;
    this.kept.push({
      seq: this.kept.length,
      at: this.now(),
      level,
      message: text,
      ...(plain ? { fields: plain } : {}),
    });
  }

  /**
   * The lines not yet taken; `final` (the attempt ended) adds the truncation marker when any line
   * was dropped. Sequence numbers run on across takes, so the Catchment stores each line once.
   */
  take(final: boolean): RippleLogLine[] {
    const out = this.kept.slice(this.taken);
    this.taken = this.kept.length;
    if (final && this.dropped > 0)
      out.push({
        seq: this.kept.length,
        at: this.now(),
        level: 'warn',
        message: `… truncated: ${this.dropped} more line${this.dropped === 1 ? '' : 's'} not kept (limit ${MAX_LOG_LINES} lines or ${MAX_LOG_BYTES / 1024} KiB per attempt)`,
      });
    return out;
  }
}

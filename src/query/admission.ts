/**
 * Per-principal admission: how many queries one principal may have accepted and not yet finished
 * (governing, waiting for a slot or running). Counted from acceptance to the answer, so a principal
 * cannot pile work up in any stage; past the limit a query is refused at once (429) and costs
 * nothing more.
 */
import { QueryLimitError } from '../governance/errors.js';

/** Seconds a refused principal is told to wait: about one small query's run. */
const RETRY_AFTER_SECONDS = 1;

export class QueryAdmission {
  private readonly inFlight = new Map<string, number>();

  constructor(readonly maxPerPrincipal: number) {
    if (!Number.isInteger(maxPerPrincipal) || maxPerPrincipal < 1)
      throw new Error('maxPerPrincipal must be a positive integer');
  }

  /** Admits one query of `principal` or throws too_many_queries; call the returned release once. */
  admit(principal: string): () => void {
    const key = principal.toLowerCase();
    const count = this.inFlight.get(key) ?? 0;
    if (count >= this.maxPerPrincipal) {
      throw new QueryLimitError(
        'too_many_queries',
        `"${principal}" already has ${count} queries in progress, the most one principal may have at once (maxQueriesPerPrincipal); retry when one has finished`,
        RETRY_AFTER_SECONDS,
      );
    }
    this.inFlight.set(key, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.inFlight.get(key) ?? 1) - 1;
      if (left > 0) this.inFlight.set(key, left);
      else this.inFlight.delete(key);
    };
  }

  count(principal: string): number {
    return this.inFlight.get(principal.toLowerCase()) ?? 0;
  }
}

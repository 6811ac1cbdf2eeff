/**
 * The port through which `compute endpoint health` reads what the router's background health
 * checks know (src/compute/remote/). The directory only knows what is registered; until a health
 * view is attached, an endpoint's health is reported as unknown.
 */
export interface EndpointHealthReport {
  state: 'healthy' | 'unhealthy' | 'unknown';
  /** Since when (ms since the epoch) the endpoint has been in this state; null if never checked. */
  since: number | null;
  /** Why it is unhealthy ("authentication", "unreachable", ...); null when healthy. */
  reason: string | null;
  /** Anything more the router knows (in-flight queries, last check, worker version...). */
  detail?: Record<string, unknown>;
}

export interface EndpointHealthView {
  /** What is known about the endpoint named `name`; undefined when it is not tracked (yet). */
  health(name: string): EndpointHealthReport | undefined;
}

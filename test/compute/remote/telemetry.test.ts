import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FleetTelemetry, percentile } from '../../../src/compute/remote/telemetry.js';
import { ManualClock } from '../../support/manual-clock.js';

describe('fleet telemetry', () => {
  it('counts in-flight calls and failures and fallbacks by reason over the window only', () => {
    const clock = new ManualClock();
    const t = new FleetTelemetry({ clock, windowMs: 60_000 });
    const a = t.begin('w1');
    const b = t.begin('w1');
    expect(t.outstanding('w1')).toBe(2);
    a('unavailable');
    a(null); // a second end is ignored
    t.placed({ kind: 'fallback', endpoint: 'w1', reason: 'unavailable' });
    expect(t.activity('w1')).toMatchObject({
      inFlight: 1,
      calls: 0,
      failures: { unavailable: 1 },
      fallbacks: { unavailable: 1 },
    });
    clock.advance(61_000);
    b(null);
    const now = t.activity('w1');
    expect(now.failures).toEqual({});
    expect(now.fallbacks).toEqual({});
    expect(now.calls).toBe(1);
    expect(now.inFlight).toBe(0);
    expect(now.p50Ms).not.toBeNull();
  });

  it('keeps a bounded ring per endpoint', () => {
    const clock = new ManualClock();
    const t = new FleetTelemetry({ clock, ringSize: 8 });
    for (let i = 0; i < 100; i++) t.begin('w')('deadline');
    expect(t.activity('w').failures).toEqual({ deadline: 8 });
  });

  it('nearest-rank percentiles', () => {
    expect(percentile([], 0.5)).toBeNull();
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 0.5)).toBe(50);
    expect(percentile(values, 0.95)).toBe(95);
    expect(percentile([7], 0.95)).toBe(7);
  });

  it('exports queries by route, fallbacks by reason, endpoint health and remote latency', async () => {
    const registry = new Registry();
    const t = new FleetTelemetry({ clock: new ManualClock(), registry });
    t.healthSource = () => [
      { endpoint: 'w1', healthy: true },
      { endpoint: 'w2', healthy: false },
    ];
    t.placed({ kind: 'local' });
    t.begin('w1')(null);
    t.placed({ kind: 'remote', endpoint: 'w1' });
    t.placed({ kind: 'fallback', endpoint: 'w2', reason: 'authentication' });
    const text = await registry.metrics();
    expect(text).toContain('duckstring_queries_by_route_total{route="local",endpoint=""} 1');
    expect(text).toContain('duckstring_queries_by_route_total{route="remote",endpoint="w1"} 1');
    expect(text).toContain('duckstring_query_fallback_total{endpoint="w2",reason="authentication"} 1');
    expect(text).toContain('duckstring_endpoint_healthy{endpoint="w1"} 1');
    expect(text).toContain('duckstring_endpoint_healthy{endpoint="w2"} 0');
    expect(text).toContain('duckstring_remote_query_duration_seconds_count{endpoint="w1"} 1');
  });
});

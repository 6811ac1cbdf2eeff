import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../../src/compute/remote/circuit-breaker.js';

describe('circuit breaker', () => {
  it('opens after N consecutive failures; a success in between resets the count', () => {
    const b = new CircuitBreaker({ failureThreshold: 3, openMs: 1000 });
    b.failure(0);
    b.failure(0);
    b.success();
    b.failure(0);
    b.failure(0);
    expect(b.state(0)).toBe('closed');
    expect(b.tryAcquire(0)).toBe(true);
    b.failure(10);
    expect(b.state(10)).toBe('open');
    expect(b.tryAcquire(500)).toBe(false);
    expect(b.wouldAllow(500)).toBe(false);
  });

  it('lets exactly one probe through when half-open; its outcome closes or reopens', () => {
    const b = new CircuitBreaker({ failureThreshold: 1, openMs: 1000 });
    b.failure(0);
    expect(b.state(999)).toBe('open');
    expect(b.state(1000)).toBe('half-open');
    expect(b.wouldAllow(1000)).toBe(true);
    expect(b.tryAcquire(1000)).toBe(true);
    expect(b.tryAcquire(1000)).toBe(false);
    expect(b.wouldAllow(1000)).toBe(false);
    b.failure(1500);
    expect(b.state(2000)).toBe('open');
    expect(b.tryAcquire(2500)).toBe(true);
    b.success();
    expect(b.state(2500)).toBe('closed');
    expect(b.tryAcquire(2500)).toBe(true);
    expect(b.tryAcquire(2500)).toBe(true);
  });

  it('a neutral outcome frees the probe without deciding', () => {
    const b = new CircuitBreaker({ failureThreshold: 1, openMs: 10 });
    b.failure(0);
    expect(b.tryAcquire(10)).toBe(true);
    b.neutral();
    expect(b.state(10)).toBe('half-open');
    expect(b.tryAcquire(10)).toBe(true);
  });

  it('refuses nonsense settings', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(() => new CircuitBreaker({ openMs: -1 })).toThrow(/openMs/);
  });
});

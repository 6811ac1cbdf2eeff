/** Worker settings: defaults, flags over environment, and one precise refusal per bad value. */
import { describe, expect, it } from 'vitest';
import { loadWorkerConfig, parseDuration, WorkerConfigError } from '../../../src/compute/worker/config.js';
import { workerRefusal } from './support.js';

const BASE = { AGENT_TOKEN: 't0ken' };

function refusal(env: Record<string, string>, flags = {}): string {
  try {
    loadWorkerConfig(env, flags);
  } catch (error) {
    expect(error).toBeInstanceOf(WorkerConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('worker config', () => {
  it('has the documented defaults', () => {
    const config = loadWorkerConfig({ ...BASE, MAX_MEMORY_GB: '2' });
    expect(config.http).toEqual({ host: '127.0.0.1', port: 9443 });
    expect(config.grpc).toEqual({ host: '127.0.0.1', port: 9444 });
    expect(config.resultTtlMs).toBe(600_000);
    expect(config.cleanupIntervalMs).toBe(60_000);
    expect(config.maxMemoryBytes).toBe(2 * 1024 ** 3);
    expect(config.tls).toBeNull();
    expect(config.sharedRoot).toBeNull();
  });

  it('lets flags override the environment', () => {
    const config = loadWorkerConfig(
      { ...BASE, LISTEN_ADDR: '0.0.0.0:1', QUERY_RESULT_TTL: '1h', MAX_MEMORY_GB: '8' },
      { listenAddr: '[::1]:8080', queryResultTtl: '30s', maxMemoryGb: '0.5', sharedRoot: '/srv/root' },
    );
    expect(config.http).toEqual({ host: '::1', port: 8080 });
    expect(config.resultTtlMs).toBe(30_000);
    expect(config.maxMemoryBytes).toBe(512 * 1024 ** 2);
    expect(config.sharedRoot).toBe('/srv/root');
  });

  it('splits MAX_MEMORY_GB between concurrent queries, each getting at least 256 MiB', () => {
    const four = loadWorkerConfig({ ...BASE, MAX_MEMORY_GB: '4', MAX_CONCURRENT_QUERIES: '8' });
    expect(four.maxConcurrent).toBe(8);
    expect(four.queryMemoryBytes).toBe(512 * 1024 ** 2);
    const small = loadWorkerConfig({ ...BASE, MAX_MEMORY_GB: '0.6', MAX_CONCURRENT_QUERIES: '8' });
    expect(small.maxConcurrent).toBe(2);
    const tiny = loadWorkerConfig({ ...BASE, MAX_MEMORY_GB: '0.1', MAX_CONCURRENT_QUERIES: '8' });
    expect(tiny.maxConcurrent).toBe(1);
    expect(tiny.queryMemoryBytes).toBe(Math.floor(0.1 * 1024 ** 3));
  });

  it('refuses each bad value with a message naming its variable', () => {
    expect(refusal({})).toMatch(/^AGENT_TOKEN: required/);
    expect(refusal({ AGENT_TOKEN: '  ' })).toMatch(/^AGENT_TOKEN: required/);
    expect(refusal({ ...BASE, MAX_MEMORY_GB: 'abc' })).toBe(
      'MAX_MEMORY_GB: "abc" is not a positive number of GB',
    );
    expect(refusal({ ...BASE, MAX_MEMORY_GB: '-1' })).toMatch(/^MAX_MEMORY_GB: /);
    expect(refusal({ ...BASE, MAX_MEMORY_GB: '0' })).toMatch(/^MAX_MEMORY_GB: /);
    expect(refusal({ ...BASE, LISTEN_ADDR: 'localhost' })).toMatch(
      /^LISTEN_ADDR: "localhost" is not an address/,
    );
    expect(refusal({ ...BASE, GRPC_LISTEN_ADDR: '127.0.0.1:99999' })).toMatch(/^GRPC_LISTEN_ADDR: /);
    expect(refusal({ ...BASE, GRPC_LISTEN_ADDR: 'http://x:1' })).toMatch(/^GRPC_LISTEN_ADDR: /);
    expect(refusal({ ...BASE, QUERY_RESULT_TTL: '10 minutes' })).toMatch(
      /^QUERY_RESULT_TTL: "10 minutes" is not a duration/,
    );
    expect(refusal({ ...BASE, QUERY_CLEANUP_INTERVAL: '0s' })).toMatch(/^QUERY_CLEANUP_INTERVAL: /);
    expect(refusal({ ...BASE, MAX_CONCURRENT_QUERIES: '1.5' })).toMatch(/^MAX_CONCURRENT_QUERIES: /);
    expect(refusal({ ...BASE, WORKER_TLS_CERT_FILE: '/x/cert.pem' })).toMatch(
      /^WORKER_TLS_KEY_FILE: TLS needs both/,
    );
    expect(refusal({ ...BASE, WORKER_TLS_KEY_FILE: '/x/key.pem' })).toMatch(
      /^WORKER_TLS_CERT_FILE: TLS needs both/,
    );
    expect(refusal(BASE, { queryCleanupInterval: 'soon' })).toMatch(/^QUERY_CLEANUP_INTERVAL: "soon"/);
  });

  it('parses durations in ms, s, m and h only', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    for (const bad of ['', '10', 'm', '1d', '-1s', '1 s', 'PT1M']) expect(parseDuration(bad)).toBeNull();
  });

  it('stops the real process with status 2 and the variable named', async () => {
    const missing = await workerRefusal({});
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('worker not started: AGENT_TOKEN: required');
    const memory = await workerRefusal({ ...BASE, MAX_MEMORY_GB: 'abc' });
    expect(memory.code).toBe(2);
    expect(memory.stderr).toContain('MAX_MEMORY_GB: "abc" is not a positive number of GB');
    const busy = await workerRefusal({ ...BASE, GRPC_LISTEN_ADDR: '256.1.1.1:9' });
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toContain('worker not started');
  });
});

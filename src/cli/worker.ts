/**
 * `duckstring worker start`: runs a query worker until SIGTERM or SIGINT, then drains (no new
 * queries; those in flight finish, bounded) and exits 0. Configured by environment variables,
 * each overridable by a flag (src/compute/worker/config.ts). Once both listeners are bound it
 * prints one JSON line on stdout, `{"event":"listening","http":"host:port","grpc":"host:port",...}`,
 * so a supervisor (or a test) can wait for it and learn the ports when 0 was asked for.
 */
import type { Command } from 'commander';
import { loadWorkerConfig, WorkerConfigError, type WorkerFlags } from '../compute/worker/config.js';
import { type CliIO, UsageError } from './io.js';

export function registerWorkerCommands(program: Command, io: CliIO): void {
  const worker = program.command('worker').description('Run a remote query worker (internal gRPC).');
  worker
    .command('start')
    .description(
      'Start a query worker. Environment: AGENT_TOKEN (required), LISTEN_ADDR, GRPC_LISTEN_ADDR, MAX_MEMORY_GB, ' +
        'MAX_CONCURRENT_QUERIES, MAX_QUEUED_QUERIES, QUERY_RESULT_TTL, QUERY_CLEANUP_INTERVAL, WORKER_DRAIN_TIMEOUT, ' +
        'WORKER_TLS_CERT_FILE, WORKER_TLS_KEY_FILE, WORKER_SHARED_ROOT, WORKER_DATA_DIR, WORKER_CACHE_DIR, WORKER_CACHE_MAX_GB.',
    )
    .option('--listen-addr <host:port>', 'HTTP address for /health and /metrics (LISTEN_ADDR)')
    .option('--grpc-listen-addr <host:port>', 'internal gRPC address (GRPC_LISTEN_ADDR)')
    .option('--max-memory-gb <gb>', 'DuckDB memory for everything the worker runs (MAX_MEMORY_GB)')
    .option('--max-concurrent <n>', 'queries running at once (MAX_CONCURRENT_QUERIES)')
    .option('--query-result-ttl <duration>', 'how long async results stay (QUERY_RESULT_TTL, e.g. 10m)')
    .option('--query-cleanup-interval <duration>', 'cleanup cadence (QUERY_CLEANUP_INTERVAL, e.g. 1m)')
    .option(
      '--shared-root <dir>',
      'read snapshot files from this Catchment root instead of downloading them (WORKER_SHARED_ROOT)',
    )
    .option('--data-dir <dir>', 'where async results and per-query links live (WORKER_DATA_DIR)')
    .option('--cache-dir <dir>', 'downloaded snapshot cache (WORKER_CACHE_DIR)')
    .option('--cache-max-gb <gb>', 'snapshot cache size (WORKER_CACHE_MAX_GB)')
    .option('--tls-cert-file <file>', 'serve gRPC over TLS with this certificate (WORKER_TLS_CERT_FILE)')
    .option('--tls-key-file <file>', 'and this private key (WORKER_TLS_KEY_FILE)')
    .addHelpText(
      'after',
      '\nThe token is read from AGENT_TOKEN only (never a flag, so it stays out of process listings).\n' +
        'Example: AGENT_TOKEN=$(cat worker.token) duckstring worker start --shared-root ./duckstring-root',
    )
    .action(async (flags: WorkerFlags) => {
      let config: ReturnType<typeof loadWorkerConfig>;
      try {
        config = loadWorkerConfig(process.env, flags);
      } catch (error) {
        if (error instanceof WorkerConfigError) throw new UsageError(`worker not started: ${error.message}`);
        throw error;
      }
      const { startWorker } = await import('../compute/worker/server.js');
      const running = await startWorker(config).catch((error: Error) => {
        throw new UsageError(`worker not started: ${error.message}`, 1);
      });
      io.stdout(
        `${JSON.stringify({
          event: 'listening',
          http: running.httpUrl.replace(/^http:\/\//, ''),
          grpc: running.grpcUrl.replace(/^grpcs?:\/\//, ''),
          grpc_url: running.grpcUrl,
          http_url: running.httpUrl,
          tls: config.tls !== null,
          max_concurrent: config.maxConcurrent,
          query_memory_bytes: config.queryMemoryBytes,
        })}\n`,
      );
      const signal = await new Promise<string>((resolve) => {
        process.once('SIGTERM', () => resolve('SIGTERM'));
        process.once('SIGINT', () => resolve('SIGINT'));
      });
      io.stdout(`${JSON.stringify({ event: 'draining', signal })}\n`);
      await running.close();
      io.stdout(`${JSON.stringify({ event: 'stopped' })}\n`);
    });
}

/**
 * A stand-in governor worker for the pool's timeout tests: speaks the pool's protocol, answers
 * `SELECT ...` with its own thread id, and for the SQL 'stall' spins forever (a rewrite that never
 * yields, which only terminating the thread can stop).
 */
import { parentPort, threadId } from 'node:worker_threads';
import type { GovernRequest } from '../../src/governance/governor-worker.js';

const port = parentPort!;
port.postMessage({ ready: true });
port.on('message', (request: GovernRequest | { close: true }) => {
  if ('close' in request) return port.close();
  if (request.sql === 'stall') for (;;);
  port.postMessage({
    id: request.id,
    ok: true,
    result: { sql: `-- governed by thread ${threadId}`, tables: [], columns: [] },
  });
});

/**
 * A worker thread of the GovernorPool: parses and rewrites queries with its own Governor (its own
 * DuckDB parser), so a large or deeply nested query never blocks the Catchment's event loop. It
 * receives only structured-cloneable inputs and rebuilds the Policy (once per revision) and the
 * Catalog from them.
 */
import { parentPort } from 'node:worker_threads';
import { GovernanceError, PolicyError } from './errors.js';
import type { PolicyDocument } from './policy.js';
import { Policy } from './policy.js';
import { Governor } from './rewrite.js';

export interface GovernRequest {
  id: number;
  sql: string;
  principal: string;
  revision: number;
  /** Sent when this worker has not seen `revision` yet. */
  document?: PolicyDocument;
  catalog: unknown;
  /** Only the checks of the text (Governor.checkStatement): no policy, no catalog; answers null. */
  statementOnly?: boolean;
}

export type SerializedError =
  | { kind: 'governance'; code: GovernanceError['code']; message: string }
  | { kind: 'policy'; issues: readonly string[] }
  | { kind: 'other'; message: string };

export type GovernResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: SerializedError };

function serializeError(error: unknown): SerializedError {
  if (error instanceof GovernanceError)
    return { kind: 'governance', code: error.code, message: error.message };
  if (error instanceof PolicyError) return { kind: 'policy', issues: error.issues };
  return { kind: 'other', message: error instanceof Error ? error.message : String(error) };
}

const port = parentPort;
if (!port) throw new Error('governor-worker runs only as a worker thread');

const governor = Governor.create();
void governor.then(() => port.postMessage({ ready: true }));
let cached: { revision: number; policy: Policy } | undefined;

/** The request in progress, so a close waits for it: its DuckDB calls must not outlive the thread. */
let inFlight: Promise<unknown> = Promise.resolve();

/**
 * Closing: finish what is in progress, close DuckDB, then let the thread end by itself. Terminating a
 * thread while a DuckDB call is pending aborts the whole process (a native callback into a dead
 * environment), so the pool asks for this instead.
 */
async function shutDown(): Promise<void> {
  await inFlight.catch(() => undefined);
  try {
    (await governor).close();
  } catch {
    // Its DuckDB never opened: nothing to close.
  }
  port?.close();
}

port.on('message', (message: GovernRequest | { close: true }) => {
  if ('close' in message) {
    void shutDown();
    return;
  }
  inFlight = handle(message);
});

async function handle(request: GovernRequest): Promise<void> {
  let response: GovernResponse;
  try {
    // Kept even for a check of the text alone: the pool now takes this worker to hold the revision.
    if (request.document !== undefined) {
      cached = { revision: request.revision, policy: Policy.parse(request.document) };
    }
    if (request.statementOnly) {
      await (await governor).checkStatement(request.sql);
      port?.postMessage({ id: request.id, ok: true, result: null } satisfies GovernResponse);
      return;
    }
    if (cached?.revision !== request.revision) {
      throw new Error(`the governor worker has no policy revision ${request.revision}`);
    }
    const result = await (await governor).governQuery(request.sql, {
      principal: request.principal,
      policy: cached.policy,
      catalog: request.catalog,
    });
    response = { id: request.id, ok: true, result };
  } catch (error) {
    response = { id: request.id, ok: false, error: serializeError(error) };
  }
  port?.postMessage(response);
}

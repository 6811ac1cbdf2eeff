/**
 * The workers' data plane: `GET /internal/snapshots/:pond/:major/<file>` serves one published
 * snapshot file to a query worker that presents a capability (`Authorization: Capability TOKEN`,
 * see src/compute/capability.ts) naming exactly that file. Storage stays in the control plane: a
 * worker never gets a path, a principal's key or anything the capability does not list.
 *
 * Answers:
 * - 401 when the capability is missing or not valid (malformed, not signed by this Catchment,
 *   expired). That verdict depends only on the token and the clock, never on the file asked for,
 *   so it tells the caller nothing about what exists;
 * - one uniform 404 for everything about the file: not listed by the capability, listed but gone,
 *   a different size than listed, a name that is not a snapshot file. "Not granted" and "does not
 *   exist" are indistinguishable;
 * - 200 with the bytes streamed, `content-length` and `x-checksum`: the file's checksum as the
 *   line's manifest states it now, so a worker expecting another version notices. A file that
 *   already left the published set (still on disk for readers of the older set) is no longer in
 *   the manifest: then it is the checksum the capability lists, which the Catchment minted from the
 *   manifest while the file was current (names are immutable, so that still identifies it).
 *
 * The file is leased for as long as it streams, so garbage collection of a republished line never
 * removes it mid-download.
 *
 * Registered on the fastify app directly rather than through the route table: the table's auth is
 * a principal's Bearer key (this route is authorized by a capability instead), its answers are JSON
 * or text (this one is a binary stream), and its paths are OpenAPI templates (this one ends in a
 * multi-segment file name). It is internal, worker-facing, and deliberately not in /openapi.json.
 */
import fs from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { claimedFile, SNAPSHOT_ROUTE_PREFIX, verifyCapability } from '../../../compute/capability.js';
import type { LocalSnapshotStore } from '../../../compute/local-snapshot-store.js';
import type { SnapshotRef } from '../../../compute/snapshot-store.js';
import type { Clock } from '../../../shared/clock.js';
import { RequestError } from '../../../shared/errors.js';

export interface SnapshotRouteDeps {
  snapshots: Pick<LocalSnapshotStore, 'pathOf' | 'lease' | 'resolve'>;
  /** The capability key (loadOrCreateCapabilityKey). */
  key: Buffer;
  clock: Clock;
}

const NOT_FOUND_MESSAGE = 'no such snapshot file under this capability';

function notFound(): RequestError {
  return new RequestError(404, 'not_found', NOT_FOUND_MESSAGE);
}

/** The token of `Authorization: Capability TOKEN`, or undefined. */
function presentedCapability(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Capability\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

export function registerSnapshotRoutes(app: FastifyInstance, deps: SnapshotRouteDeps): void {
  app.route({
    method: 'GET',
    url: `${SNAPSHOT_ROUTE_PREFIX}/:pond/:major/*`,
    // A HEAD would open and lease the file only to discard the stream; workers never need one.
    exposeHeadRoute: false,
    handler: async (req, reply) => {
      const token = presentedCapability(req);
      if (!token) {
        throw new RequestError(
          401,
          'unauthenticated',
          'missing capability (send "Authorization: Capability TOKEN")',
        );
      }
      const verdict = verifyCapability(deps.key, token, deps.clock.now());
      if (!verdict.ok)
        throw new RequestError(401, 'unauthenticated', `invalid capability: ${verdict.message}`);

      const params = req.params as { pond: string; major: string; '*': string };
      if (!/^(0|[1-9]\d{0,8})$/.test(params.major)) throw notFound();
      const wanted = { pond: params.pond, major: Number(params.major), file: params['*'] };
      const claimed = claimedFile(verdict.claims, wanted);
      if (!claimed) throw notFound();

      const ref: SnapshotRef = {
        pond: claimed.pond,
        major: claimed.major,
        table: claimed.file.split('/')[0]!,
        file: claimed.file,
        checksum: claimed.checksum,
      };
      let file: string;
      try {
        file = deps.snapshots.pathOf(ref);
      } catch {
        throw notFound();
      }
      const release = deps.snapshots.lease([ref]);
      let handle: fs.promises.FileHandle | undefined;
      let checksum: string;
      try {
        const current = await deps.snapshots.resolve({ pond: ref.pond, major: ref.major }).catch(() => null);
        checksum = current?.tables.find((t) => t.ref.file === ref.file)?.ref.checksum ?? claimed.checksum;
        handle = await fs.promises.open(file, 'r');
        const st = await handle.stat();
        if (!st.isFile() || st.size !== claimed.size) throw notFound();
      } catch (error) {
        await handle?.close().catch(() => {});
        release();
        throw error instanceof RequestError ? error : notFound();
      }
      const stream = handle.createReadStream({ autoClose: true });
      stream.once('close', release);
      reply
        .header('content-type', 'application/octet-stream')
        .header('content-length', String(claimed.size))
        .header('x-checksum', checksum)
        .header('cache-control', 'no-store');
      return reply.send(stream);
    },
  });
}

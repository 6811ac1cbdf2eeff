/**
 * The Duck data plane over HTTP (src/api/duck-data.ts; the logic is ../../duck-data.ts). The JSON
 * calls (manifest, publish) go through the route table; the byte transfers are registered on fastify
 * directly, in their own plugin scope: their bodies and answers are streams (an upload is never
 * buffered in memory), and their paths end in multi-segment file names. Both are authorized by the
 * Duck token of the line in the path, checked before anything else, so another Duck's token gets a
 * 401 whatever it asks for.
 *
 * Answers: 401 token; 404 a name that is not one of this line's files (an input, a published file,
 * the source of its selected version); 403 a table the Pond does not write; 400 a bad checksum,
 * a short upload, a malformed name; 413 an upload over the limit; 409 a publish of uploads that are
 * not there or older than the published set.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DUCK_DATA_STREAMS, duckManifest, duckPublish, UPLOAD_CONTENT_TYPE } from '../../../api/duck-data.js';
import { RequestError } from '../../../shared/errors.js';
import { NAME_PATTERN } from '../../../shared/ids.js';
import type { Application } from '../../app/index.js';
import { DuckDataPlane, type LineKey, type ServedFile } from '../../duck-data.js';
import { bearer } from '../guard.js';
import type { RouteTable } from '../routes.js';

export function registerDuckDataRoutes(routes: RouteTable, app: Application, server: FastifyInstance): void {
  const { catchment } = app;
  const plane = new DuckDataPlane(
    catchment.options.root,
    catchment.store,
    app.data.snapshots,
    catchment.duckUploadMaxBytes,
  );
  const line = (p: { name: string; major: number }): LineKey => ({ name: p.name, major: p.major });
  routes.implement(duckManifest, async ({ params }) => ({ manifest: await plane.manifest(line(params)) }));
  routes.implement(duckPublish, async ({ params, body }) => ({
    manifest: await plane.publish(line(params), body.f, body.tables),
  }));

  /** The line in the path, once the token presented is that line's Duck token. */
  const authorized = (req: FastifyRequest): LineKey => {
    const p = req.params as { name: string; major: string };
    const key = bearer(req);
    if (!key)
      throw new RequestError(401, 'unauthenticated', 'missing API key (send "Authorization: Bearer KEY")');
    if (!NAME_PATTERN.test(p.name) || !/^(0|[1-9]\d{0,8})$/.test(p.major))
      throw new RequestError(401, 'unauthenticated', 'invalid Duck token');
    const l = { name: p.name, major: Number(p.major) };
    app.ducks.authenticate({ pond: l.name, major: l.major }, key);
    return l;
  };
  const send = (reply: FastifyReply, file: ServedFile) => {
    reply
      .header('content-type', 'application/octet-stream')
      .header('content-length', String(file.size))
      .header('cache-control', 'no-store');
    return reply.send(file.stream);
  };
  const base = '/api/duck/:name/:major';

  void server.register(async (scope) => {
    // Uploads stream to disk: hand the handler the request stream instead of a parsed body.
    scope.addContentTypeParser(UPLOAD_CONTENT_TYPE, (_req, payload, done) => done(null, payload));

    scope.get(`${base}/${DUCK_DATA_STREAMS.source}/:checksum`, async (req, reply) => {
      const l = authorized(req);
      const bytes = await plane.source(l, (req.params as { checksum: string }).checksum);
      reply
        .header('content-type', 'application/octet-stream')
        .header('x-sha256', createHash('sha256').update(bytes).digest('hex'))
        .header('cache-control', 'no-store');
      return reply.send(bytes);
    });
    scope.get(`${base}/${DUCK_DATA_STREAMS.inputs}/*`, async (req, reply) => {
      const l = authorized(req);
      const rest = (req.params as { '*': string })['*'];
      return send(reply, await plane.input(l, `${DUCK_DATA_STREAMS.inputs}/${rest}`));
    });
    scope.get(`${base}/${DUCK_DATA_STREAMS.snapshots}/*`, async (req, reply) => {
      const l = authorized(req);
      return send(reply, await plane.snapshot(l, (req.params as { '*': string })['*']));
    });
    // Only the upload type is streamed; any other body is refused before much of it is read.
    scope.put(
      `${base}/${DUCK_DATA_STREAMS.uploads}/:f/:table`,
      { bodyLimit: 64 * 1024 },
      async (req, reply) => {
        const l = authorized(req);
        const { f, table } = req.params as { f: string; table: string };
        if (req.headers['content-type'] !== UPLOAD_CONTENT_TYPE)
          throw new RequestError(
            415,
            'unsupported_media_type',
            `an upload is sent as ${UPLOAD_CONTENT_TYPE}`,
          );
        const length = req.headers['content-length'];
        const sha = req.headers['x-sha256'];
        const result = await plane.upload(
          l,
          f,
          table,
          {
            sha256: typeof sha === 'string' ? sha : undefined,
            bytes: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
          },
          req.body as Readable,
        );
        return reply.status(201).send(result);
      },
    );
  });
}

/** The server-sent-event reader the typed client streams with, on bytes split at awkward places. */
import { describe, expect, it } from 'vitest';
import { readServerEvents, type ServerEvent } from '../../src/api/sse.js';

async function read(chunks: string[]): Promise<ServerEvent[]> {
  const bytes = (async function* () {
    for (const c of chunks) yield new TextEncoder().encode(c);
  })();
  const out: ServerEvent[] = [];
  for await (const e of readServerEvents(bytes)) out.push(e);
  return out;
}

describe('readServerEvents', () => {
  it('reads events, ids, comments and multi-line data, whatever the chunking', async () => {
    const text =
      'retry: 1000\n\n: keep-alive\n\nevent: run\nid: a-1\ndata: {"n":1}\n\ndata: one\r\ndata: two\r\n\r\n' +
      'id: a-2\n\nevent: gap\ndata:{"x":"é"}\n\n';
    const expected: ServerEvent[] = [
      { event: 'run', data: '{"n":1}', lastEventId: 'a-1' },
      { event: 'message', data: 'one\ntwo', lastEventId: 'a-1' },
      { event: 'gap', data: '{"x":"é"}', lastEventId: 'a-2' },
    ];
    expect(await read([text])).toEqual(expected);
    // every split point, CRLF and a two-byte character cut in half included
    const bytes = new TextEncoder().encode(text);
    for (let i = 1; i < bytes.length; i++) {
      const decoder = new TextDecoder('latin1');
      const parts = [bytes.slice(0, i), bytes.slice(i)];
      const stream = (async function* () {
        yield* parts;
      })();
      const out: ServerEvent[] = [];
      for await (const e of readServerEvents(stream)) out.push(e);
      expect(out, `split at ${i}: ${decoder.decode(parts[0])}`).toEqual(expected);
    }
  });

  it('drops an event the stream ends in the middle of', async () => {
    expect(await read(['event: run\ndata: {"n":1}\n'])).toEqual([]);
  });
});

/**
 * A reader of server-sent events (the `text/event-stream` format, as the HTML standard defines it)
 * over a fetch body: enough for the Catchment's own streams, without a dependency.
 */

export interface ServerEvent {
  /** `message` when the event names none. */
  event: string;
  data: string;
  /** The event's id, or the last one seen before it (as EventSource keeps it). */
  lastEventId: string;
}

/** Yields the events of a stream as they arrive; ends when the stream does. */
export async function* readServerEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<ServerEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let lastEventId = '';
  let event = '';
  let data: string[] = [];
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl = buffer.search(/\r\n|\r|\n/);
    // A CR at the end may be the first half of a CRLF split across chunks: wait for the next one.
    while (nl >= 0 && !(nl === buffer.length - 1 && buffer[nl] === '\r')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
      nl = buffer.search(/\r\n|\r|\n/);
      if (line === '') {
        // A blank line dispatches what was gathered; an id-only block just moves the cursor.
        if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), lastEventId };
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue; // a comment (keep-alive)
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) lastEventId = value;
    }
  }
}

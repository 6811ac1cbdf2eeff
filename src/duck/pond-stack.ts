/**
 * A failed Ripple's stack as the Catchment stores it: the frames of the Pond's own files, named
 * relative to the Pond (`ripples/top5.ts:8:31`, source-mapped from the deploy-time bundle), and
 * nothing else. Frames of the bundle, the Ripple host or Node name absolute paths of the root's
 * layout, which must not reach whoever reads the run history.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const FRAME = /^\s+at\s/;

export function pondRelativeStack(stack: string, pondDir: string): string {
  const dir = path.resolve(pondDir);
  const prefixes = [`${pathToFileURL(dir).href}/`, `${dir}${path.sep}`];
  const head: string[] = [];
  const frames: string[] = [];
  const relative = (line: string) => prefixes.reduce((text, prefix) => text.split(prefix).join(''), line);
  for (const line of stack.split('\n')) {
    if (!FRAME.test(line)) {
      // The message (possibly several lines) comes before the first frame.
      if (frames.length === 0) head.push(relative(line));
      continue;
    }
    const rel = relative(line);
    // Kept only when it names a file of the Pond: no absolute path, URL or Node-internal left.
    if (!/(^|[\s(])(\/|[A-Za-z]:\\|file:|node:)/.test(rel.replace(FRAME, ' ')) && /\.\w+:\d+:\d+/.test(rel))
      frames.push(rel);
  }
  return [...head, ...frames].join('\n');
}

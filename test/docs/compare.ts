/**
 * Documented output against printed output. Both sides go through the same small set of masks (what
 * differs between any two honest runs: keys, ids, times, durations, ports, pids, absolute paths),
 * runs of spaces and of `─` collapse (column widths follow the masked values), and then:
 *
 * - a documented line that is only `…` stands for any number of printed lines;
 * - `…` inside a documented line stands for any text;
 * - every other documented line must equal its printed line.
 */

const MASKS: Array<[RegExp, string]> = [
  [/dsk_[0-9a-f]{16}_[0-9a-f]{64}/g, '<api-key>'],
  [/\b[0-9a-f]{64}\b/g, '<admin-key>'],
  [/\b[0-9a-f]{16}\b/g, '<key-id>'],
  [/\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, '<time>'],
  [/\b\d{2}:\d{2}:\d{2}\b/g, '<clock>'],
  [/\b1\d{12}\b/g, '<epoch-ms>'],
  [/\b\d+(\.\d+)? ?(ms|s)\b/g, '<duration>'],
  [/(https?:\/\/[\w.-]+):\d+/g, '$1:<port>'],
  [/\bpid \d+/g, 'pid <pid>'],
  [/(\b\d+\/\d+ +)\d+\b/g, '$1<pid>'], // `duckstring status`: the Duck's pid after the runs column
  [/"(duckPid|pid)":\d+/g, '"$1":<pid>'],
  [/(?<![\w.:/<])\/(?:[\w.@+-]+\/)*[\w.@+-]*/g, '<path>'],
  [/─+/g, '─'],
  [/[ \t]+/g, ' '],
];

/**
 * What the harness adds to a documented command to run it here — servers on a free port instead of
 * the documented one — and nothing else, undone in what those servers print.
 */
const HARNESS_ONLY: Array<[RegExp, string]> = [
  [/^Try, in another terminal \(with DUCKSTRING_CATCHMENT_URL=[^)]*\):$/, 'Try, in another terminal:'],
];

export function mask(line: string): string {
  let out = line;
  for (const [re, to] of HARNESS_ONLY) out = out.replace(re, to);
  for (const [re, to] of MASKS) out = out.replace(re, to);
  return out.trimEnd();
}

/** The 16-hex ids (API key ids) in order: how a documented id is mapped to the real one. */
export function keyIds(lines: string[]): string[] {
  return lines.flatMap((l) => l.match(/(?<=dsk_)[0-9a-f]{16}|\b[0-9a-f]{16}\b/g) ?? []);
}

const ELLIPSIS = '…';

function lineMatcher(documented: string): (printed: string) => boolean {
  const masked = mask(documented);
  if (!masked.includes(ELLIPSIS)) return (printed) => mask(printed) === masked;
  const re = new RegExp(
    `^${masked
      .split(ELLIPSIS)
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );
  return (printed) => re.test(mask(printed));
}

/** `null` when `printed` matches `documented`, else a readable report. */
export function compareOutput(documented: string[], printed: string[]): string | null {
  const doc = trimBlank(documented);
  const out = trimBlank(printed);
  const matchers = doc.map((d) => (d.trim() === ELLIPSIS ? null : lineMatcher(d)));
  const memo = new Map<string, boolean>();
  const matches = (di: number, oi: number): boolean => {
    const key = `${di},${oi}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (di === doc.length) result = oi === out.length;
    else if (matchers[di] === null) result = matches(di + 1, oi) || (oi < out.length && matches(di, oi + 1));
    else result = oi < out.length && matchers[di]!(out[oi]!) && matches(di + 1, oi + 1);
    memo.set(key, result);
    return result;
  };
  if (matches(0, 0)) return null;
  return diff(doc, out, matchers);
}

function trimBlank(lines: string[]): string[] {
  const out = [...lines];
  while (out.length > 0 && out[0]!.trim() === '') out.shift();
  while (out.length > 0 && out.at(-1)!.trim() === '') out.pop();
  return out;
}

/** Documented and printed side by side up to the first line that cannot match. */
function diff(doc: string[], out: string[], matchers: Array<((p: string) => boolean) | null>): string {
  const report: string[] = [];
  let oi = 0;
  let di = 0;
  for (; di < doc.length; di++) {
    const m = matchers[di];
    if (m === null) {
      const next = matchers.slice(di + 1).find((x) => x !== null);
      const from = oi;
      while (oi < out.length && next && !next(out[oi]!)) oi++;
      if (!next) oi = out.length;
      report.push(`  … (skips ${oi - from} printed lines)`);
      continue;
    }
    if (oi < out.length && m!(out[oi]!)) {
      report.push(`  ${doc[di]}`);
      oi++;
      continue;
    }
    report.push(`- ${doc[di]}`, `+ ${oi < out.length ? out[oi] : '(end of output)'}`);
    report.push(`  masked: documented ${JSON.stringify(mask(doc[di]!))}`);
    if (oi < out.length) report.push(`          printed    ${JSON.stringify(mask(out[oi]!))}`);
    break;
  }
  if (di === doc.length && oi < out.length)
    report.push(`+ ${out[oi]}   (printed, not documented; ${out.length - oi} more lines)`);
  report.push('', 'printed in full:', ...out.map((l) => `| ${l}`));
  return report.join('\n');
}

/**
 * The little shell the docs harness understands: words with single and double quotes, `$VAR`,
 * `${VAR}` and `$(command)` expansion, `VAR=value` assignments (`export` is accepted and means the
 * same), `a && b`, `cmd | tail -N` / `head -N`, a trailing `&` and `# comments`. That is every shell
 * feature the docs use; a doc that needs more should say so by failing here, not by being skipped.
 */

export interface SimpleCommand {
  /** `VAR=value` words before the command (alone: assignments to the shell). */
  assignments: Array<[string, string]>;
  argv: string[];
  /** `| tail -N` or `| head -N` after the command. */
  pipe?: { take: 'tail' | 'head'; n: number };
}

export interface CommandLine {
  /** Commands joined by `&&`. */
  sequence: SimpleCommand[];
  background: boolean;
}

/** Expands `$(…)` by running it; returns its stdout. */
export type Substitute = (command: string) => Promise<string>;

/** Joins `\`-continued lines; returns logical lines with the 1-based line they start on. */
export function logicalLines(lines: string[]): Array<{ text: string; index: number }> {
  const out: Array<{ text: string; index: number }> = [];
  for (let i = 0; i < lines.length; i++) {
    const index = i;
    let text = lines[i]!;
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1)} ${lines[++i]!.trim()}`;
    out.push({ text, index });
  }
  return out;
}

/** Splits a command line into words and operators, expanding variables and substitutions. */
export async function parseCommandLine(
  text: string,
  vars: (name: string) => string | undefined,
  substitute: Substitute,
): Promise<CommandLine> {
  const tokens: Array<{ op: string } | { word: string }> = [];
  let i = 0;
  const s = text;
  const expandVar = (): string => {
    // s[i] === '$'
    if (s[i + 1] === '{') {
      const end = s.indexOf('}', i);
      const name = s.slice(i + 2, end);
      i = end + 1;
      return vars(name) ?? '';
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i + 1));
    if (!m) {
      i++;
      return '$';
    }
    i += 1 + m[0].length;
    return vars(m[0]) ?? '';
  };
  const expandSubstitution = async (): Promise<string> => {
    // s[i..] === '$(' — find the matching parenthesis, respecting quotes.
    let depth = 0;
    let j = i + 1;
    let quote: string | null = null;
    for (; j < s.length; j++) {
      const c = s[j];
      if (quote) {
        if (c === quote) quote = null;
      } else if (c === "'" || c === '"') quote = c;
      else if (c === '(') depth++;
      else if (c === ')' && --depth === 0) break;
    }
    const inner = s.slice(i + 2, j);
    i = j + 1;
    return (await substitute(inner)).replace(/\n+$/, '');
  };

  while (i < s.length) {
    const c = s[i];
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '#') break;
    if (s.startsWith('&&', i)) {
      tokens.push({ op: '&&' });
      i += 2;
      continue;
    }
    if (c === '&' || c === '|' || c === ';') {
      tokens.push({ op: c });
      i++;
      continue;
    }
    let word = '';
    while (i < s.length && !/[ \t&|;]/.test(s[i]!)) {
      const ch = s[i];
      if (ch === "'") {
        const end = s.indexOf("'", i + 1);
        if (end < 0) throw new Error(`unterminated ' in: ${text}`);
        word += s.slice(i + 1, end);
        i = end + 1;
      } else if (ch === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length && '"$\\`'.includes(s[i + 1]!)) {
            word += s[i + 1];
            i += 2;
          } else if (s[i] === '$' && s[i + 1] === '(') word += await expandSubstitution();
          else if (s[i] === '$') word += expandVar();
          else word += s[i++];
        }
        if (s[i] !== '"') throw new Error(`unterminated " in: ${text}`);
        i++;
      } else if (ch === '$' && s[i + 1] === '(') word += await expandSubstitution();
      else if (ch === '$') word += expandVar();
      else if (ch === '\\' && i + 1 < s.length) {
        word += s[i + 1];
        i += 2;
      } else word += s[i++];
    }
    tokens.push({ word });
  }

  const line: CommandLine = { sequence: [], background: false };
  let current: SimpleCommand = { assignments: [], argv: [] };
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if ('word' in t) {
      const assign = /^([A-Za-z_][A-Za-z0-9_]*)=([\s\S]*)$/.exec(t.word);
      if (assign && current.argv.length === 0) current.assignments.push([assign[1]!, assign[2]!]);
      else current.argv.push(t.word);
      continue;
    }
    if (t.op === '&&') {
      line.sequence.push(current);
      current = { assignments: [], argv: [] };
    } else if (t.op === '&') {
      if (k !== tokens.length - 1) throw new Error(`"&" only at the end of a line: ${text}`);
      line.background = true;
    } else if (t.op === '|') {
      const words = tokens.slice(k + 1).map((x) => ('word' in x ? x.word : x.op));
      const m = /^(tail|head) -(\d+)$/.exec(words.join(' '));
      if (!m) throw new Error(`the docs harness pipes only into "tail -N" or "head -N": ${text}`);
      current.pipe = { take: m[1] as 'tail' | 'head', n: Number(m[2]) };
      break;
    } else throw new Error(`unsupported shell operator "${t.op}" in: ${text}`);
  }
  line.sequence.push(current);
  for (const cmd of line.sequence) {
    if (cmd.argv[0] !== 'export') continue;
    // `export A=1 B=2`: after `export` every word is an assignment.
    cmd.argv.shift();
    while (cmd.argv.length > 0 && /^[A-Za-z_]\w*=/.test(cmd.argv[0])) {
      const [name, ...rest] = cmd.argv.shift()!.split('=');
      cmd.assignments.push([name!, rest.join('=')]);
    }
  }
  return line;
}

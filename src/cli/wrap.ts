/** Text for a terminal: long messages printed whole, wrapped rather than cut. */
/**
 * `text` wrapped at word boundaries to `width` columns, its first line after `first` and the rest
 * after `rest`; its own line breaks are kept and a word longer than a line is split, never cut.
 */
export function wrapIndented(text: string, width: number, first: string, rest: string): string[] {
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    const indent = () => (out.length === 0 ? first : rest);
    const flush = () => {
      out.push(`${indent()}${line}`.trimEnd());
      line = '';
    };
    for (let word of paragraph.split(/[ \t]+/)) {
      const room = () => Math.max(20, width - indent().length);
      while (word.length > room()) {
        if (line) flush();
        out.push(`${indent()}${word.slice(0, room())}`);
        word = word.slice(room());
      }
      if (line && line.length + 1 + word.length > room()) flush();
      line = line ? `${line} ${word}` : word;
    }
    flush();
  }
  return out;
}

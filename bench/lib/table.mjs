// Number formatting and markdown tables.

/** Three significant digits, no exponent for the sizes seen here. */
export function sig(x, digits = 3) {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  if (!Number.isFinite(x)) return '∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 10 ** digits) return Math.round(x).toString();
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(a)));
  return x.toFixed(Math.min(decimals, 6));
}

export function pct(fraction) {
  if (fraction === undefined || fraction === null) return '–';
  const p = fraction * 100;
  return `${p >= 1 ? sig(p, 3) : sig(p, 2)}%`;
}

export function blocksLabel(blocks) {
  const M = 2 ** 20;
  return blocks % M === 0 ? `${blocks / M}M` : String(blocks);
}

export function mib(bytes) {
  return sig(bytes / 2 ** 20, 3);
}

/** A markdown table from a header row and rows of cells (already strings). */
export function markdown(header, rows, align) {
  const al = align ?? header.map((_, i) => (i === 0 ? 'l' : 'r'));
  const line = (cells) => `| ${cells.join(' | ')} |`;
  const sep = `|${al.map((a) => (a === 'l' ? ' :-- ' : ' --: ')).join('|')}|`;
  return [line(header), sep, ...rows.map(line)].join('\n');
}

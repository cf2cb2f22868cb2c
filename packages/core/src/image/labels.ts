/**
 * Class labels of image files as a CSV: a `stem,label` header, then one `<file stem>,<integer label>` row per image
 * (what `diff2s idx` writes next to the PNGs, and what the classifier and the eval's `classify` metric read).
 */
import { promises as fs } from 'fs';
import { InputError } from '../errors';

/** Format labels (file stem → integer class) as CSV text with a `stem,label` header, in the given order. */
export function formatLabelsCsv(entries: Iterable<readonly [string, number]>): string {
  const lines = ['stem,label'];
  for (const [stem, label] of entries) {
    if (/[",\r\n]/.test(stem)) throw new RangeError(`a stem with a comma, quote or newline cannot be written: ${JSON.stringify(stem)}`);
    if (!Number.isInteger(label)) throw new RangeError(`label of ${stem} must be an integer, got ${label}`);
    lines.push(`${stem},${label}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Parse labels CSV text (`stem,label` header optional; blank lines ignored). Throws {@link InputError} naming
 * `name` and the line on a malformed row, a non-integer label or a stem listed twice.
 */
export function parseLabelsCsv(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const cells = line.split(',').map((c) => c.trim());
    if (i === 0 && cells[0].toLowerCase() === 'stem') return;
    if (cells.length !== 2 || !cells[0]) throw new InputError(`${name}:${i + 1}: expected "stem,label", got "${line.slice(0, 60)}"`, name);
    const label = Number(cells[1]);
    if (!/^-?\d+$/.test(cells[1]) || !Number.isSafeInteger(label)) {
      throw new InputError(`${name}:${i + 1}: label "${cells[1]}" of ${cells[0]} is not an integer`, name);
    }
    if (out.has(cells[0])) throw new InputError(`${name}:${i + 1}: ${cells[0]} is listed twice`, name);
    out.set(cells[0], label);
  });
  return out;
}

/** Read a labels CSV file ({@link parseLabelsCsv}); a missing or unreadable file is an {@link InputError} naming it. */
export async function readLabelsCsv(file: string): Promise<Map<string, number>> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read labels file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, file, { cause: err });
  }
  const labels = parseLabelsCsv(text, file);
  if (labels.size === 0) throw new InputError(`labels file ${file} lists no image`, file);
  return labels;
}

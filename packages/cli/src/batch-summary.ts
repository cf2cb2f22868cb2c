import * as path from 'path';
import { writeFileAtomic } from '@diff2s/core';

/** One input of a batch run, as the summary files record it. */
export interface BatchRecord {
  input: string;
  mask?: string;
  outputs: string[];
  /** `ok`: written; `failed`: an error (in `error`), nothing written for it; `skipped`: no mask of its stem. */
  status: 'ok' | 'failed' | 'skipped';
  error?: string;
  /** Wall time of the image (read, guide, fit, refiner, writes). */
  seconds: number;
}

function csvCell(v: string | number | undefined): string {
  if (v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The summary as CSV: input, mask, outputs (`;`-separated), status, error, seconds; one row per input. */
export function batchSummaryCsv(records: readonly BatchRecord[]): string {
  const rows = records.map((r) => [r.input, r.mask, r.outputs.join(';'), r.status, r.error, r.seconds.toFixed(3)]);
  return [['input', 'mask', 'outputs', 'status', 'error', 'seconds'], ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

/** The summary as JSON: counts, total seconds and the records. */
export function batchSummaryJson(records: readonly BatchRecord[]): string {
  const count = (s: BatchRecord['status']) => records.filter((r) => r.status === s).length;
  const seconds = Number(records.reduce((a, r) => a + r.seconds, 0).toFixed(3));
  return JSON.stringify({
    images: records.length, ok: count('ok'), failed: count('failed'), skipped: count('skipped'), seconds,
    records: records.map((r) => ({ ...r, seconds: Number(r.seconds.toFixed(3)) })),
  }, null, 2) + '\n';
}

/** Write `<dir>/summary.csv` and `<dir>/summary.json` (each atomically); returns their paths. */
export async function writeBatchSummary(dir: string, records: readonly BatchRecord[]): Promise<{ csv: string; json: string }> {
  const csv = path.join(dir, 'summary.csv');
  const json = path.join(dir, 'summary.json');
  await writeFileAtomic(csv, batchSummaryCsv(records));
  await writeFileAtomic(json, batchSummaryJson(records));
  return { csv, json };
}

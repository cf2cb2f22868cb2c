/** The eval's result records and their aggregation (mean ± std per run and metric). */
import type { MetricColumn, SweepValue } from './parse';
import { meanStd } from './measure';

/** One image through one run. */
export interface ImageRow {
  run: string;
  method: string;
  params: Record<string, SweepValue>;
  image: string;
  file: string;
  status: 'ok' | 'failed';
  error?: string;
  /** Exit code class of the error: 2 for config/input problems, 1 otherwise. */
  errorCode?: number;
  holeFraction?: number;
  /** Metric column key → value (NaN where undefined, e.g. PSNR of identical images is Infinity). */
  metrics: Record<string, number>;
  /** Known pixels of the output that differ from the input after 8-bit quantisation (must be 0). */
  knownPixelViolations: number;
  guideMs?: number;
  /** Fitting a model to the image (0 when cached or not fitting). */
  fitMs?: number;
  /** The fitted model's training seconds (from its card when it came from the cache). */
  fitSeconds?: number;
  refinerMs?: number;
  /** Pipeline time (guide + fit + refiner). */
  totalMs?: number;
  /** With the refiner's guard: `refined` (stage 2 kept) or `stage1` (stage 1 kept). */
  guard?: 'refined' | 'stage1';
  /** With the guard: the metrics of stage 2 as the refiner produced it (before the guard chose), same keys as `metrics`. */
  unguarded?: Record<string, number>;
  metricsMs?: number;
  /** Refiner steps run. */
  steps?: number;
  /** The result image, relative to the output folder. */
  result?: string;
}

export interface Stat {
  mean: number;
  std: number;
  n: number;
}

export interface RunSummary {
  run: string;
  slug: string;
  method: string;
  params: Record<string, SweepValue>;
  /** One line from the composition root: `guide patch → refiner (ddpm, T_k 100, model …)`. */
  pipeline: string;
  seed: number;
  channels: string;
  images: number;
  ok: number;
  failed: number;
  knownPixelViolations: number;
  metrics: Record<string, Stat>;
  timeMs: { guide: Stat; fit: Stat; refiner: Stat; total: Stat };
  /** Wall time of the whole run (model loading included). */
  wallSeconds: number;
}

/** Aggregate one run's rows. */
export function summarizeRun(
  base: Omit<RunSummary, 'images' | 'ok' | 'failed' | 'knownPixelViolations' | 'metrics' | 'timeMs'>,
  rows: ImageRow[],
  columns: MetricColumn[],
): RunSummary {
  const ok = rows.filter((r) => r.status === 'ok');
  const metrics: Record<string, Stat> = {};
  for (const c of columns) metrics[c.key] = meanStd(ok.map((r) => r.metrics[c.key]));
  return {
    ...base,
    images: rows.length,
    ok: ok.length,
    failed: rows.length - ok.length,
    knownPixelViolations: rows.reduce((a, r) => a + r.knownPixelViolations, 0),
    metrics,
    timeMs: {
      guide: meanStd(ok.map((r) => r.guideMs ?? NaN)),
      fit: meanStd(ok.map((r) => r.fitMs ?? NaN)),
      refiner: meanStd(ok.map((r) => r.refinerMs ?? NaN)),
      total: meanStd(ok.map((r) => r.totalMs ?? NaN)),
    },
  };
}

/** Index of the best run per column (by mean; ties: the first), or -1 when none is finite. */
export function bestRuns(runs: RunSummary[], columns: MetricColumn[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of columns) {
    let best = -1;
    runs.forEach((r, i) => {
      const v = r.metrics[c.key]?.mean;
      if (v === undefined || Number.isNaN(v)) return;
      if (best < 0) best = i;
      else {
        const b = runs[best].metrics[c.key].mean;
        if (c.higherIsBetter ? v > b : v < b) best = i;
      }
    });
    out[c.key] = best;
  }
  return out;
}

const DECIMALS: Record<string, number> = { psnr: 2, ssim: 4, l1: 4, mse: 5, swd: 4, boundary: 4, classify: 3 };

/** A value formatted for tables: fixed decimals per metric, `inf`, `–` for NaN. */
export function fmtValue(v: number, metric: string): string {
  if (Number.isNaN(v)) return '–';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  const d = DECIMALS[metric] ?? 4;
  const a = Math.abs(v);
  if (a !== 0 && a < 10 ** -d) return v.toExponential(2);
  return v.toFixed(d);
}

/** `mean ± std` for tables (just the value for one image). */
export function fmtStat(s: Stat, metric: string): string {
  if (s.n === 0) return '–';
  if (s.n === 1 || !Number.isFinite(s.mean) || Number.isNaN(s.std)) return fmtValue(s.mean, metric);
  return `${fmtValue(s.mean, metric)} ± ${fmtValue(s.std, metric)}`;
}

/**
 * Report writers: per-image CSV/JSON, summary markdown/CSV/JSON, SVG plots and one self-contained HTML page
 * (styles inline, SVGs inline, images as data URLs: it opens offline and can be mailed as one file).
 */
import YAML from 'yaml';
import type { EvalConfig } from './schema';
import type { EvalRun, MetricColumn, SweepValue } from './parse';
import { bestRuns, fmtStat, fmtValue, type ImageRow, type RunSummary } from './results';
import { barChart, inlineSvg, lineChart, xmlEscape } from './svg';

/** Everything a report shows. */
export interface EvalReportData {
  title: string;
  description?: string;
  configFile: string;
  config: EvalConfig;
  dataset: { description: string; images: { id: string; file: string }[]; unmatched: string[]; found: number };
  runs: RunSummary[];
  rows: ImageRow[];
  columns: MetricColumn[];
  startedAt: string;
  finishedAt: string;
  seconds: number;
  environment: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------------------------
// CSV / JSON / markdown

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number') return Number.isNaN(v) ? '' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : String(v);
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(header: string[], rows: unknown[][]): string {
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

/** JSON with NaN as null and ±Infinity as the strings "inf"/"-inf" (JSON has no such numbers). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? (Number.isNaN(v) ? null : v > 0 ? 'inf' : '-inf') : v), 2) + '\n';
}

function sweepKeys(runs: { params: Record<string, SweepValue> }[]): string[] {
  return [...new Set(runs.flatMap((r) => Object.keys(r.params)))];
}

export function perImageCsv(rows: ImageRow[], columns: MetricColumn[]): string {
  const keys = sweepKeys(rows);
  const header = ['run', 'method', ...keys, 'image', 'status', ...columns.map((c) => c.key), 'knownPixelViolations', 'holeFraction', 'guideMs', 'fitMs', 'refinerMs', 'totalMs', 'steps', 'guard', 'result', 'error'];
  return csv(header, rows.map((r) => [
    r.run, r.method, ...keys.map((k) => r.params[k]), r.image, r.status, ...columns.map((c) => r.metrics[c.key]),
    r.knownPixelViolations, r.holeFraction, r.guideMs, r.fitMs, r.refinerMs, r.totalMs, r.steps, r.guard, r.result, r.error,
  ]));
}

export function summaryCsv(runs: RunSummary[], columns: MetricColumn[]): string {
  const keys = sweepKeys(runs);
  const header = ['run', 'method', ...keys, 'images', 'ok', 'failed', 'knownPixelViolations',
    ...columns.flatMap((c) => [`${c.key}_mean`, `${c.key}_std`, `${c.key}_n`]), 'guideMs_mean', 'fitMs_mean', 'refinerMs_mean', 'totalMs_mean', 'wallSeconds'];
  return csv(header, runs.map((r) => [
    r.run, r.method, ...keys.map((k) => r.params[k]), r.images, r.ok, r.failed, r.knownPixelViolations,
    ...columns.flatMap((c) => [r.metrics[c.key].mean, r.metrics[c.key].std, r.metrics[c.key].n]),
    r.timeMs.guide.mean, r.timeMs.fit.mean, r.timeMs.refiner.mean, r.timeMs.total.mean, r.wallSeconds,
  ]));
}

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '–';
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 120) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  return m < 120 ? `${m} min ${Math.round(s - 60 * m)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** The summary table as GitHub markdown (best mean per column in bold). */
export function summaryMarkdown(d: EvalReportData): string {
  const best = bestRuns(d.runs, d.columns);
  const head = ['run', 'images', ...d.columns.map((c) => c.label), 'time / image', 'known-pixel violations', 'failed'];
  const lines = [
    `# ${d.title}`,
    '',
    d.description ? `${d.description}\n` : '',
    `Data: ${d.dataset.description}.`,
    `Ran ${d.runs.length} pipeline${d.runs.length === 1 ? '' : 's'} on ${d.dataset.images.length} input${d.dataset.images.length === 1 ? '' : 's'} (image + mask) in ${fmtSeconds(d.seconds)} (${d.startedAt}). Values: mean ± std over images.`,
    '',
    `| ${head.join(' | ')} |`,
    `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...d.runs.map((r, ri) => `| ${[
      r.run.replace(/\|/g, '\\|'),
      String(r.ok),
      ...d.columns.map((c) => (best[c.key] === ri ? `**${fmtStat(r.metrics[c.key], c.metric)}**` : fmtStat(r.metrics[c.key], c.metric))),
      fmtSeconds(r.timeMs.total.mean / 1000),
      String(r.knownPixelViolations),
      String(r.failed),
    ].join(' | ')} |`),
    '',
  ];
  return lines.filter((l, i) => !(l === '' && lines[i - 1] === '')).join('\n');
}

/** The summary as JSON: config, dataset, environment, timings and per-run statistics. */
export function summaryJson(d: EvalReportData): string {
  return toJson({
    title: d.title,
    description: d.description,
    configFile: d.configFile,
    startedAt: d.startedAt,
    finishedAt: d.finishedAt,
    seconds: d.seconds,
    environment: d.environment,
    dataset: d.dataset,
    metrics: d.columns.map((c) => ({ key: c.key, metric: c.metric, region: c.region ?? 'border', higherIsBetter: c.higherIsBetter })),
    knownPixelViolations: d.runs.reduce((a, r) => a + r.knownPixelViolations, 0),
    failed: d.runs.reduce((a, r) => a + r.failed, 0),
    runs: d.runs,
    config: d.config,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Plots

export interface Plot {
  /** File name under plots/. */
  file: string;
  title: string;
  svg: string;
}

/** Bars per run for every metric (mean ± std; best in red), time per image, and metric vs value for numeric 1-key sweeps. */
export function makePlots(runs: RunSummary[], columns: MetricColumn[], evalRuns: EvalRun[]): Plot[] {
  const plots: Plot[] = [];
  const best = bestRuns(runs, columns);
  for (const c of columns) {
    const title = `${c.label} per run`;
    plots.push({
      file: `bar_${c.key}.svg`,
      title,
      svg: barChart({
        title,
        yLabel: c.label,
        bars: runs.map((r, i) => ({ label: r.run, value: r.metrics[c.key].mean, error: r.metrics[c.key].std, highlight: best[c.key] === i })),
      }),
    });
  }
  plots.push({
    file: 'bar_time.svg',
    title: 'Time per image (s) per run',
    svg: barChart({
      title: 'Time per image (s) per run',
      yLabel: 'seconds',
      bars: runs.map((r) => ({ label: r.run, value: r.timeMs.total.mean / 1000, error: r.timeMs.total.std / 1000 })),
    }),
  });
  // sweeps: methods with one numeric sweep key, grouped by that key
  const byKey = new Map<string, { method: string; points: { x: number; run: RunSummary }[] }[]>();
  const methods = [...new Set(evalRuns.map((r) => r.methodIndex))];
  for (const mi of methods) {
    const mr = evalRuns.filter((r) => r.methodIndex === mi);
    const keys = Object.keys(mr[0].params);
    if (keys.length !== 1 || mr.length < 2 || !mr.every((r) => typeof r.params[keys[0]] === 'number')) continue;
    const list = byKey.get(keys[0]) ?? [];
    list.push({ method: mr[0].method, points: mr.map((r) => ({ x: r.params[keys[0]] as number, run: runs.find((s) => s.run === r.name)! })) });
    byKey.set(keys[0], list);
  }
  for (const [key, groups] of byKey) {
    const safe = key.replace(/[^A-Za-z0-9_-]+/g, '-');
    const xLabel = key === 'refiner.tk' ? 'T_k (refiner.tk)' : key;
    for (const c of columns) {
      const title = `${c.label} vs ${xLabel}`;
      plots.push({
        file: `sweep_${safe}_${c.key}.svg`,
        title,
        svg: lineChart({
          title,
          xLabel,
          yLabel: c.label,
          series: groups.map((g) => ({ name: g.method, points: g.points.map((p) => ({ x: p.x, y: p.run.metrics[c.key].mean, error: p.run.metrics[c.key].std })) })),
        }),
      });
    }
  }
  return plots;
}

// ---------------------------------------------------------------------------------------------------------------
// HTML

/** A grid for the HTML page: column headings and rows of PNG data URLs (undefined = missing result). */
export interface HtmlGrid {
  columns: string[];
  rows: { image: string; cells: (string | undefined)[] }[];
  /** Display width of a cell in CSS pixels. */
  cellWidth: number;
}

const CSS = `
body{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#222;line-height:1.4}
h1{font-size:24px;margin-bottom:4px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.best{font-weight:bold;background:#eef7ee}.ok{color:#1a7f37}.bad{color:#c62828;font-weight:bold}.muted{color:#666;font-size:13px}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plots figure{margin:0;border:1px solid #eee;padding:4px}
img.cell{image-rendering:pixelated;display:block}table.grid td{padding:2px;border:none}table.grid th{font-size:12px;border:none;background:none;max-width:160px}
pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px}code{font-size:12px}
`;

function esc(s: string): string {
  return xmlEscape(s);
}

/** One self-contained HTML page: what was run, on which data, how long; summary table; plots; sample grid. */
export function reportHtml(d: EvalReportData, plots: Plot[], grid: HtmlGrid | undefined): string {
  const best = bestRuns(d.runs, d.columns);
  const violations = d.runs.reduce((a, r) => a + r.knownPixelViolations, 0);
  const outputs = d.runs.reduce((a, r) => a + r.ok, 0);
  const failed = d.runs.reduce((a, r) => a + r.failed, 0);
  const h: string[] = [];
  h.push('<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">', `<title>${esc(d.title)}</title>`, `<style>${CSS}</style>`, '</head><body>');
  h.push(`<h1>${esc(d.title)}</h1>`);
  if (d.description) h.push(`<p>${esc(d.description)}</p>`);
  h.push(`<p class="muted">Config <code>${esc(d.configFile)}</code> · started ${esc(d.startedAt)} · finished ${esc(d.finishedAt)} · total ${esc(fmtSeconds(d.seconds))}</p>`);

  h.push('<h2>What was run</h2>');
  h.push(`<p><b>Data:</b> ${esc(d.dataset.description)}.`
    + (d.dataset.unmatched.length ? ` ${d.dataset.unmatched.length} image(s) skipped (no mask): ${esc(d.dataset.unmatched.join(', '))}.` : '')
    + ' The original image is the reference; metrics are computed on the 8-bit result as saved.</p>');
  h.push(`<p><b>Metrics:</b> ${d.columns.map((c) => esc(c.label)).join(', ')}. <i>hole</i> = over the hole pixels only, <i>image</i> = over the whole image; boundary consistency = |seam jump of the result − the reference's own jump| across the mask border.</p>`);
  h.push('<table><tr><th>run</th><th>pipeline</th><th>seed</th><th>channels</th><th>images</th><th>wall time</th></tr>');
  for (const r of d.runs) {
    h.push(`<tr><td>${esc(r.run)}</td><td><code>${esc(r.pipeline)}</code></td><td class="num">${r.seed}</td><td>${esc(r.channels)}</td><td class="num">${r.images}</td><td class="num">${esc(fmtSeconds(r.wallSeconds))}</td></tr>`);
  }
  h.push('</table>');
  h.push(`<p class="muted">Environment: ${Object.entries(d.environment).map(([k, v]) => `${esc(k)} ${esc(v)}`).join(' · ')}</p>`);

  h.push('<h2>Summary</h2>');
  h.push(`<p>Mean ± standard deviation over images (best per column highlighted). Known-pixel check: `
    + (violations === 0 ? `<span class="ok">0 violations in ${outputs} outputs ✓</span>` : `<span class="bad">${violations} known pixels changed ✗</span>`)
    + (failed ? ` · <span class="bad">${failed} failed image run(s)</span>` : '') + '</p>');
  h.push(`<table><tr><th>run</th><th>images</th>${d.columns.map((c) => `<th>${esc(c.label)}</th>`).join('')}<th>time / image</th><th>known-pixel violations</th><th>failed</th></tr>`);
  d.runs.forEach((r, ri) => {
    const cells = d.columns.map((c) => `<td class="num${best[c.key] === ri ? ' best' : ''}">${esc(fmtStat(r.metrics[c.key], c.metric))}</td>`).join('');
    h.push(`<tr><td>${esc(r.run)}</td><td class="num">${r.ok}</td>${cells}<td class="num">${esc(fmtSeconds(r.timeMs.total.mean / 1000))}</td>`
      + `<td class="num${r.knownPixelViolations ? ' bad' : ''}">${r.knownPixelViolations}</td><td class="num${r.failed ? ' bad' : ''}">${r.failed}</td></tr>`);
  });
  h.push('</table>');

  h.push('<h2>Plots</h2><div class="plots">');
  for (const p of plots) h.push(`<figure>${inlineSvg(p.svg)}</figure>`);
  h.push('</div>');

  if (grid && grid.rows.length) {
    h.push('<h2>Samples</h2>');
    h.push('<p class="muted">Rows: images. Columns: the input with its hole (magenta), each run\'s result, the reference. The same grid is saved as <code>grid.png</code>.</p>');
    h.push(`<table class="grid"><tr><th>image</th>${grid.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`);
    for (const row of grid.rows) {
      const cells = row.cells.map((u, k) => (u
        ? `<td><img class="cell" width="${grid.cellWidth}" src="${u}" alt="${esc(`${row.image}: ${grid.columns[k]}`)}"></td>`
        : '<td class="muted">failed</td>')).join('');
      h.push(`<tr><th>${esc(row.image)}</th>${cells}</tr>`);
    }
    h.push('</table>');
  }

  const failures = d.rows.filter((r) => r.status === 'failed');
  if (failures.length) {
    h.push('<h2>Failures</h2><table><tr><th>run</th><th>image</th><th>error</th></tr>');
    for (const f of failures) h.push(`<tr><td>${esc(f.run)}</td><td>${esc(f.image)}</td><td>${esc(f.error ?? '')}</td></tr>`);
    h.push('</table>');
  }

  h.push('<h2>Per image</h2><details><summary>Table of every image and run</summary>');
  h.push(`<table><tr><th>run</th><th>image</th>${d.columns.map((c) => `<th>${esc(c.key)}</th>`).join('')}<th>time</th></tr>`);
  for (const r of d.rows) {
    h.push(`<tr><td>${esc(r.run)}</td><td>${esc(r.image)}</td>${d.columns.map((c) => `<td class="num">${esc(r.status === 'ok' ? fmtValue(r.metrics[c.key], c.metric) : '–')}</td>`).join('')}`
      + `<td class="num">${esc(r.totalMs === undefined ? '–' : fmtSeconds(r.totalMs / 1000))}</td></tr>`);
  }
  h.push('</table></details>');

  h.push('<h2>Config</h2><details><summary>The eval config as parsed (defaults filled in)</summary>');
  h.push(`<pre>${esc(YAML.stringify(d.config))}</pre></details>`);
  h.push('<p class="muted">Written by <code>diff2s eval</code>. Files next to this report: summary.md/.csv/.json, per-image.csv/.json, plots/*.svg, grid.png, masks/, results/.</p>');
  h.push('</body></html>');
  return h.join('\n') + '\n';
}

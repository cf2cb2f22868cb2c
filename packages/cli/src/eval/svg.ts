/**
 * A tiny dependency-free SVG chart module: bar charts with error bars and line charts (several series, optional
 * error bars). Output is a standalone, well-formed SVG document string (no scripts, no external references);
 * {@link inlineSvg} strips the XML namespace for embedding in HTML.
 */

export interface Bar {
  label: string;
  value: number;
  /** Half-length of the error bar (e.g. one standard deviation). */
  error?: number;
  /** Highlight (e.g. the best value). */
  highlight?: boolean;
}

export interface BarChartOptions {
  title: string;
  yLabel?: string;
  bars: Bar[];
  width?: number;
  height?: number;
}

export interface LinePoint {
  x: number;
  y: number;
  error?: number;
}

export interface Series {
  name: string;
  points: LinePoint[];
}

export interface LineChartOptions {
  title: string;
  xLabel?: string;
  yLabel?: string;
  series: Series[];
  width?: number;
  height?: number;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

/** Escape text for XML content and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

function num(v: number): string {
  return (Math.round(v * 100) / 100).toString();
}

/** "Nice" tick values covering [lo, hi] (about `count` of them). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi === lo) {
    const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const start = Math.floor(lo / step) * step;
  const ticks: number[] = [];
  for (let t = start; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1] < hi) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function frame(w: number, h: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img">`,
    `<title>${xmlEscape(title)}</title>`,
    `<rect x="0" y="0" width="${w}" height="${h}" fill="#ffffff"/>`,
    `<text x="${w / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold" ${FONT}>${xmlEscape(title)}</text>`,
    ...body,
    '</svg>',
  ].join('\n');
}

interface Axis {
  toY(v: number): number;
  t0: number;
  t1: number;
  lines: string[];
}

function yAxis(lo: number, hi: number, left: number, top: number, plotW: number, plotH: number, label?: string): Axis {
  const ticks = niceTicks(lo, hi);
  const t0 = ticks[0], t1 = ticks[ticks.length - 1];
  const toY = (v: number) => top + plotH - ((v - t0) / (t1 - t0 || 1)) * plotH;
  const lines: string[] = [];
  for (const t of ticks) {
    const y = num(toY(t));
    lines.push(`<line x1="${left}" y1="${y}" x2="${left + plotW}" y2="${y}" stroke="#e0e0e0" stroke-width="1"/>`);
    lines.push(`<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11" ${FONT}>${xmlEscape(fmt(t))}</text>`);
  }
  lines.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333" stroke-width="1"/>`);
  lines.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333" stroke-width="1"/>`);
  if (label) {
    const cy = top + plotH / 2;
    lines.push(`<text x="14" y="${num(cy)}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${num(cy)})" ${FONT}>${xmlEscape(label)}</text>`);
  }
  return { toY, lines, t0, t1 };
}

function clampTo(axis: Axis, v: number): number {
  return Math.min(axis.t1, Math.max(axis.t0, v));
}

function range(values: number[]): [number, number] {
  const f = values.filter(Number.isFinite);
  if (f.length === 0) return [0, 1];
  return [Math.min(...f), Math.max(...f)];
}

/** A bar chart with error bars; bars with a non-finite value are drawn as a "n/a" label. */
export function barChart(o: BarChartOptions): string {
  const n = Math.max(1, o.bars.length);
  const longest = Math.max(0, ...o.bars.map((b) => b.label.length));
  const rotate = n > 4 || longest > 12;
  const w = o.width ?? Math.max(360, Math.min(1200, 80 + n * 56));
  const bottom = rotate ? Math.min(160, 24 + Math.ceil(longest * 4.4)) : 40;
  const h = o.height ?? 300 + (rotate ? bottom - 40 : 0);
  const left = 64, top = 36, plotW = w - left - 16, plotH = h - top - bottom;
  const lows = o.bars.map((b) => b.value - (b.error ?? 0));
  const highs = o.bars.map((b) => b.value + (b.error ?? 0));
  let [lo, hi] = range([...lows, ...highs]);
  // non-negative quantities (times, distances): no axis below 0 for error bars
  if (o.bars.every((b) => !Number.isFinite(b.value) || b.value >= 0)) lo = Math.max(lo, 0);
  if (lo > 0 && lo < hi * 0.5) lo = 0; // start at 0 when that does not squash the differences
  const axis = yAxis(lo, hi, left, top, plotW, plotH, o.yLabel);
  const body = [...axis.lines];
  const slot = plotW / n;
  const bw = Math.min(48, slot * 0.7);
  const baseY = axis.toY(Math.min(Math.max(0, axis.t0), axis.t1));
  o.bars.forEach((b, i) => {
    const cx = left + slot * (i + 0.5);
    const color = b.highlight ? '#d62728' : PALETTE[0];
    if (Number.isFinite(b.value)) {
      const y = axis.toY(b.value);
      const y0 = Math.min(y, baseY), hh = Math.max(1, Math.abs(baseY - y));
      body.push(`<rect x="${num(cx - bw / 2)}" y="${num(y0)}" width="${num(bw)}" height="${num(hh)}" fill="${color}" fill-opacity="0.85"><title>${xmlEscape(`${b.label}: ${fmt(b.value)}${b.error ? ` ± ${fmt(b.error)}` : ''}`)}</title></rect>`);
      if (b.error && Number.isFinite(b.error) && b.error > 0) {
        const ya = num(axis.toY(clampTo(axis, b.value - b.error))), yb = num(axis.toY(clampTo(axis, b.value + b.error)));
        body.push(`<line x1="${num(cx)}" y1="${ya}" x2="${num(cx)}" y2="${yb}" stroke="#222" stroke-width="1.5"/>`);
        body.push(`<line x1="${num(cx - 6)}" y1="${ya}" x2="${num(cx + 6)}" y2="${ya}" stroke="#222" stroke-width="1.5"/>`);
        body.push(`<line x1="${num(cx - 6)}" y1="${yb}" x2="${num(cx + 6)}" y2="${yb}" stroke="#222" stroke-width="1.5"/>`);
      }
    } else {
      body.push(`<text x="${num(cx)}" y="${num(top + plotH - 6)}" text-anchor="middle" font-size="10" ${FONT}>n/a</text>`);
    }
    const ly = top + plotH + 14;
    if (rotate) {
      body.push(`<text x="${num(cx)}" y="${ly}" text-anchor="end" font-size="11" transform="rotate(-40 ${num(cx)} ${ly})" ${FONT}>${xmlEscape(b.label)}</text>`);
    } else {
      body.push(`<text x="${num(cx)}" y="${ly + 2}" text-anchor="middle" font-size="11" ${FONT}>${xmlEscape(b.label)}</text>`);
    }
  });
  return frame(w, h, o.title, body);
}

/** A line chart: one polyline per series with markers and optional error bars, a legend on the right. */
export function lineChart(o: LineChartOptions): string {
  const legendW = Math.min(260, 30 + 7 * Math.max(0, ...o.series.map((s) => s.name.length)));
  const w = o.width ?? 560 + legendW;
  const h = o.height ?? 320;
  const left = 64, top = 36, right = legendW + 16, bottom = 48;
  const plotW = w - left - right, plotH = h - top - bottom;
  const pts = o.series.flatMap((s) => s.points);
  let [xlo, xhi] = range(pts.map((p) => p.x));
  if (xlo === xhi) {
    xlo -= 1;
    xhi += 1;
  }
  let [ylo, yhi] = range(pts.flatMap((p) => [p.y - (p.error ?? 0), p.y + (p.error ?? 0)]));
  if (pts.every((p) => !Number.isFinite(p.y) || p.y >= 0)) ylo = Math.max(ylo, 0);
  if (ylo > yhi) [ylo, yhi] = [yhi, ylo];
  const axis = yAxis(ylo, yhi, left, top, plotW, plotH, o.yLabel);
  const xt = niceTicks(xlo, xhi);
  const x0 = Math.min(xt[0], xlo), x1 = Math.max(xt[xt.length - 1], xhi);
  const toX = (v: number) => left + ((v - x0) / (x1 - x0 || 1)) * plotW;
  const body = [...axis.lines];
  for (const t of xt) {
    if (t < x0 || t > x1) continue;
    const x = num(toX(t));
    body.push(`<line x1="${x}" y1="${top + plotH}" x2="${x}" y2="${top + plotH + 4}" stroke="#333" stroke-width="1"/>`);
    body.push(`<text x="${x}" y="${top + plotH + 16}" text-anchor="middle" font-size="11" ${FONT}>${xmlEscape(fmt(t))}</text>`);
  }
  if (o.xLabel) body.push(`<text x="${num(left + plotW / 2)}" y="${h - 8}" text-anchor="middle" font-size="12" ${FONT}>${xmlEscape(o.xLabel)}</text>`);
  o.series.forEach((s, si) => {
    const color = PALETTE[si % PALETTE.length];
    const good = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    if (good.length > 1) {
      body.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${good.map((p) => `${num(toX(p.x))},${num(axis.toY(p.y))}`).join(' ')}"/>`);
    }
    for (const p of good) {
      const cx = num(toX(p.x)), cy = num(axis.toY(p.y));
      if (p.error && Number.isFinite(p.error) && p.error > 0) {
        body.push(`<line x1="${cx}" y1="${num(axis.toY(clampTo(axis, p.y - p.error)))}" x2="${cx}" y2="${num(axis.toY(clampTo(axis, p.y + p.error)))}" stroke="${color}" stroke-width="1" stroke-opacity="0.7"/>`);
      }
      body.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${color}"><title>${xmlEscape(`${s.name}: x=${fmt(p.x)}, y=${fmt(p.y)}${p.error ? ` ± ${fmt(p.error)}` : ''}`)}</title></circle>`);
    }
    const ly = top + 10 + si * 18;
    const lx = w - right + 12;
    body.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    body.push(`<text x="${lx + 24}" y="${ly}" dominant-baseline="middle" font-size="11" ${FONT}>${xmlEscape(s.name)}</text>`);
  });
  return frame(w, h, o.title, body);
}

/** The SVG without its XML namespace declaration, for inline use in HTML5. */
export function inlineSvg(svg: string): string {
  return svg.replace(' xmlns="http://www.w3.org/2000/svg"', '');
}

import cliProgress from 'cli-progress';

/**
 * A duration for people: `42s`, `3m05s`, `2h07m`; rounded before it is split (never `1m60s`); `--` when unknown
 * (NaN, ±Infinity, negative).
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Seconds left at a constant rate: `elapsed` for `done` of `total` units (NaN before any progress). */
export function linearEta(elapsedSeconds: number, done: number, total: number): number {
  if (!(done > 0) || !(elapsedSeconds > 0)) return NaN;
  return Math.max(0, (elapsedSeconds / done) * Math.max(0, total - done));
}

/**
 * Seconds left in a batch, from image times: the mean time of the images finished well (`okSeconds`) times the images
 * not started, plus what the current one has left (by its own progress when it has some, else the mean less its
 * elapsed time). Before any image finished, the current image's own rate stands in for the mean. NaN when unknown.
 */
export function batchEta(okSeconds: readonly number[], remaining: number, current?: { elapsed: number; fraction: number }): number {
  const cur = current && current.fraction > 0.02 && current.elapsed > 0 ? current.elapsed / current.fraction : NaN;
  const mean = okSeconds.length ? okSeconds.reduce((a, b) => a + b, 0) / okSeconds.length : cur;
  if (!Number.isFinite(mean)) return NaN;
  if (!current) return mean * remaining;
  const curLeft = Number.isFinite(cur) ? cur * (1 - Math.min(1, current.fraction)) : Math.max(0, mean - current.elapsed);
  return Math.max(0, mean * Math.max(0, remaining - 1) + curLeft);
}

/** Where progress goes: stderr by default; `tty` picks the live bars (default: a TTY, and not CI). */
export interface ProgressOutput {
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  tty?: boolean;
}

function isLiveTty(stream: { isTTY?: boolean }): boolean {
  return !!stream.isTTY && !process.env.CI;
}

/**
 * A progress bar with ETA on a TTY (cli-progress); on a non-TTY (CI, pipes) a line every ~10% so logs stay short.
 * All output goes to stderr so stdout stays clean for data.
 */
export class Progress {
  private bar?: cliProgress.SingleBar;
  private lastPct = -1;
  private total = 0;
  private started = 0;
  private readonly tty: boolean;
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean };

  constructor(private readonly label: string, private readonly enabled = true, out: ProgressOutput = {}) {
    this.stream = out.stream ?? process.stderr;
    this.tty = out.tty ?? isLiveTty(this.stream);
  }

  start(total: number, payload: Record<string, string | number> = {}): void {
    if (!this.enabled) return;
    this.total = total;
    this.lastPct = -1;
    this.started = performance.now();
    if (this.tty) {
      this.bar = new cliProgress.SingleBar(
        {
          // the ETA is ours (formatDuration): cli-progress's prints `1m60s` and `NFs`
          format: `${this.label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_text} | {info}`,
          stream: this.stream,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, 0, { info: '', eta_text: '--', ...payload });
    } else {
      this.stream.write(`${this.label}: 0/${total}\n`);
    }
  }

  update(value: number, info = ''): void {
    if (!this.enabled) return;
    if (this.bar) {
      const eta = linearEta((performance.now() - this.started) / 1000, value, this.total);
      this.bar.update(value, { info, eta_text: formatDuration(eta) });
    } else {
      const pct = this.total ? Math.floor((value / this.total) * 10) : 10;
      if (pct > this.lastPct && value > 0) {
        this.lastPct = pct;
        this.stream.write(`${this.label}: ${value}/${this.total}${info ? ` ${info}` : ''}\n`);
      }
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

/** How one image of a batch ended. */
export type ImageStatus = 'ok' | 'failed';

/**
 * The progress of a batch: images done/total with an ETA from image times (a failed image counts as done, so the bar
 * reaches the end), and below it a bar of the current image's steps (guide, fit, refiner steps). On a non-TTY one line
 * per finished image. `log` prints a line above the bars.
 */
export class BatchProgress {
  private multi?: cliProgress.MultiBar;
  private images?: cliProgress.SingleBar;
  private steps?: cliProgress.SingleBar;
  private readonly tty: boolean;
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean };
  private done = 0;
  private failed = 0;
  private readonly okSeconds: number[] = [];
  private current?: { name: string; units: number; started: number; value: number };

  constructor(private readonly total: number, private readonly enabled = true, out: ProgressOutput = {}) {
    this.stream = out.stream ?? process.stderr;
    this.tty = out.tty ?? isLiveTty(this.stream);
    if (!enabled) return;
    if (this.tty) {
      this.multi = new cliProgress.MultiBar(
        { stream: this.stream, hideCursor: true, clearOnComplete: false, autopadding: true, barsize: 30 },
        cliProgress.Presets.shades_classic,
      );
      this.images = this.multi.create(total, 0, this.payload(), { format: 'images [{bar}] {value}/{total} done{failed_text} | ETA {eta_text} | {name}' });
    } else {
      this.stream.write(`images: 0/${total}\n`);
    }
  }

  /** Seconds left in the batch (NaN while unknown). */
  eta(): number {
    const cur = this.current;
    const curInfo = cur ? { elapsed: (performance.now() - cur.started) / 1000, fraction: cur.units ? cur.value / cur.units : 0 } : undefined;
    return batchEta(this.okSeconds, this.total - this.done, curInfo);
  }

  private payload(): Record<string, string> {
    return {
      name: this.current?.name ?? '',
      eta_text: this.done === this.total ? '0s' : formatDuration(this.eta()),
      failed_text: this.failed ? `, ${this.failed} failed` : '',
    };
  }

  /** The next image starts; its work is `units` (guide + fit + refiner steps). */
  startImage(name: string, units: number): void {
    this.current = { name, units, started: performance.now(), value: 0 };
    if (!this.multi) return;
    this.images!.update(this.done, this.payload());
    if (this.steps) this.steps.setTotal(units);
    else this.steps = this.multi.create(units, 0, { info: '' }, { format: '{name} [{bar}] {percentage}% | {info}' });
    this.steps.update(0, { name: `${this.done + 1}/${this.total} ${name}`, info: '' });
  }

  /** Progress inside the current image. */
  step(value: number, info = ''): void {
    if (!this.current) return;
    this.current.value = value;
    if (!this.multi) return;
    this.steps?.update(value, { info });
    this.images!.update(this.done, this.payload());
  }

  /** The current image ended (well or not) after `seconds`. */
  endImage(status: ImageStatus, seconds: number): void {
    const name = this.current?.name ?? '';
    this.current = undefined;
    this.done++;
    if (status === 'ok') this.okSeconds.push(seconds);
    else this.failed++;
    if (!this.enabled) return;
    if (this.multi) {
      this.images!.update(this.done, { ...this.payload(), name });
    } else {
      const eta = this.done === this.total ? '' : ` | ETA ${formatDuration(this.eta())}`;
      this.stream.write(`images: ${this.done}/${this.total} done${this.failed ? `, ${this.failed} failed` : ''} (${name}: ${status}, ${seconds.toFixed(1)} s)${eta}\n`);
    }
  }

  /** A line above the bars (or just a line). */
  log(line: string): void {
    if (this.multi) this.multi.log(`${line}\n`);
    else this.stream.write(`${line}\n`);
  }

  stop(): void {
    if (this.multi) {
      this.multi.update(); // cli-progress prints logged lines only on a redraw, and stop() does none
      if (this.steps) this.multi.remove(this.steps);
      this.steps = undefined;
      this.multi.stop();
      this.multi = undefined;
    }
  }
}

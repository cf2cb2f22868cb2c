import cliProgress from 'cli-progress';

/**
 * A progress bar with ETA on a TTY (cli-progress); on a non-TTY (CI, pipes) a line every ~10% so logs stay short.
 * All output goes to stderr so stdout stays clean for data.
 */
export class Progress {
  private bar?: cliProgress.SingleBar;
  private lastPct = -1;
  private total = 0;
  private readonly tty: boolean;

  constructor(private readonly label: string, private readonly enabled = true) {
    this.tty = !!process.stderr.isTTY && !process.env.CI;
  }

  start(total: number, payload: Record<string, string | number> = {}): void {
    if (!this.enabled) return;
    this.total = total;
    if (this.tty) {
      this.bar = new cliProgress.SingleBar(
        {
          format: `${this.label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} | {info}`,
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, 0, { info: '', ...payload });
    } else {
      process.stderr.write(`${this.label}: 0/${total}\n`);
    }
  }

  update(value: number, info = ''): void {
    if (!this.enabled) return;
    if (this.bar) this.bar.update(value, { info });
    else {
      const pct = this.total ? Math.floor((value / this.total) * 10) : 10;
      if (pct > this.lastPct && value > 0) {
        this.lastPct = pct;
        process.stderr.write(`${this.label}: ${value}/${this.total}${info ? ` ${info}` : ''}\n`);
      }
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

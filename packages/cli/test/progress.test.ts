/**
 * Progress output (issue 21): durations never print `1m60s` or `NFs`; the batch ETA comes from image times; the batch
 * bar counts images (a failed one too, so it reaches the end) over a bar of the current image's steps.
 */
import { Writable } from 'stream';
import { BatchProgress, Progress, batchEta, formatDuration, linearEta } from '../src/progress';
import { batchSummaryCsv, batchSummaryJson } from '../src/batch-summary';

/** A stream that keeps what is written; `isTTY` as asked. */
function sink(isTTY: boolean): Writable & { isTTY: boolean; text: () => string; columns: number } {
  const chunks: string[] = [];
  const s = new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } }) as Writable & { isTTY: boolean; text: () => string; columns: number };
  s.isTTY = isTTY;
  s.columns = 120;
  s.text = () => chunks.join('');
  (s as unknown as { cursorTo: () => boolean }).cursorTo = () => true;
  (s as unknown as { clearLine: () => boolean }).clearLine = () => true;
  (s as unknown as { moveCursor: () => boolean }).moveCursor = () => true;
  (s as unknown as { clearScreenDown: () => boolean }).clearScreenDown = () => true;
  return s;
}

describe('formatDuration', () => {
  it('rounds before splitting: never 60 seconds in a minute', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(42.4)).toBe('42s');
    expect(formatDuration(59.6)).toBe('1m00s');
    expect(formatDuration(119.7)).toBe('2m00s');
    expect(formatDuration(185)).toBe('3m05s');
    expect(formatDuration(3599.6)).toBe('1h00m');
    expect(formatDuration(7620)).toBe('2h07m');
  });
  it('unknown (NaN, Infinity, negative) is --', () => {
    for (const x of [NaN, Infinity, -Infinity, -1]) expect(formatDuration(x)).toBe('--');
  });
});

describe('ETAs', () => {
  it('linear: elapsed per unit times the units left; unknown before any progress', () => {
    expect(linearEta(10, 5, 20)).toBeCloseTo(30);
    expect(linearEta(0, 0, 20)).toBeNaN();
  });
  it('batch: the mean of the images finished well, times those left, plus what the current one has left', () => {
    // 2 images done in 10 s and 14 s (mean 12), 3 left counting the current one, which is half done after 6 s
    expect(batchEta([10, 14], 3, { elapsed: 6, fraction: 0.5 })).toBeCloseTo(12 * 2 + 6);
    // no progress inside the current image yet: the mean less its elapsed time
    expect(batchEta([10, 14], 3, { elapsed: 4, fraction: 0 })).toBeCloseTo(12 * 2 + 8);
    // before any image finished: the current image's own rate
    expect(batchEta([], 4, { elapsed: 5, fraction: 0.25 })).toBeCloseTo(20 * 3 + 15);
    expect(batchEta([], 4, { elapsed: 0, fraction: 0 })).toBeNaN();
    expect(batchEta([8], 0)).toBe(0);
  });
});

describe('BatchProgress', () => {
  it('on a non-TTY: one line per finished image, a failed image counted, the last at total/total', () => {
    const s = sink(false);
    const p = new BatchProgress(3, true, { stream: s, tty: false });
    for (const [name, status] of [['a.png', 'ok'], ['b.png', 'failed'], ['c.png', 'ok']] as const) {
      p.startImage(name, 101);
      for (let k = 0; k <= 101; k += 10) p.step(k, `step ${k}`);
      p.endImage(status, 1.25);
    }
    p.stop();
    const lines = s.text().trim().split('\n');
    expect(lines).toEqual([
      'images: 0/3',
      expect.stringMatching(/^images: 1\/3 done \(a\.png: ok, 1\.3 s\) \| ETA \d+s$/),
      expect.stringMatching(/^images: 2\/3 done, 1 failed \(b\.png: failed, 1\.3 s\) \| ETA \d+s$/),
      'images: 3/3 done, 1 failed (c.png: ok, 1.3 s)',
    ]);
  });

  it('on a TTY: an images bar (done/total, ETA) and a step bar of the current image; it ends at 3/3 after a failure', async () => {
    const s = sink(true);
    const p = new BatchProgress(3, true, { stream: s, tty: true });
    for (const [name, status] of [['a.png', 'ok'], ['b.png', 'failed'], ['c.png', 'ok']] as const) {
      p.startImage(name, 1206);
      for (let k = 0; k <= 1206; k += 603) {
        p.step(k, `step ${k}/1206`);
        await new Promise((r) => setTimeout(r, 120)); // the bars redraw on a timer
      }
      p.endImage(status, 2);
    }
    p.stop();
    // eslint-disable-next-line no-control-regex
    const text = s.text().replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    expect(text).toMatch(/images \[[^\]]*\] 3\/3 done, 1 failed \| ETA 0s/);
    expect(text).toMatch(/\d\/3 \w\.png \[[^\]]*\] \d+% \| step \d+\/1206/);
    // the images bar never shows refiner steps as its counts
    expect(text).not.toMatch(/images \[[^\]]*\] \d{2,}\//);
    expect(text).not.toMatch(/60s|NF|NaN|Infinity/);
  });

  it('on a TTY: a line logged just before the end (the last image\'s error) is printed, not lost', () => {
    const s = sink(true);
    const p = new BatchProgress(1, true, { stream: s, tty: true });
    p.startImage('a.png', 10);
    p.log('ERROR: a.png is broken (skipped)');
    p.endImage('failed', 0.1);
    p.stop();
    expect(s.text()).toContain('ERROR: a.png is broken (skipped)');
    // also with no image started (no step bar): e.g. the run's first line, then a failure before any image
    const s2 = sink(true);
    const p2 = new BatchProgress(2, true, { stream: s2, tty: true });
    p2.log('diff2s: guide mean');
    p2.stop();
    expect(s2.text()).toContain('diff2s: guide mean');
  });

  it('disabled (quiet): writes nothing', () => {
    const s = sink(false);
    const p = new BatchProgress(2, false, { stream: s, tty: false });
    p.startImage('a.png', 3);
    p.step(2);
    p.endImage('ok', 1);
    p.stop();
    expect(s.text()).toBe('');
  });
});

describe('Progress (single image)', () => {
  it('its TTY bar prints our ETA, never cli-progress\'s', () => {
    const s = sink(true);
    const p = new Progress('inpaint', true, { stream: s, tty: true });
    p.start(100);
    p.update(50, 'step 50');
    p.update(100, 'step 100');
    p.stop();
    // eslint-disable-next-line no-control-regex
    const text = s.text().replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    expect(text).toMatch(/inpaint \[[^\]]*\] 100% \| 100\/100 \| ETA 0s \| step 100/);
    expect(text).not.toMatch(/NF|NaN|Infinity/);
  });
});

describe('batch summary files', () => {
  const records = [
    { input: '/in/a.png', mask: '/m/a.png', outputs: ['/o/a_stage1.png', '/o/a_stage2.png'], status: 'ok' as const, seconds: 1.23456 },
    { input: '/in/b, "x".png', mask: '/m/b.png', outputs: [], status: 'failed' as const, error: 'b is broken', seconds: 0.5 },
    { input: '/in/c.png', outputs: [], status: 'skipped' as const, error: 'no mask', seconds: 0 },
  ];
  it('CSV: one row per input, outputs ;-separated, cells quoted where needed', () => {
    expect(batchSummaryCsv(records).trim().split('\n')).toEqual([
      'input,mask,outputs,status,error,seconds',
      '/in/a.png,/m/a.png,/o/a_stage1.png;/o/a_stage2.png,ok,,1.235',
      '"/in/b, ""x"".png",/m/b.png,,failed,b is broken,0.500',
      '/in/c.png,,,skipped,no mask,0.000',
    ]);
  });
  it('JSON: counts and records', () => {
    const j = JSON.parse(batchSummaryJson(records));
    expect(j).toMatchObject({ images: 3, ok: 1, failed: 1, skipped: 1, seconds: 1.735 });
    expect(j.records[0]).toEqual({ input: '/in/a.png', mask: '/m/a.png', outputs: ['/o/a_stage1.png', '/o/a_stage2.png'], status: 'ok', seconds: 1.235 });
  });
});

describe('progress units of one image', () => {
  const { progressUnits } = require('../src/commands/inpaint') as typeof import('../src/commands/inpaint');
  const { PipelineConfig } = require('../src/config/schema') as typeof import('../src/config/schema');
  const pipe = (refinerSteps: number, fits: boolean) => ({ refinerSteps, fits }) as never;
  it("counts the guide, a fit's 100, the refiner's steps and the validating guard's refinement steps", () => {
    expect(progressUnits(PipelineConfig.parse({ refiner: {} }), pipe(10, true))).toEqual({ fit: 100, validate: 10, total: 121 });
    expect(progressUnits(PipelineConfig.parse({ refiner: { guardMethod: 'texture' } }), pipe(10, false))).toEqual({ fit: 0, validate: 0, total: 11 });
    expect(progressUnits(PipelineConfig.parse({ refiner: { guard: false } }), pipe(10, false)).total).toBe(11);
    expect(progressUnits(PipelineConfig.parse({ refiner: { enabled: false } }), pipe(0, false))).toEqual({ fit: 0, validate: 0, total: 1 });
  });
});

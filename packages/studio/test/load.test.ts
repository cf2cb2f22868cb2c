import * as v8 from 'v8';
import * as vm from 'vm';
import { EventStream, postJob, startFake, testImage, testMask } from './helpers';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

async function memory(): Promise<{ heap: number; rss: number }> {
  for (let i = 0; i < 4; i++) {
    gc();
    await settle();
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

describe('studio load test on loopback', () => {
  it('queues 20 concurrent jobs, completes them all, and memory returns near baseline', async () => {
    const s = await startFake({ defaultTk: 5 }, { keepFinishedJobs: 4 });
    try {
      const img = await testImage(64, 48);
      const mask = await testMask(64, 48, { x0: 16, y0: 10, x1: 44, y1: 36 });
      // warm up (sharp, JIT, sockets) before measuring the baseline
      const warm = await postJob(s.base, { image: img.png, mask: mask.png });
      await new EventStream(`${s.base}${warm.body.events}`).finished;
      const before = await memory();

      const jobs = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          postJob(s.base, { image: img.png, mask: mask.png, pipeline: { guide: { type: 'mean' }, refiner: { enabled: true, tk: 5 }, seed: i, samples: 1 } }),
        ),
      );
      expect(jobs.every((j) => j.status === 202)).toBe(true);
      const positions = jobs.map((j) => j.body.position).sort((a, b) => a - b);
      expect(positions.filter((p) => p > 0).length).toBeGreaterThanOrEqual(19); // all but the first waited
      const streams = jobs.map((j) => new EventStream(`${s.base}${j.body.events}`));
      const ends = await Promise.all(streams.map((e) => e.finished));
      expect(ends.map((e) => e.event)).toEqual(Array(20).fill('done'));
      // every job saw its queue position move down to 1 before it ran (or ran at once)
      for (const es of streams) {
        const q = es.events.filter((e) => e.event === 'queued').map((e) => e.data.position);
        for (let i = 1; i < q.length; i++) expect(q[i]).toBeLessThan(q[i - 1]);
        if (es.events[0].event === 'queued') {
          // it waited, so it saw its whole run
          expect(es.events.filter((e) => e.event === 'progress' && e.data.stage === 'refiner').map((e) => e.data.step)).toEqual([1, 2, 3, 4, 5]);
        }
      }
      expect(s.backend.completed).toBe(21);
      expect(s.backend.maxConcurrentPerModel).toBe(1);
      const last = ends[19].data.stage2[0] as string;
      expect((await fetch(`${s.base}${last}`)).status).toBe(200);
      // old results were dropped (keepFinishedJobs: 4)
      expect((await fetch(`${s.base}/api/jobs/${jobs[0].body.id}`)).status).toBe(404);

      const after = await memory();
      const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
      if (process.env.STUDIO_LOAD_VERBOSE) console.log(`heap ${mb(before.heap)} → ${mb(after.heap)} MiB, rss ${mb(before.rss)} → ${mb(after.rss)} MiB`);
      // generous bounds: a leak of the 20 jobs' tensors (20 × 64×48 floats, images, previews, SSE buffers) would add up
      expect({ heapGrowthMiB: mb(after.heap - before.heap), ok: after.heap - before.heap < 24 * 1024 * 1024 }).toMatchObject({ ok: true });
      expect({ rssGrowthMiB: mb(after.rss - before.rss), ok: after.rss - before.rss < 160 * 1024 * 1024 }).toMatchObject({ ok: true });
      // the server still answers
      expect((await fetch(`${s.base}/api/info`)).status).toBe(200);
    } finally {
      await s.studio.close();
    }
  });
});

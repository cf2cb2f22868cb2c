import { readConfigFile } from '../config/load';
import { setPath } from '../config/parse';
import { train, TrainConfig, type TrainResult } from '@diff2s/engine';
import { ConfigErrors } from '../config/load';
import { zodErrors } from '@diff2s/core';
import { Progress } from '../progress';
import * as path from 'path';

export interface TrainFlags {
  config: string;
  resume?: boolean;
  steps?: number;
  workers?: number;
  output?: string;
  quiet?: boolean;
}

/** `diff2s train`: validated config → training job with a progress bar (loss, steps/s, ETA), checkpoints, resume. */
export async function trainCommand(flags: TrainFlags): Promise<TrainResult> {
  const { value, baseDir } = await readConfigFile(flags.config);
  const raw = structuredClone(value) as Record<string, unknown>;
  if (flags.steps !== undefined) setPath(raw, 'train.steps', flags.steps);
  if (flags.workers !== undefined) setPath(raw, 'train.workers', flags.workers);
  if (flags.output !== undefined) setPath(raw, 'output', path.resolve(process.cwd(), flags.output));
  const parsed = TrainConfig.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw new ConfigErrors(zodErrors(parsed.error));
  const cfg = parsed.data;
  const bar = new Progress('train', !flags.quiet);
  let started = false;
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once('SIGINT', onSig);
  try {
    const res = await train(cfg, {
      baseDir,
      resume: flags.resume,
      signal: ac.signal,
      onProgress: (p) => {
        if (!started) {
          bar.start(p.steps);
          started = true;
        }
        bar.update(p.step, `loss ${p.meanLoss.toFixed(4)} | ${p.stepsPerSec.toFixed(2)} steps/s | lr ${p.lr.toExponential(1)}`);
      },
      onCheckpoint: (s) => {
        if (flags.quiet) return;
        if (!process.stderr.isTTY || process.env.CI) process.stderr.write(`checkpoint at step ${s}\n`);
      },
    });
    bar.stop();
    return res;
  } finally {
    bar.stop();
    process.removeListener('SIGINT', onSig);
  }
}

/** The `batch` (submit, status, retry) and `worker` commands of `diff2s` (registered by bin.ts). */
import { Command, InvalidArgumentError, Option } from 'commander';
import { cliContainer } from '../pipeline';
// the queue's modules (BullMQ, ioredis) load when a queue command runs, not on every start of the CLI
const batchModule = () => import('./batch');
const workerModule = () => import('./worker');

const positiveInt = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive integer for ${name}, got "${v}"`);
  return n;
};
const int = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer for ${name}, got "${v}"`);
  return n;
};
const num = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number for ${name}, got "${v}"`);
  return n;
};
const collect = (v: string, prev: string[]) => [...prev, v];
const QUEUE_HELP = 'Redis URL of the queue: redis://[:password@]host[:port][/db] (never expose Redis publicly)';

export function addQueueCommands(program: Command): void {
  const batch = program
    .command('batch')
    .description(
      'batch inpainting as jobs on a Redis-backed queue (BullMQ), run by `diff2s worker` processes on any number of ' +
        'machines that see the same storage (a shared folder at the same path). Inputs, flags and output names are those ' +
        'of `diff2s inpaint` in batch mode: one job per image, <stem>_stage1.png, <stem>_stage2.png, … written atomically.',
    );
  batch
    .command('submit')
    .description('submit one job per image (the validated config travels with each job, every path in it absolute), or with --eval one per run × image of an eval config; prints the batch id')
    .option('-c, --config <file>', 'pipeline config (.yaml/.yml/.json); see `diff2s schema`')
    .option('-i, --image <path>', 'input folder (or one image file) (default: from the config)')
    .option('-m, --mask <path>', 'mask file for all images, or a folder matched by file stem')
    .addOption(new Option('--mask-convention <c>', 'which mask colour is the hole').choices(['hole-white', 'known-white']))
    .option('-o, --out <dir>', 'output folder, on the shared storage (default: ./out; for --eval: the eval config\'s output)')
    .option('-g, --guide <type>', 'stage-1 guide (sets guide.type): patch, mean, nearest, harmonic, constant, diffusion, onnx, file')
    .option('--model <dir>', 'the refiner\'s model folder (sets model.path; no fit)')
    .option('--no-refine', 'stage 1 only: no refiner, no fit')
    .option('-s, --seed <n>', 'random seed (default: config seed, else 0)', int('--seed'))
    .option('-n, --samples <n>', 'samples per image (default: 1)', int('--samples'))
    .option('--tk <n>', 'refiner intermediate step T_k', int('--tk'))
    .option('--fit <seconds>', 'fit the refiner\'s model to each image with this time budget', num('--fit'))
    .option('--no-fit', 'do not fit: use the config\'s model folder, else the shipped colour prior')
    .option('--keep-model <dir>', 'keep the fitted model as a model folder')
    .option('--concat', 'also write a side-by-side sheet per image')
    .option('--set <key=value>', 'override any config key (repeatable)', collect, [] as string[])
    .option('--eval <file>', 'an eval config (`diff2s eval`) instead: one job per run × image; --wait then writes the eval\'s tables, plots, grid and report')
    .option('--limit <n>', 'with --eval: only the first N images', positiveInt('--limit'))
    .option('--only <names...>', 'with --eval: only these runs or methods (by name)')
    .requiredOption('--queue <url>', QUEUE_HELP)
    .option('--wait', 'follow the batch to its end: a progress bar with ETA across all workers, then the summary; exit code as `diff2s inpaint`')
    .option('--attempts <n>', 'attempts per job for runtime errors (bad inputs fail at once, not retried)', positiveInt('--attempts'), 3)
    .option('--backoff <ms>', 'first retry delay in ms (exponential backoff)', positiveInt('--backoff'), 2000)
    .option('-q, --quiet', 'no progress output', false)
    .action(async (opts) => {
      const { fit, refine, ...rest } = opts;
      const { submitCommand } = await batchModule();
      const r = await submitCommand({
        ...rest, fit: typeof fit === 'number' ? fit : undefined, fitEnabled: fit === false ? false : undefined, refine: refine === false ? false : undefined,
      }, cliContainer());
      process.stdout.write(`${r.id}\n`);
      for (const d of r.state?.done ?? []) for (const o of d.outputs) process.stdout.write(`${o}\n`);
      process.exitCode = r.exitCode;
    });
  batch
    .command('status')
    .description('where a batch stands: done / failed (with their errors) / running / waiting')
    .argument('<id>', 'batch id (printed by submit)')
    .requiredOption('--queue <url>', QUEUE_HELP)
    .option('--json', 'print the state as JSON', false)
    .action(async (id: string, opts) => {
      const { statusCommand } = await batchModule();
      const r = await statusCommand(id, opts);
      process.stdout.write(`${r.text}\n`);
    });
  batch
    .command('retry')
    .description('put a batch\'s failed jobs back in the queue (fresh attempts); with --wait, follow it to its end (an eval batch: then write its report)')
    .argument('<id>', 'batch id')
    .requiredOption('--queue <url>', QUEUE_HELP)
    .option('--wait', 'follow the batch to its end', false)
    .option('-q, --quiet', 'no progress output', false)
    .action(async (id: string, opts) => {
      const { retryCommand } = await batchModule();
      const r = await retryCommand(id, opts, cliContainer());
      process.stdout.write(`${r.retried}\n`);
      process.exitCode = r.exitCode;
    });

  program
    .command('worker')
    .description(
      'run queued jobs with the CLI\'s pipeline runner (one model load per config, reused across jobs) until SIGTERM or ' +
        'SIGINT, which finish the current job and exit. Every path of a job must lie inside a --root (after symlinks). ' +
        'A worker killed mid-job has its job taken over by another after the lock expires (--lock-duration) and a ' +
        'stalled-job check runs (--stalled-interval).',
    )
    .requiredOption('--queue <url>', QUEUE_HELP)
    .option('--root <dir>', 'folder the worker may read and write (repeatable; default: the working directory)', collect, [] as string[])
    .option('--concurrency <n>', 'jobs run at once by this worker', positiveInt('--concurrency'), 1)
    .option('--lock-duration <ms>', 'job lock in ms (default: $DIFF2S_QUEUE_LOCK_MS, else 30000)', positiveInt('--lock-duration'))
    .option('--stalled-interval <ms>', 'stalled-job check interval in ms (default: $DIFF2S_QUEUE_STALLED_MS, else 30000)', positiveInt('--stalled-interval'))
    .option('-q, --quiet', 'log only errors', false)
    .action(async (opts) => {
      const { workerCommand } = await workerModule();
      process.exitCode = await workerCommand(opts, cliContainer());
    });
}

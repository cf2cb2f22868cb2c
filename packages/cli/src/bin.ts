#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, assertWritableFolder } from '@diff2s/core';
import { describeBackend, exportModelToOnnx, initEngine } from '@diff2s/engine';
import { cliContainer } from './pipeline';
import { infoCommand, modelInfoCommand } from './commands/info';
import { inpaintCommand } from './commands/inpaint';
import { masksCommand } from './commands/masks';
import { schemaCommand } from './commands/schema';
import { trainCommand } from './commands/train';
import { evalCommand, evalSchemaCommand } from './commands/eval';
import { idxCommand } from './commands/idx';
import { classifierEvalCommand, classifierTrainCommand } from './commands/classifier';
import { addQueueCommands } from './commands/queue-cli';
import { EXAMPLES_DIR } from './commands/inpaint';
import { ProcessStudioBackend } from './studio-process';
import { startStudio } from '@diff2s/studio';
import * as path from 'path';
import { reportError } from './errors';
import { Progress } from './progress';
import { VERSION } from './version';

function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer for ${name}, got "${v}"`);
    return n;
  };
}

function num(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number for ${name}, got "${v}"`);
    return n;
  };
}

/** Build the `diff2s` program (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('diff2s')
    .description('two-stage image inpainting: a guide fills the hole, the Diff-2sIR refiner makes it agree with the known pixels')
    .version(VERSION, '-V, --version', 'print the version of diff2s')
    .option('--debug', 'show stack traces on errors', false)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride() // inherited by the subcommands added below: usage errors exit 2, not 1
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('inpaint')
    .description(
      'run a pipeline (guide → refiner) on an image or a folder of images. With no --config it runs the embedded ' +
        'default, examples/default.yaml: a shipped brick texture and its mask, the patch guide, and a refiner model ' +
        'fitted to the image itself. Flags override the config.\n\n' +
        'The refiner\'s model: with no model folder in the config, a small model is fitted to each image (its known ' +
        'pixels only, warm-started from the shipped colour prior; --fit sets the time budget), cached by content in ' +
        '$DIFF2S_CACHE_DIR, else $XDG_CACHE_HOME/diff2s, else ~/.cache/diff2s. The guard (refiner.guard) keeps stage 1 ' +
        'where refining would make the hole less like the known pixels.\n\n' +
        'Outputs: <stem>_stage1.png, <stem>_stage2.png and, with --concat, <stem>_sheet.png (input | mask | stage 1 | ' +
        'stage 2). Batch mode: --image DIR with --mask DIR (matched by file stem) or one --mask FILE for all: a bar of ' +
        'images done with an ETA, a bar of the current image\'s steps, and <out>/summary.csv + summary.json (input, ' +
        'outputs, status, error, seconds) at the end.\n\n' +
        'Paths: those given on the command line (--config, --image, --mask, --out, --model, --keep-model, and path ' +
        'keys given with --set, such as --set model.path=DIR) resolve against the current directory; those written in ' +
        'a config file resolve against the config\'s folder.',
    )
    .option('-c, --config <file>', 'pipeline config (.yaml/.yml/.json); see `diff2s schema`', undefined)
    .option('-i, --image <path>', 'input image file, or a folder for batch mode (default: from the config)')
    .option('-m, --mask <path>', 'mask file (white = hole), or a folder matched by file stem (default: from the config)')
    .addOption(new Option('--mask-convention <c>', 'which mask colour is the hole').choices(['hole-white', 'known-white']))
    .option('-o, --out <path>', 'output folder, or a file name for a single image (default: ./out)')
    .option('-g, --guide <type>', 'stage-1 guide (sets guide.type; the config\'s guide options are kept only for the same type): patch, mean, nearest, harmonic, constant, diffusion, onnx, file')
    .option('--model <dir>', 'the refiner\'s model folder, e.g. models/frugal-brick (sets model.path; no fit)')
    .option('--no-refine', 'stage 1 only: no refiner, no fit (sets refiner.enabled=false)')
    .option('-s, --seed <n>', 'random seed (default: config seed, else 0)', int('--seed'))
    .option('-n, --samples <n>', 'samples per image (default: 1)', int('--samples'))
    .option('--tk <n>', 'refiner intermediate step T_k (default: config refiner.tk)', int('--tk'))
    .option('--fit <seconds>', 'fit the refiner\'s model to each image with this time budget (default: auto, 45 s at 128², up to 120 s)', num('--fit'))
    .option('--no-fit', 'do not fit: use the config\'s model folder, else the shipped colour prior (models/frugal-colour)')
    .option('--keep-model <dir>', 'keep the fitted model as a model folder (reusable as model.path)')
    .option('--concat', 'also write a side-by-side sheet: input | mask | stage 1 | stage 2')
    .option('--set <key=value>', 'override any config key (repeatable), e.g. --set refiner.sampler.type=ddim --set guide.patchSize=9', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('-q, --quiet', 'no progress output', false)
    .action(async (opts) => {
      const { fit, refine, ...rest } = opts;
      const summary = await inpaintCommand({
        ...rest, fit: typeof fit === 'number' ? fit : undefined, fitEnabled: fit === false ? false : undefined, refine: refine === false ? false : undefined,
      }, cliContainer());
      for (const d of summary.done) for (const o of d.outputs) process.stdout.write(`${o}\n`);
      if (summary.failed.length || summary.skipped.length) {
        process.exitCode = summary.failed.some((f) => f.code === 1) ? 1 : 2;
      }
    });

  program
    .command('eval')
    .description(
      'evaluate pipelines (methods, sweeps expanded) on a dataset with synthetic holes: metrics against the original ' +
        'image (PSNR, SSIM, L1, MSE, SWD on the hole and/or the whole image; boundary consistency; classify: the share ' +
        'recognised as their true label by a `diff2s classifier`), the known-pixel ' +
        'check and timings. Writes <output>/report.html (self-contained), summary.md/.csv/.json, per-image.csv/.json, ' +
        'plots/*.svg, grid.png, masks/ and results/. See examples/eval-textures.yaml and `diff2s schema --eval`.',
    )
    .requiredOption('-c, --config <file>', 'eval config (.yaml/.yml/.json): dataset, methods, metrics, seed, output')
    .option('-o, --out <dir>', 'override the output folder')
    .option('--limit <n>', 'evaluate only the first N images', int('--limit'))
    .option('-s, --seed <n>', 'override the eval seed', int('--seed'))
    .option('--only <names...>', 'run only these runs or methods (by name)')
    .option('-q, --quiet', 'no progress output', false)
    .action(async (opts) => {
      const r = await evalCommand(opts, cliContainer());
      process.stdout.write(`${r.files['report.html']}\n`);
      process.exitCode = r.exitCode;
    });

  program
    .command('masks')
    .description('generate masks (white = hole) as PNG files <type>_<i>.png')
    .addOption(new Option('-t, --type <type>', 'generator').choices(['freeform', 'thick', 'thin', 'ex64', 'genhalf', 'nn2', 'ev2li', 'mat-small', 'mat-large']).default('freeform'))
    .option('--size <n>', 'square size in pixels', int('--size'), 256)
    .option('--count <n>', 'how many', int('--count'), 8)
    .option('-s, --seed <n>', 'random seed', int('--seed'), 0)
    .option('-o, --out <dir>', 'output folder', 'masks')
    .action(async (opts) => {
      const files = await masksCommand({ type: opts.type, size: opts.size, count: opts.count, seed: opts.seed, out: opts.out });
      process.stdout.write(`${files.length} masks written to ${opts.out}\n`);
    });

  program
    .command('idx')
    .description(
      'convert an IDX image file (MNIST\'s format, gzipped or raw) and optionally its IDX label file into grey PNGs ' +
        '<prefix><index>.png (index zero-padded, counted in the IDX file) plus labels.csv (stem,label): the folder form ' +
        'that train, eval and classifier read. --pad 2 turns MNIST\'s 28x28 into 32x32 (black border).',
    )
    .requiredOption('--images <file>', 'IDX3 ubyte image file, e.g. t10k-images-idx3-ubyte.gz')
    .option('--labels <file>', 'IDX1 ubyte label file, e.g. t10k-labels-idx1-ubyte.gz (writes labels.csv)')
    .requiredOption('-o, --out <dir>', 'output folder')
    .option('--start <n>', 'first image index', int('--start'), 0)
    .option('--count <n>', 'how many images (default: all from --start on)', int('--count'))
    .option('--pad <n>', 'background pixels added on every side', int('--pad'), 0)
    .option('--prefix <s>', 'file stem prefix', '')
    .option('-q, --quiet', 'no progress output', false)
    .action(async (opts) => {
      const bar = new Progress('idx', !opts.quiet);
      let started = false;
      try {
        const r = await idxCommand({
          images: opts.images, labels: opts.labels, out: opts.out, start: opts.start, count: opts.count, pad: opts.pad, prefix: opts.prefix,
          onProgress: (done, total) => {
            if (!started) { bar.start(total); started = true; }
            bar.update(done);
          },
        });
        bar.stop();
        process.stdout.write(`${r.files.length} images (${r.width}x${r.height}) written to ${opts.out}${r.labelsFile ? `; labels: ${r.labelsFile}` : ''}\n`);
      } finally {
        bar.stop();
      }
    });

  const classifier = program
    .command('classifier')
    .description('the project\'s small image classifier (pure JS CNN): train it on labelled images, measure its accuracy; the eval\'s `classify` metric scores inpainted images with it');
  classifier
    .command('train')
    .description(
      'train on a folder of equally sized images with a labels CSV (stem,label; see `diff2s idx`): conv3x3+ReLU+maxpool ' +
        'stages, a hidden dense layer, softmax cross-entropy, Adam with cosine decay, random shifts. Writes <out>/model.json ' +
        '+ weights.bin and prints the accuracy on the training images and on --test-images.',
    )
    .requiredOption('--images <dir>', 'training images folder')
    .requiredOption('--labels <csv>', 'labels CSV (stem,label) of the training images')
    .requiredOption('-o, --out <dir>', 'output model folder')
    .option('--test-images <dir>', 'held-out images whose accuracy is reported')
    .option('--test-labels <csv>', 'labels CSV of the held-out images (default: --labels)')
    .option('--limit <n>', 'use only the first N training images', int('--limit'))
    .option('--epochs <n>', 'epochs (default 10)', int('--epochs'))
    .option('--batch <n>', 'batch size (default 32)', int('--batch'))
    .option('--lr <x>', 'Adam learning rate (default 0.002)', (v: string) => Number(v))
    .option('--shift <n>', 'random shift augmentation in pixels (default 2)', int('--shift'))
    .option('--conv <list>', 'conv stage widths, comma-separated (default 8,16)', (v: string) => v.split(',').map((x) => Number(x)))
    .option('--hidden <n>', 'hidden dense units, 0 for none (default 64)', int('--hidden'))
    .option('-s, --seed <n>', 'random seed (default 0)', int('--seed'))
    .option('-q, --quiet', 'no progress output', false)
    .action(async (opts) => {
      const r = await classifierTrainCommand({
        images: opts.images, labels: opts.labels, out: opts.out, testImages: opts.testImages, testLabels: opts.testLabels, limit: opts.limit,
        epochs: opts.epochs, batch: opts.batch, lr: opts.lr, shift: opts.shift, conv: opts.conv, hidden: opts.hidden, seed: opts.seed,
        onEpoch: (e) => {
          if (!opts.quiet) process.stderr.write(`epoch ${e.epoch}/${e.epochs}: loss ${e.loss.toFixed(4)}, train accuracy ${(100 * e.trainAccuracy).toFixed(2)}% (augmented), ${e.seconds.toFixed(1)} s\n`);
        },
      });
      const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
      process.stdout.write(
        `trained ${r.parameters} parameters on ${r.trainImages} images in ${r.seconds.toFixed(1)} s; train accuracy ${pct(r.trainAccuracy)}` +
          `${r.testAccuracy !== undefined ? `; test accuracy ${pct(r.testAccuracy)} (${r.testImages} images)` : ''}; model: ${r.output}\n`,
      );
    });
  classifier
    .command('eval')
    .description('accuracy of a trained classifier on a folder of images with a labels CSV (overall and per class)')
    .requiredOption('-m, --model <dir>', 'classifier folder (model.json + weights.bin)')
    .requiredOption('--images <dir>', 'images folder')
    .requiredOption('--labels <csv>', 'labels CSV (stem,label)')
    .option('--limit <n>', 'only the first N images', int('--limit'))
    .action(async (opts) => {
      const r = await classifierEvalCommand({ model: opts.model, images: opts.images, labels: opts.labels, limit: opts.limit });
      process.stdout.write(`accuracy ${(100 * r.accuracy).toFixed(2)}% on ${r.images} images\n`);
      for (const c of r.perClass) process.stdout.write(`  class ${c.label}: ${(100 * c.accuracy).toFixed(1)}% of ${c.count}\n`);
    });

  program
    .command('train')
    .description(
      'train a diffusion (or regression) inpainting model on one or a few images: random crops, free-form masks, ' +
        'loss on the hole, Adam. Writes <output>/model.json + weights (loadable at every checkpoint), <output>/loss.csv ' +
        'and <output>/checkpoint/. --resume continues from the checkpoint with the same data order and noise.',
    )
    .requiredOption('-c, --config <file>', 'training config (.yaml/.json): data, model, schedule, objective, train, output')
    .option('--resume', 'continue from the output folder\'s checkpoint', false)
    .option('--steps <n>', 'override train.steps', int('--steps'))
    .option('--workers <n>', 'override train.workers (gradient worker threads)', int('--workers'))
    .option('-o, --output <dir>', 'override the output model folder')
    .option('-q, --quiet', 'no progress output', false)
    .action(async (opts) => {
      const r = await trainCommand(opts);
      process.stdout.write(`trained ${r.steps} steps (${r.sessionSteps} this run) in ${r.seconds.toFixed(1)} s on ${r.backend}; final loss ${r.finalLoss.toFixed(5)}; model: ${r.output}\n`);
    });

  program
    .command('serve')
    .description(
      'start the web studio: open an image, paint a mask, run guide + refiner with live previews, compare, download. ' +
        'Binds 127.0.0.1 by default. Only models found in --models folders, guides that read no files and the onnx guide ' +
        'with the --onnx-model files (by id) can run.',
    )
    .option('--host <host>', 'interface to bind (anything but loopback prints a warning)', '127.0.0.1')
    .option('-p, --port <n>', 'TCP port (0 = any free port)', int('--port'), 8765)
    .option('--models <dir...>', 'folders with model folders (default: the shipped models/)')
    .option('--examples <dir>', 'folder of example images (<name>.png + <name>-mask.png)', path.join(EXAMPLES_DIR, 'data'))
    .option('--max-upload-mb <n>', 'largest upload in MiB', int('--max-upload-mb'), 50)
    .option('--max-pixels <n>', 'largest image in pixels', int('--max-pixels'), 4096 * 4096)
    .option(
      '--onnx-model <path>',
      'an ONNX inpainting network (LaMa, MAT, MI-GAN) for the onnx guide, offered by id (its file name); repeatable',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .action(async (opts) => {
      // every job runs in a process of its own: the studio stays responsive, cancel is prompt, memory is returned
      const backend = new ProcessStudioBackend({
        modelDirs: opts.models ?? [path.resolve(EXAMPLES_DIR, '../models')],
        examplesDir: opts.examples,
        onnxModels: opts.onnxModel,
      });
      const studio = await startStudio({
        backend,
        host: opts.host,
        port: opts.port,
        maxUploadBytes: opts.maxUploadMb * 1024 * 1024,
        maxPixels: opts.maxPixels,
        logger: { info: (m) => process.stderr.write(`${m}\n`), warn: (m) => process.stderr.write(`warning: ${m}\n`) },
      });
      const onnxIds = backend.onnxModelIds();
      process.stdout.write(`diff2s studio: ${studio.url}  (models: ${backend.modelIds().join(', ') || 'none'}${onnxIds.length ? `; onnx guide models: ${onnxIds.join(', ')}` : ''}; Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await studio.close();
      await backend.dispose();
    });

  program
    .command('export')
    .description('export a native model folder to ONNX: encoder.onnx, middle.onnx, decoder.onnx (the refiner\'s three parts), full.onnx and onnx.json describing their inputs and outputs (opset 17, dynamic batch and size)')
    .argument('<model>', 'model folder (model.json + weights.bin + weights.json)')
    .option('-o, --out <dir>', 'output folder', 'onnx')
    .action(async (model: string, opts) => {
      await assertWritableFolder(path.resolve(opts.out), '--out');
      const r = await exportModelToOnnx(path.resolve(model), path.resolve(opts.out));
      for (const f of Object.values(r.files)) process.stdout.write(`${f}\n`);
    });

  program
    .command('info')
    .argument('[model-dir]', 'a model folder: print its card\'s summary (channels, training data, steps, schedule, parameters)')
    .description('list registered guides, samplers, schedules, model loaders, the engines that will run (onnxruntime, tfjs) and the model folders found')
    .option('--models <dir...>', 'also list the model folders inside these folders (besides the repository\'s models/)')
    .action(async (modelDir: string | undefined, opts: { models?: string[] }) => {
      const text = modelDir
        ? await modelInfoCommand(modelDir)
        : await infoCommand(cliContainer(), async () => describeBackend(await initEngine()), { models: opts.models });
      process.stdout.write(`${text}\n`);
    });

  program
    .command('schema')
    .description('print the JSON Schema of pipeline configs (for editors: put "$schema" in your config)')
    .option('--eval', 'print the eval config schema instead', false)
    .action((opts) => {
      process.stdout.write(`${opts.eval ? evalSchemaCommand(cliContainer()) : schemaCommand(cliContainer())}\n`);
    });

  addQueueCommands(program); // batch submit/status/retry, worker

  return program;
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2; // commander already printed its one-line message
    }
    return reportError(err instanceof ConfigError || err instanceof Error ? err : new Error(String(err)), debug);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}

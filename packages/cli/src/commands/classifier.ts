/**
 * `diff2s classifier train|eval`: the project's own small image classifier (the engine's tfjs {@link trainClassifier}), trained
 * on a folder of images with a labels CSV (stem,label, as `diff2s idx` writes), and its accuracy on another folder.
 * The eval's `classify` metric scores inpainted images with a classifier trained here.
 */
import { ConfigError, formatZodIssue, InputError, joinPath, Tensor4, readImage, readLabelsCsv } from '@diff2s/core';
import {
  ClassifierArch, ClassifierTrainOptions, loadClassifier, saveClassifier, trainClassifier, type ClassifierEpoch,
} from '@diff2s/engine';
import type { z } from 'zod';
import { ConfigErrors } from '../config/load';
import { pairInputs } from '../inputs';

/** Images of a folder (or one file) with their labels from a CSV, as one [N, C, H, W] batch. */
export interface LabelledImages {
  images: Tensor4;
  labels: number[];
}

/**
 * Read every image of `dir` (sorted by name; only the first `limit` with a limit) and look its stem up in the labels
 * CSV. Throws {@link InputError} naming the file when an image is unreadable, differs in size or channels from the
 * first one, or has no label.
 */
export async function loadLabelledImages(dir: string, labelsFile: string, limit?: number): Promise<LabelledImages> {
  const labels = await readLabelsCsv(labelsFile);
  let { pairs } = await pairInputs(dir);
  if (limit !== undefined) pairs = pairs.slice(0, limit);
  const out: number[] = [];
  for (const p of pairs) {
    const label = labels.get(p.stem);
    if (label === undefined) throw new InputError(`${labelsFile} has no label for image ${p.stem} (${p.image})`, labelsFile);
    out.push(label);
  }
  let batch: Tensor4 | undefined;
  const BATCH = 32;
  for (let k = 0; k < pairs.length; k += BATCH) {
    const loaded = await Promise.all(pairs.slice(k, k + BATCH).map((p) => readImage(p.image, { alpha: 'drop' })));
    loaded.forEach((img, j) => {
      const t = img.tensor;
      const file = pairs[k + j].image;
      batch ??= new Tensor4([pairs.length, t.c, t.h, t.w]);
      if (t.c !== batch.c || t.h !== batch.h || t.w !== batch.w) {
        throw new InputError(`${file} is ${t.w}x${t.h} with ${t.c} channel(s); ${pairs[0].image} is ${batch.w}x${batch.h} with ${batch.c}`, file);
      }
      batch.data.set(t.data, (k + j) * t.size);
    });
  }
  if (!batch) throw new InputError(`no images in ${dir}`, dir);
  return { images: batch, labels: out };
}

/** Flags of `diff2s classifier train`. */
export interface ClassifierTrainFlags {
  images: string;
  labels: string;
  out: string;
  /** Held-out images whose accuracy is reported (labels from `testLabels`, else from `labels`). */
  testImages?: string;
  testLabels?: string;
  /** Use only the first N training images. */
  limit?: number;
  epochs?: number;
  batch?: number;
  lr?: number;
  shift?: number;
  seed?: number;
  /** Conv stage widths, e.g. [8, 16]. */
  conv?: number[];
  hidden?: number;
  onEpoch?: (e: ClassifierEpoch) => void;
}

/** What `diff2s classifier train` did. */
export interface ClassifierTrainSummary {
  output: string;
  trainImages: number;
  testImages: number;
  trainAccuracy: number;
  testAccuracy?: number;
  seconds: number;
  parameters: number;
}

/**
 * Parse flags (and values taken from the data) with a core schema: a flag's problem is a config error at `--flag`; a
 * data-derived value's (`fromData`: key → the file or folder it came from) an {@link InputError} naming that file.
 */
function flagErrors<T>(schema: z.ZodType<T>, value: unknown, fromData: Record<string, string> = {}): T {
  const r = schema.safeParse(value, { reportInput: true });
  if (r.success) return r.data;
  const what = (issue: (typeof r.error.issues)[number]) => formatZodIssue({ ...issue, path: [] }).message; // without "(at …)"
  for (const issue of r.error.issues) {
    const key = String(issue.path[0] ?? '');
    const file = fromData[key];
    if (file !== undefined) throw new InputError(`${file}: ${key} ${what(issue)}`, file);
  }
  throw new ConfigErrors(r.error.issues.map((i) => new ConfigError(what(i), `--${joinPath('', i.path as PropertyKey[])}`)));
}

function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/**
 * Train a classifier on `images` (labels from `labels`), report its accuracy on the training images (unaugmented) and
 * on `testImages`, and save it to `out` (model.json card with the options, data and accuracies + weights.bin).
 */
export async function classifierTrainCommand(f: ClassifierTrainFlags): Promise<ClassifierTrainSummary> {
  const train = await loadLabelledImages(f.images, f.labels, f.limit);
  const { images } = train;
  const classes = train.labels.reduce((a, y) => Math.max(a, y + 1), 10);
  const arch = flagErrors(ClassifierArch, defined({ width: images.w, height: images.h, channels: images.c, classes, conv: f.conv, hidden: f.hidden }),
    { width: f.images, height: f.images, channels: f.images, classes: f.labels });
  const options = flagErrors(ClassifierTrainOptions, defined({ epochs: f.epochs, batch: f.batch, lr: f.lr, shift: f.shift, seed: f.seed }));
  const test = f.testImages ? await loadLabelledImages(f.testImages, f.testLabels ?? f.labels) : undefined;
  const res = await trainClassifier(arch, images, train.labels, options, (e) => f.onEpoch?.(e));
  const model = res.model;
  const trainAccuracy = model.accuracy(images, train.labels);
  const testAccuracy = test ? model.accuracy(test.images, test.labels) : undefined;
  await saveClassifier(f.out, model, {
    description: `image classifier (${arch.conv.map((c) => `conv${c}`).join('-')}${arch.hidden ? `-fc${arch.hidden}` : ''}) trained by diff2s classifier train`,
    training: {
      images: f.images,
      labels: f.labels,
      count: images.n,
      options,
      seconds: Math.round(res.seconds * 10) / 10,
      trainAccuracy,
      ...(test ? { testImages: f.testImages, testCount: test.images.n, testAccuracy } : {}),
      history: res.history.map((h) => ({ epoch: h.epoch, loss: Number(h.loss.toFixed(5)), trainAccuracy: Number(h.trainAccuracy.toFixed(4)), seconds: Number(h.seconds.toFixed(1)) })),
    },
  });
  return {
    output: f.out, trainImages: images.n, testImages: test?.images.n ?? 0, trainAccuracy, testAccuracy,
    seconds: res.seconds, parameters: model.size,
  };
}

/** Accuracy of a saved classifier on a labelled folder: overall, per class, and the confusion counts. */
export interface ClassifierEvalSummary {
  images: number;
  accuracy: number;
  perClass: { label: number; count: number; accuracy: number }[];
  /** confusion[true][predicted]. */
  confusion: number[][];
}

/** `diff2s classifier eval`: the accuracy of the classifier in `model` on `images` with `labels`. */
export async function classifierEvalCommand(f: { model: string; images: string; labels: string; limit?: number }): Promise<ClassifierEvalSummary> {
  const { model } = await loadClassifier(f.model);
  const data = await loadLabelledImages(f.images, f.labels, f.limit);
  const pred = model.predict(data.images);
  const K = model.arch.classes;
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  let ok = 0;
  pred.forEach((p, i) => {
    const y = data.labels[i];
    if (y >= 0 && y < K) confusion[y][p]++;
    if (p === y) ok++;
  });
  const perClass = confusion
    .map((row, label) => {
      const count = row.reduce((a, b) => a + b, 0);
      return { label, count, accuracy: count ? row[label] / count : NaN };
    })
    .filter((c) => c.count > 0);
  return { images: pred.length, accuracy: ok / pred.length, perClass, confusion };
}

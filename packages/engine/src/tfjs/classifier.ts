/**
 * A small image classifier on TensorFlow.js, for scoring inpainted images by whether they are still recognised as
 * their true class (e.g. MNIST digits filled by RePaint, seed 001).
 *
 * Network: for each entry of `conv`, a 3×3 convolution (zero padding 1) + ReLU + 2×2 max pooling (stride 2, odd
 * rows/columns dropped); then a dense layer of `hidden` units + ReLU (none when `hidden` is 0); then a dense layer to
 * `classes` logits. Trained with softmax cross-entropy by tfjs autodiff and the engine's {@link Adam} with its cosine
 * {@link learningRate} schedule, optional random translations as augmentation. Parameters are one flat float32
 * vector in the card's order and layout (conv weights [out, in, 3, 3], dense weights [out, in] over CHW-flattened
 * features), saved as model.json + weights.bin; a loaded model predicts exactly what the trained one did.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { InputError, ModelFileError, Rng, Tensor4, toChannels, writeFileAtomic } from '@diff2s/core';
import { Adam, learningRate } from '../train/adam';
import { initEngine } from './backend';

/** The classifier's architecture (stored in its card). */
export const ClassifierArch = z
  .object({
    /** Input width and height in pixels (images must have exactly this size). */
    width: z.number().int().min(2).max(4096),
    height: z.number().int().min(2).max(4096),
    /** Input channels. */
    channels: z.number().int().min(1).max(4).default(1),
    classes: z.number().int().min(2).max(10000).default(10),
    /** Output channels of each conv3×3 + ReLU + maxpool2 stage. */
    conv: z.array(z.number().int().min(1).max(512)).max(6).default([8, 16]),
    /** Units of the hidden dense layer (0: the flattened features go straight to the logits). */
    hidden: z.number().int().min(0).max(8192).default(64),
  })
  .strict();
export type ClassifierArch = z.infer<typeof ClassifierArch>;
export type ClassifierArchInput = z.input<typeof ClassifierArch>;

/** Training options of {@link trainClassifier}. */
export const ClassifierTrainOptions = z
  .object({
    /** Seed of the initialisation, the data order and the augmentation. */
    seed: z.number().int().default(0),
    epochs: z.number().int().min(1).max(10000).default(10),
    batch: z.number().int().min(1).max(4096).default(32),
    lr: z.number().positive().max(1).default(0.002),
    /** Final learning rate of the cosine decay, as a fraction of lr. */
    lrMinFactor: z.number().min(0).max(1).default(0.05),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.999),
    /** Random translation of each training image by up to this many pixels in x and y (0: none). */
    shift: z.number().int().min(0).max(64).default(2),
    /** Value of the pixels a translation shifts in (−1: black, MNIST's background). */
    background: z.number().min(-1).max(1).default(-1),
  })
  .strict();
export type ClassifierTrainOptions = z.infer<typeof ClassifierTrainOptions>;
export type ClassifierTrainOptionsInput = z.input<typeof ClassifierTrainOptions>;

/** One named parameter tensor of the flat parameter vector. */
export interface ClassifierParam {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

/** The card saved as `model.json` next to `weights.bin` (float32, little-endian, parameters in card order). */
export const ClassifierCard = z
  .object({
    format: z.literal('diff2s.classifier'),
    version: z.literal(1),
    arch: ClassifierArch,
    params: z.array(z.object({ name: z.string(), shape: z.array(z.number().int().min(1)) }).strict()),
    weights: z.string().default('weights.bin'),
    /** Free information: training options, data, accuracies, timings. */
    training: z.record(z.string(), z.unknown()).optional(),
    description: z.string().optional(),
  })
  .strict();
export type ClassifierCard = z.infer<typeof ClassifierCard>;

/**
 * 2×2 max pooling, stride 2, of an NHWC tensor (odd last row/column dropped). tfjs-wasm's MaxPool gradient is wrong
 * (see kernels.ts), so the gradient is given here: dy goes to the input positions equal to their window's maximum.
 */
export const maxPool2 = tf.customGrad(((x: Tensor, save: (t: Tensor[]) => void) => {
  const value = tf.maxPool(x as Tensor4D, 2, 2, 'valid');
  save([x, value]);
  return {
    value,
    gradFunc: (dy: Tensor, [xs, y]: Tensor[]) => {
      const [n, h, w, c] = xs.shape;
      const [, ph, pw] = y.shape;
      const up = (t: Tensor) => tf.image.resizeNearestNeighbor(t as Tensor4D, [2 * ph, 2 * pw]);
      const xe = tf.slice(xs, [0, 0, 0, 0], [n, 2 * ph, 2 * pw, c]);
      const g = tf.mul(up(dy), tf.cast(tf.equal(xe, up(y)), 'float32'));
      return tf.pad(g, [[0, 0], [0, h - 2 * ph], [0, w - 2 * pw], [0, 0]]);
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: Tensor) => Tensor;

/** A convolutional image classifier (see the module comment). Needs an initialised engine ({@link initEngine}). */
export class ImageClassifier {
  readonly arch: ClassifierArch;
  /** All parameters, flat, in {@link paramList} order. */
  readonly params: Float32Array;
  readonly paramList: readonly ClassifierParam[];

  /** A classifier of `arch` with He-normal weights from `seed` (biases zero), or with the given parameters. */
  constructor(arch: ClassifierArchInput, init: number | Float32Array = 0) {
    const a = (this.arch = ClassifierArch.parse(arch));
    const list: ClassifierParam[] = [];
    let offset = 0;
    const add = (name: string, shape: number[]) => {
      const size = shape.reduce((x, y) => x * y, 1);
      list.push({ name, shape, offset, size });
      offset += size;
    };
    let c = a.channels, h = a.height, w = a.width;
    a.conv.forEach((cout, k) => {
      if (h < 2 || w < 2) throw new RangeError(`classifier: ${a.width}x${a.height} input is too small for ${a.conv.length} pooling stages`);
      add(`conv${k}.weight`, [cout, c, 3, 3]);
      add(`conv${k}.bias`, [cout]);
      c = cout; h >>= 1; w >>= 1;
    });
    let fin = c * h * w;
    for (const [name, fout] of a.hidden > 0 ? [['fc0', a.hidden], ['out', a.classes]] as const : [['out', a.classes]] as const) {
      add(`${name}.weight`, [fout, fin]);
      add(`${name}.bias`, [fout]);
      fin = fout;
    }
    this.paramList = list;
    if (typeof init === 'number') {
      this.params = new Float32Array(offset);
      const rng = new Rng(init).derive('classifier-init');
      for (const p of list) {
        if (p.shape.length > 1) rng.fillNormal(this.params.subarray(p.offset, p.offset + p.size), 0, Math.sqrt(2 / (p.size / p.shape[0])));
      }
    } else {
      if (init.length !== offset) throw new RangeError(`classifier: ${init.length} parameters given, the architecture has ${offset}`);
      this.params = Float32Array.from(init);
    }
  }

  /** Number of parameters. */
  get size(): number {
    return this.params.length;
  }

  /** Values per input image (channels · height · width). */
  get inputSize(): number {
    return this.arch.channels * this.arch.height * this.arch.width;
  }

  /** The parameters as tfjs tensors (card layout). */
  paramTensors(): Tensor[] {
    return this.paramList.map((p) => tf.tensor(this.params.subarray(p.offset, p.offset + p.size), p.shape, 'float32'));
  }

  /** Logits [N, classes] of NCHW images `x` [N, C, H, W] with parameters `ps` (card order). */
  forward(x: Tensor, ps: readonly Tensor[]): Tensor {
    let h = tf.transpose(x, [0, 2, 3, 1]); // NHWC
    let k = 0;
    for (let s = 0; s < this.arch.conv.length; s++, k += 2) {
      const filter = tf.transpose(ps[k], [2, 3, 1, 0]) as Tensor4D; // [out,in,3,3] → HWIO
      h = maxPool2(tf.relu(tf.add(tf.conv2d(h as Tensor4D, filter, 1, 'same'), ps[k + 1])));
    }
    h = tf.reshape(tf.transpose(h, [0, 3, 1, 2]), [x.shape[0], -1]); // CHW flattening, as the card's dense weights
    for (; k < ps.length; k += 2) {
      h = tf.add(tf.matMul(h as tf.Tensor2D, ps[k] as tf.Tensor2D, false, true), ps[k + 1]);
      if (k + 2 < ps.length) h = tf.relu(h);
    }
    return h;
  }

  /** Logits of a batch, [N · classes] row-major. */
  logits(images: Tensor4): Float32Array {
    const t = this.adapt(images);
    const out = new Float32Array(t.n * this.arch.classes);
    const ps = this.paramTensors();
    try {
      const B = 256;
      for (let i = 0; i < t.n; i += B) {
        const m = Math.min(B, t.n - i);
        const x = t.data.subarray(i * this.inputSize, (i + m) * this.inputSize);
        const l = tf.tidy(() => this.forward(tf.tensor4d(x, [m, t.c, t.h, t.w]), ps));
        out.set(l.dataSync(), i * this.arch.classes);
        l.dispose();
      }
    } finally {
      tf.dispose(ps);
    }
    return out;
  }

  /** The predicted class of each image of a [N, C, H, W] batch (grey/RGB converted to the model's channels). */
  predict(images: Tensor4): number[] {
    const l = this.logits(images);
    const K = this.arch.classes;
    return Array.from({ length: images.n }, (_, i) => {
      let b = 0;
      for (let j = 1; j < K; j++) if (l[i * K + j] > l[i * K + b]) b = j;
      return b;
    });
  }

  /** Check the size of a batch and convert its channels to the model's; throws InputError naming `what`. */
  adapt(images: Tensor4, what = 'image'): Tensor4 {
    const a = this.arch;
    if (images.h !== a.height || images.w !== a.width) {
      throw new InputError(`${what} is ${images.w}x${images.h}; the classifier takes ${a.width}x${a.height} images`);
    }
    if (images.c === a.channels) return images;
    if ((images.c === 1 || images.c === 3) && (a.channels === 1 || a.channels === 3)) return toChannels(images, a.channels);
    throw new InputError(`${what} has ${images.c} channels; the classifier takes ${a.channels}`);
  }

  /**
   * Mean softmax cross-entropy of a batch (already in the model's size and channels) with its labels, and the number
   * of correct predictions; with `grad`, its gradient with respect to {@link params} is written there.
   */
  lossAndGradient(x: Tensor4, labels: readonly number[], grad?: Float32Array): { loss: number; correct: number } {
    const ps = this.paramTensors();
    try {
      return tf.tidy(() => {
        const xt = tf.tensor4d(x.data, [x.n, x.c, x.h, x.w]);
        const y = tf.tensor1d(labels as number[], 'int32');
        let correct = 0;
        const loss = (...p: Tensor[]) => {
          const logits = this.forward(xt, p);
          tf.argMax(logits, 1).dataSync().forEach((k, i) => { if (k === labels[i]) correct++; });
          return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(y, this.arch.classes), tf.logSoftmax(logits)), 1))) as tf.Scalar;
        };
        let value: Tensor;
        if (grad) {
          const r = tf.valueAndGrads(loss)(ps);
          value = r.value;
          this.paramList.forEach((p, i) => grad.set(r.grads[i].dataSync(), p.offset));
        } else value = loss(...ps);
        return { loss: value.dataSync()[0], correct };
      }) as { loss: number; correct: number };
    } finally {
      tf.dispose(ps);
    }
  }

  /** Accuracy (share of correct predictions) on a batch with its labels. */
  accuracy(images: Tensor4, labels: ArrayLike<number>): number {
    const pred = this.predict(images);
    return pred.length ? pred.filter((p, i) => p === labels[i]).length / pred.length : NaN;
  }
}

/** Progress of {@link trainClassifier}, once per epoch. */
export interface ClassifierEpoch {
  epoch: number;
  epochs: number;
  /** Mean training loss of the epoch (on the augmented images, as trained). */
  loss: number;
  /** Share of training images predicted right during the epoch (augmented, with the weights of the moment). */
  trainAccuracy: number;
  seconds: number;
}

/** What {@link trainClassifier} returns. */
export interface ClassifierTrainResult {
  model: ImageClassifier;
  history: ClassifierEpoch[];
  seconds: number;
  options: ClassifierTrainOptions;
}

/**
 * Train an {@link ImageClassifier} of `arch` on `images` [N, C, H, W] (values in [-1, 1]) with integer `labels` in
 * [0, classes): Adam on mini-batches of softmax cross-entropy, cosine learning-rate decay, random translations.
 * Deterministic for a seed on one backend (initialises the engine if needed).
 */
export async function trainClassifier(
  arch: ClassifierArchInput,
  images: Tensor4,
  labels: ArrayLike<number>,
  options: ClassifierTrainOptionsInput = {},
  onEpoch?: (e: ClassifierEpoch) => void,
): Promise<ClassifierTrainResult> {
  const o = ClassifierTrainOptions.parse(options);
  const t0 = performance.now();
  const model = new ImageClassifier(arch, o.seed);
  const a = model.arch;
  const x = model.adapt(images, 'training images');
  const N = x.n;
  if (labels.length !== N) throw new InputError(`${labels.length} labels for ${N} training images`);
  for (let i = 0; i < N; i++) {
    if (!Number.isInteger(labels[i]) || labels[i] < 0 || labels[i] >= a.classes) {
      throw new InputError(`training label ${labels[i]} of image ${i} is outside 0..${a.classes - 1}`);
    }
  }
  if (N === 0) throw new InputError('no training images');
  await initEngine();
  const rng = new Rng(o.seed).derive('classifier-data');
  const adam = new Adam(model.size, o.beta1, o.beta2);
  const grad = new Float32Array(model.size);
  const n = model.inputSize;
  const B = Math.min(o.batch, N);
  const stepsPerEpoch = Math.ceil(N / B);
  const schedule = { lr: o.lr, lrSchedule: 'cosine' as const, warmup: 0, lrMinFactor: o.lrMinFactor, steps: stepsPerEpoch * o.epochs };
  const order = Array.from({ length: N }, (_, i) => i);
  const history: ClassifierEpoch[] = [];
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const te = performance.now();
    rng.shuffle(order);
    let lossSum = 0, correct = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const idx = order.slice(s * B, Math.min(N, (s + 1) * B));
      const xb = new Float32Array(idx.length * n);
      idx.forEach((k, b) => {
        const dx = o.shift ? rng.int(2 * o.shift + 1) - o.shift : 0;
        const dy = o.shift ? rng.int(2 * o.shift + 1) - o.shift : 0;
        shiftInto(x.data, k * n, xb, b * n, a.channels, a.height, a.width, dx, dy, o.background);
      });
      const r = model.lossAndGradient(new Tensor4([idx.length, a.channels, a.height, a.width], xb), idx.map((k) => labels[k]), grad);
      adam.step(model.params, grad, learningRate(adam.t + 1, schedule));
      lossSum += r.loss * idx.length;
      correct += r.correct;
    }
    const e: ClassifierEpoch = { epoch, epochs: o.epochs, loss: lossSum / N, trainAccuracy: correct / N, seconds: (performance.now() - te) / 1000 };
    history.push(e);
    onEpoch?.(e);
  }
  return { model, history, seconds: (performance.now() - t0) / 1000, options: o };
}

/** Copy one CHW image translated by (dx, dy) (pixels shifted in get `fill`). */
function shiftInto(src: Float32Array, so: number, dst: Float32Array, dof: number, C: number, H: number, W: number, dx: number, dy: number, fill: number): void {
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      const o = dof + (c * H + y) * W, sy = y - dy;
      if (sy < 0 || sy >= H) {
        dst.fill(fill, o, o + W);
        continue;
      }
      const s = so + (c * H + sy) * W;
      for (let xx = 0; xx < W; xx++) dst[o + xx] = xx - dx < 0 || xx - dx >= W ? fill : src[s + xx - dx];
    }
  }
}

/**
 * Save a classifier to `dir`: `weights.bin` (float32 little-endian, parameters in card order) then `model.json`
 * (the card), each written atomically. `extra` adds training information and a description to the card.
 */
export async function saveClassifier(dir: string, model: ImageClassifier, extra: { training?: Record<string, unknown>; description?: string } = {}): Promise<ClassifierCard> {
  const card: ClassifierCard = {
    format: 'diff2s.classifier',
    version: 1,
    arch: model.arch,
    params: model.paramList.map((p) => ({ name: p.name, shape: p.shape })),
    weights: 'weights.bin',
    ...(extra.training ? { training: extra.training } : {}),
    ...(extra.description ? { description: extra.description } : {}),
  };
  const bytes = Buffer.alloc(model.size * 4);
  model.params.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  await writeFileAtomic(path.join(dir, 'weights.bin'), bytes);
  await writeFileAtomic(path.join(dir, 'model.json'), `${JSON.stringify(card, null, 2)}\n`);
  return card;
}

/** A loaded classifier with its card. */
export interface LoadedClassifier {
  model: ImageClassifier;
  card: ClassifierCard;
}

/**
 * Load a classifier folder written by {@link saveClassifier} (`dir` may also name its model.json) and initialise the
 * engine. Throws {@link ModelFileError} naming the file when the card or the weights are missing, malformed or
 * inconsistent.
 */
export async function loadClassifier(dir: string): Promise<LoadedClassifier> {
  const cardFile = dir.endsWith('.json') ? dir : path.join(dir, 'model.json');
  const read = async (file: string, what: string, enc?: 'utf8') => {
    try {
      return await fs.readFile(file, enc);
    } catch (err) {
      throw new ModelFileError(`cannot read classifier ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, file, { cause: err });
    }
  };
  const text = (await read(cardFile, 'card', 'utf8')) as string;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelFileError(`${cardFile} is not valid JSON: ${(err as Error).message}`, cardFile, { cause: err });
  }
  const parsed = ClassifierCard.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new ModelFileError(`${cardFile} is not a diff2s classifier card: ${i.message} at ${i.path.join('.') || '(top)'}`, cardFile);
  }
  const card = parsed.data;
  let model: ImageClassifier;
  try {
    model = new ImageClassifier(card.arch, 0);
  } catch (err) {
    throw new ModelFileError(`${cardFile}: ${(err as Error).message}`, cardFile, { cause: err });
  }
  const want = model.paramList.map((p) => `${p.name}[${p.shape.join(',')}]`).join(' ');
  const have = card.params.map((p) => `${p.name}[${p.shape.join(',')}]`).join(' ');
  if (want !== have) throw new ModelFileError(`${cardFile}: the parameter list does not match the architecture (${have} vs ${want})`, cardFile);
  const weightsFile = path.resolve(path.dirname(cardFile), card.weights);
  const bytes = (await read(weightsFile, 'weights')) as Buffer;
  if (bytes.length !== model.size * 4) {
    throw new ModelFileError(`${weightsFile} has ${bytes.length} bytes; the card's ${model.size} float32 parameters need ${model.size * 4}`, weightsFile);
  }
  for (let i = 0; i < model.size; i++) {
    const v = bytes.readFloatLE(i * 4);
    if (!Number.isFinite(v)) throw new ModelFileError(`${weightsFile}: parameter ${i} is not finite`, weightsFile);
    model.params[i] = v;
  }
  await initEngine();
  return { model, card };
}

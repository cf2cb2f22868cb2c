/**
 * A small image classifier in plain JavaScript (no engine), for scoring inpainted images by whether they are still
 * recognised as their true class (e.g. MNIST digits filled by RePaint, seed 001).
 *
 * Network: for each entry of `conv`, a 3×3 convolution (zero padding 1) + ReLU + 2×2 max pooling (stride 2, odd
 * rows/columns dropped); then a dense layer of `hidden` units + ReLU (none when `hidden` is 0); then a dense layer
 * to `classes` logits. Trained with softmax cross-entropy and Adam (cosine learning-rate decay), optional random
 * translations as augmentation. The backward pass is written by hand (and checked against finite differences in the
 * tests); arithmetic is float64, and the weights are rounded to float32 when training ends, so a model saved
 * (model.json card + float32 weights.bin) and loaded again predicts exactly what the trained one did.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { ModelFileError, InputError } from '../errors';
import { writeFileAtomic } from '../fsutil';
import { Rng } from '../rng';
import { Tensor4, toChannels } from '../tensor';

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

interface ConvStage {
  cin: number; cout: number; h: number; w: number; ph: number; pw: number;
  weight: ClassifierParam; bias: ClassifierParam;
  /** Input, post-ReLU activation, pooled output; argmax of each pooled value; gradient buffers. */
  input: Float64Array; act: Float64Array; pooled: Float64Array; arg: Int32Array;
  dAct: Float64Array; dInput: Float64Array;
}

interface DenseStage {
  fin: number; fout: number; relu: boolean;
  weight: ClassifierParam; bias: ClassifierParam;
  input: Float64Array; out: Float64Array; dOut: Float64Array; dInput: Float64Array;
}

function heNormal(rng: Rng, out: Float64Array, fanIn: number): void {
  const s = Math.sqrt(2 / fanIn);
  for (let i = 0; i < out.length; i++) out[i] = s * rng.normal();
}

/** A convolutional image classifier (see the module comment). */
export class ImageClassifier {
  readonly arch: ClassifierArch;
  /** All parameters, flat, in {@link paramList} order. */
  readonly params: Float64Array;
  readonly paramList: readonly ClassifierParam[];
  private readonly convs: ConvStage[] = [];
  private readonly dense: DenseStage[] = [];
  private readonly probs: Float64Array;

  /** A classifier of `arch` with He-normal weights from `seed` (biases zero), or with the given parameters. */
  constructor(arch: ClassifierArchInput, init: number | Float64Array | Float32Array = 0) {
    this.arch = ClassifierArch.parse(arch);
    const a = this.arch;
    const list: ClassifierParam[] = [];
    let offset = 0;
    const add = (name: string, shape: number[]): ClassifierParam => {
      const size = shape.reduce((x, y) => x * y, 1);
      const p = { name, shape, offset, size };
      list.push(p);
      offset += size;
      return p;
    };
    let c = a.channels, h = a.height, w = a.width;
    a.conv.forEach((cout, k) => {
      if (h < 2 || w < 2) throw new RangeError(`classifier: ${a.width}x${a.height} input is too small for ${a.conv.length} pooling stages`);
      const weight = add(`conv${k}.weight`, [cout, c, 3, 3]);
      const bias = add(`conv${k}.bias`, [cout]);
      const ph = h >> 1, pw = w >> 1;
      this.convs.push({
        cin: c, cout, h, w, ph, pw, weight, bias,
        input: new Float64Array(c * h * w), act: new Float64Array(cout * h * w), pooled: new Float64Array(cout * ph * pw),
        arg: new Int32Array(cout * ph * pw), dAct: new Float64Array(cout * h * w), dInput: new Float64Array(c * h * w),
      });
      c = cout; h = ph; w = pw;
    });
    let fin = c * h * w;
    const sizes = a.hidden > 0 ? [a.hidden, a.classes] : [a.classes];
    sizes.forEach((fout, k) => {
      const last = k === sizes.length - 1;
      const name = last ? 'out' : `fc${k}`;
      const weight = add(`${name}.weight`, [fout, fin]);
      const bias = add(`${name}.bias`, [fout]);
      this.dense.push({
        fin, fout, relu: !last, weight, bias,
        input: new Float64Array(fin), out: new Float64Array(fout), dOut: new Float64Array(fout), dInput: new Float64Array(fin),
      });
      fin = fout;
    });
    this.paramList = list;
    this.probs = new Float64Array(a.classes);
    if (typeof init === 'number') {
      this.params = new Float64Array(offset);
      const rng = new Rng(init).derive('classifier-init');
      for (const s of this.convs) heNormal(rng, this.params.subarray(s.weight.offset, s.weight.offset + s.weight.size), s.cin * 9);
      for (const s of this.dense) heNormal(rng, this.params.subarray(s.weight.offset, s.weight.offset + s.weight.size), s.fin);
    } else {
      if (init.length !== offset) throw new RangeError(`classifier: ${init.length} parameters given, the architecture has ${offset}`);
      this.params = Float64Array.from(init);
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

  /** Forward pass of one image (CHW values at `x[offset..]`); returns the logits (a buffer reused by the next call). */
  logits(x: ArrayLike<number>, offset = 0): Float64Array {
    const P = this.params;
    let input: Float64Array = this.convs.length ? this.convs[0].input : this.dense[0].input;
    for (let i = 0; i < input.length; i++) input[i] = x[offset + i];
    for (let k = 0; k < this.convs.length; k++) {
      const s = this.convs[k];
      if (s.input !== input) s.input.set(input);
      convForward(s, P);
      input = s.pooled;
    }
    for (const d of this.dense) {
      if (d.input !== input) d.input.set(input);
      const { fin, fout } = d;
      const wo = d.weight.offset, bo = d.bias.offset;
      for (let j = 0; j < fout; j++) {
        let s = P[bo + j];
        const row = wo + j * fin;
        for (let i = 0; i < fin; i++) s += P[row + i] * d.input[i];
        d.out[j] = d.relu && s < 0 ? 0 : s;
      }
      input = d.out;
    }
    return input;
  }

  /** Softmax probabilities of one image (buffer reused by the next call). */
  probabilities(x: ArrayLike<number>, offset = 0): Float64Array {
    return softmax(this.logits(x, offset), this.probs);
  }

  /** The predicted class of each image of a [N, C, H, W] batch (grey/RGB converted to the model's channels). */
  predict(images: Tensor4): number[] {
    const t = this.adapt(images);
    const n = this.inputSize;
    const out: number[] = [];
    for (let i = 0; i < t.n; i++) out.push(argmax(this.logits(t.data, i * n)));
    return out;
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
   * Mean softmax cross-entropy of `count` images (CHW each, consecutive in `x`) with their labels, and its gradient
   * with respect to {@link params} accumulated into `grad` (scaled by 1/count) when given. Returns the loss and the
   * number of correct predictions.
   */
  lossAndGradient(x: ArrayLike<number>, labels: ArrayLike<number>, count: number, grad?: Float64Array, offset = 0): { loss: number; correct: number } {
    const n = this.inputSize;
    let loss = 0, correct = 0;
    for (let i = 0; i < count; i++) {
      const logits = this.logits(x, offset + i * n);
      const y = labels[i];
      if (argmax(logits) === y) correct++;
      const p = softmax(logits, this.probs);
      loss -= Math.log(Math.max(p[y], 1e-300));
      if (grad) {
        p[y] -= 1;
        this.backward(p, grad, 1 / count);
      }
    }
    return { loss: loss / count, correct };
  }

  /** Backward pass of the last forward: `dLogits` (overwritten) → parameter gradients added (× scale) to `grad`. */
  private backward(dLogits: Float64Array, grad: Float64Array, scale: number): void {
    const P = this.params;
    for (let j = 0; j < dLogits.length; j++) dLogits[j] *= scale;
    let dOut = dLogits;
    for (let k = this.dense.length - 1; k >= 0; k--) {
      const d = this.dense[k];
      const { fin, fout } = d;
      const wo = d.weight.offset, bo = d.bias.offset;
      const g = d.dOut;
      for (let j = 0; j < fout; j++) g[j] = d.relu && d.out[j] <= 0 ? 0 : dOut[j];
      d.dInput.fill(0);
      for (let j = 0; j < fout; j++) {
        const gj = g[j];
        if (gj === 0) continue;
        grad[bo + j] += gj;
        const row = wo + j * fin;
        for (let i = 0; i < fin; i++) {
          grad[row + i] += gj * d.input[i];
          d.dInput[i] += P[row + i] * gj;
        }
      }
      dOut = d.dInput;
    }
    for (let k = this.convs.length - 1; k >= 0; k--) {
      convBackward(this.convs[k], P, grad, dOut, k > 0);
      dOut = this.convs[k].dInput;
    }
  }

  /** Accuracy (share of correct predictions) on a batch with its labels. */
  accuracy(images: Tensor4, labels: ArrayLike<number>): number {
    const pred = this.predict(images);
    let ok = 0;
    for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) ok++;
    return pred.length ? ok / pred.length : NaN;
  }

  /** Round every parameter to float32 (what {@link saveClassifier} stores). */
  roundToFloat32(): void {
    for (let i = 0; i < this.params.length; i++) this.params[i] = Math.fround(this.params[i]);
  }
}

function convForward(s: ConvStage, P: Float64Array): void {
  const { cin, cout, h, w, ph, pw } = s;
  const hw = h * w;
  const inp = s.input, act = s.act;
  const wo = s.weight.offset, bo = s.bias.offset;
  for (let co = 0; co < cout; co++) {
    const ob = co * hw;
    act.fill(P[bo + co], ob, ob + hw);
    for (let ci = 0; ci < cin; ci++) {
      for (let ky = 0; ky < 3; ky++) {
        const dy = ky - 1;
        const y0 = dy < 0 ? 1 : 0, y1 = dy > 0 ? h - 1 : h;
        for (let kx = 0; kx < 3; kx++) {
          const wv = P[wo + ((co * cin + ci) * 3 + ky) * 3 + kx];
          const dx = kx - 1;
          const x0 = dx < 0 ? 1 : 0, x1 = dx > 0 ? w - 1 : w;
          for (let y = y0; y < y1; y++) {
            const o = ob + y * w, ib = ci * hw + (y + dy) * w + dx;
            for (let x = x0; x < x1; x++) act[o + x] += wv * inp[ib + x];
          }
        }
      }
    }
    for (let p = ob; p < ob + hw; p++) if (act[p] < 0) act[p] = 0;
    // 2×2 max pooling, stride 2
    const pb = co * ph * pw;
    for (let py = 0; py < ph; py++) {
      for (let px = 0; px < pw; px++) {
        const q0 = ob + 2 * py * w + 2 * px;
        let best = q0;
        let bv = act[q0];
        if (act[q0 + 1] > bv) { bv = act[q0 + 1]; best = q0 + 1; }
        if (act[q0 + w] > bv) { bv = act[q0 + w]; best = q0 + w; }
        if (act[q0 + w + 1] > bv) { bv = act[q0 + w + 1]; best = q0 + w + 1; }
        s.pooled[pb + py * pw + px] = bv;
        s.arg[pb + py * pw + px] = best;
      }
    }
  }
}

function convBackward(s: ConvStage, P: Float64Array, grad: Float64Array, dPooled: Float64Array, needInput: boolean): void {
  const { cin, cout, h, w } = s;
  const hw = h * w;
  const dAct = s.dAct;
  dAct.fill(0);
  for (let i = 0; i < s.arg.length; i++) dAct[s.arg[i]] += dPooled[i];
  for (let p = 0; p < dAct.length; p++) if (s.act[p] <= 0) dAct[p] = 0; // ReLU
  const inp = s.input, dIn = s.dInput;
  if (needInput) dIn.fill(0);
  const wo = s.weight.offset, bo = s.bias.offset;
  for (let co = 0; co < cout; co++) {
    const ob = co * hw;
    let gb = 0;
    for (let p = ob; p < ob + hw; p++) gb += dAct[p];
    if (gb === 0) {
      let any = false;
      for (let p = ob; p < ob + hw; p++) if (dAct[p] !== 0) { any = true; break; }
      if (!any) continue;
    }
    grad[bo + co] += gb;
    for (let ci = 0; ci < cin; ci++) {
      for (let ky = 0; ky < 3; ky++) {
        const dy = ky - 1;
        const y0 = dy < 0 ? 1 : 0, y1 = dy > 0 ? h - 1 : h;
        for (let kx = 0; kx < 3; kx++) {
          const wi = wo + ((co * cin + ci) * 3 + ky) * 3 + kx;
          const wv = P[wi];
          const dx = kx - 1;
          const x0 = dx < 0 ? 1 : 0, x1 = dx > 0 ? w - 1 : w;
          let gw = 0;
          for (let y = y0; y < y1; y++) {
            const o = ob + y * w, ib = ci * hw + (y + dy) * w + dx;
            if (needInput) {
              for (let x = x0; x < x1; x++) {
                const g = dAct[o + x];
                gw += g * inp[ib + x];
                dIn[ib + x] += wv * g;
              }
            } else {
              for (let x = x0; x < x1; x++) gw += dAct[o + x] * inp[ib + x];
            }
          }
          grad[wi] += gw;
        }
      }
    }
  }
}

function softmax(logits: Float64Array, out: Float64Array): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > m) m = logits[i];
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += out[i] = Math.exp(logits[i] - m);
  for (let i = 0; i < logits.length; i++) out[i] /= s;
  return out;
}

function argmax(v: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[b]) b = i;
  return b;
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
 * Deterministic for a seed. The returned model's weights are rounded to float32 (as saved).
 */
export function trainClassifier(
  arch: ClassifierArchInput,
  images: Tensor4,
  labels: ArrayLike<number>,
  options: ClassifierTrainOptionsInput = {},
  onEpoch?: (e: ClassifierEpoch) => void,
): ClassifierTrainResult {
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
  const rng = new Rng(o.seed).derive('classifier-data');
  const P = model.params;
  const grad = new Float64Array(P.length);
  const m1 = new Float64Array(P.length), m2 = new Float64Array(P.length);
  const n = model.inputSize;
  const B = Math.min(o.batch, N);
  const xb = new Float64Array(B * n);
  const yb = new Int32Array(B);
  const stepsPerEpoch = Math.ceil(N / B);
  const total = stepsPerEpoch * o.epochs;
  const order = Array.from({ length: N }, (_, i) => i);
  const history: ClassifierEpoch[] = [];
  let step = 0;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const te = performance.now();
    rng.shuffle(order);
    let lossSum = 0, correct = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const idx = order.slice(s * B, Math.min(N, (s + 1) * B));
      idx.forEach((k, b) => {
        yb[b] = labels[k];
        const dx = o.shift ? rng.int(2 * o.shift + 1) - o.shift : 0;
        const dy = o.shift ? rng.int(2 * o.shift + 1) - o.shift : 0;
        shiftInto(x.data, k * n, xb, b * n, a.channels, a.height, a.width, dx, dy, o.background);
      });
      grad.fill(0);
      const r = model.lossAndGradient(xb, yb, idx.length, grad);
      lossSum += r.loss * idx.length;
      correct += r.correct;
      step++;
      const lr = o.lr * (o.lrMinFactor + (1 - o.lrMinFactor) * 0.5 * (1 + Math.cos((Math.PI * (step - 1)) / Math.max(1, total - 1))));
      const c1 = 1 - o.beta1 ** step, c2 = 1 - o.beta2 ** step;
      for (let i = 0; i < P.length; i++) {
        const g = grad[i];
        m1[i] = o.beta1 * m1[i] + (1 - o.beta1) * g;
        m2[i] = o.beta2 * m2[i] + (1 - o.beta2) * g * g;
        P[i] -= (lr * (m1[i] / c1)) / (Math.sqrt(m2[i] / c2) + 1e-8);
      }
    }
    const e: ClassifierEpoch = { epoch, epochs: o.epochs, loss: lossSum / N, trainAccuracy: correct / N, seconds: (performance.now() - te) / 1000 };
    history.push(e);
    onEpoch?.(e);
  }
  model.roundToFloat32();
  return { model, history, seconds: (performance.now() - t0) / 1000, options: o };
}

/** Copy one CHW image translated by (dx, dy) (pixels shifted in get `fill`). */
function shiftInto(src: ArrayLike<number>, so: number, dst: Float64Array, dof: number, C: number, H: number, W: number, dx: number, dy: number, fill: number): void {
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      const sy = y - dy;
      const o = dof + (c * H + y) * W;
      if (sy < 0 || sy >= H) {
        dst.fill(fill, o, o + W);
        continue;
      }
      const s = so + (c * H + sy) * W;
      for (let xx = 0; xx < W; xx++) {
        const sx = xx - dx;
        dst[o + xx] = sx < 0 || sx >= W ? fill : src[s + sx];
      }
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
  const f32 = Float32Array.from(model.params);
  const bytes = Buffer.alloc(f32.length * 4);
  for (let i = 0; i < f32.length; i++) bytes.writeFloatLE(f32[i], i * 4);
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
 * Load a classifier folder written by {@link saveClassifier} (`dir` may also name its model.json). Throws
 * {@link ModelFileError} naming the file when the card or the weights are missing, malformed or inconsistent.
 */
export async function loadClassifier(dir: string): Promise<LoadedClassifier> {
  const cardFile = dir.endsWith('.json') ? dir : path.join(dir, 'model.json');
  let text: string;
  try {
    text = await fs.readFile(cardFile, 'utf8');
  } catch (err) {
    throw new ModelFileError(`cannot read classifier card ${cardFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, cardFile, { cause: err });
  }
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
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(weightsFile);
  } catch (err) {
    throw new ModelFileError(`cannot read classifier weights ${weightsFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, weightsFile, { cause: err });
  }
  if (bytes.length !== model.size * 4) {
    throw new ModelFileError(`${weightsFile} has ${bytes.length} bytes; the card's ${model.size} float32 parameters need ${model.size * 4}`, weightsFile);
  }
  for (let i = 0; i < model.size; i++) {
    const v = bytes.readFloatLE(i * 4);
    if (!Number.isFinite(v)) throw new ModelFileError(`${weightsFile}: parameter ${i} is not finite`, weightsFile);
    model.params[i] = v;
  }
  return { model, card };
}

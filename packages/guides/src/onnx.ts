/**
 * `onnx` guide: a bring-your-own ONNX inpainting network on onnxruntime-node (through @diff2s/engine's wrapper).
 *
 * Built-in profiles describe each family's I/O convention; `custom` lets the config describe any other:
 *
 * | profile | inputs | value range in → out | mask | size |
 * |---|---|---|---|---|
 * | `lama`  | `image` [1,3,H,W], `mask` [1,1,H,W] | [0,1] → [0,1] or 0–255 (detected) | 1 = hole | H, W padded to a multiple of 8 |
 * | `mat`   | `image` [1,3,512,512], `mask` [1,1,512,512] | [-1,1] → [-1,1] | 1 = known | 512 square |
 * | `migan` | `input` [1,4,512,512] = [0.5 − mask, image·(1 − mask)] | [-1,1] → [-1,1] | (1 = hole inside the formula) | 512 square |
 *
 * All outputs are `output` [1,3,H,W]. Hole pixels of the image input are zeroed (in the model's range).
 * Fixed-size models see a crop around the hole's bounding box (plus a margin, grown to the model's aspect) resized
 * to their size — IOPaint's "crop" strategy — or, with `strategy: full`, the whole image resized; only hole pixels
 * are pasted back. Multiple-of-k models see the whole image (or, with `strategy: crop`, the crop) padded
 * symmetrically and cropped back. The session's declared inputs/outputs are checked against the profile when it is
 * loaded; a {@link ModelError} lists every difference.
 */
import * as path from 'path';
import { z } from 'zod';
import { InputError, maskBoundingBox, ModelError, Tensor4, toChannels, ModelFileError } from '@diff2s/core';
import type { Guide, GuideContext, GuideOptions, Logger, RegistryEntry, SizeSupport } from '@diff2s/core';
import { formatOrtValueInfo, loadOrtSession } from '@diff2s/engine';
import type { OrtSession, OrtValueInfo } from '@diff2s/engine';
import { runPerImage, throwIfAborted } from './common';
import { padPlanes, resizeHoleConservative, resizePlanes } from './resize';
import type { PadMode } from './resize';

/** A value range of network tensors. */
export type ValueRange = '0,1' | '-1,1' | '0,255';

/** The spatial size rule of a network: any size that is a multiple of `value`, or a fixed h×w. */
export type SizeRule = { mode: 'multiple'; value: number } | { mode: 'fixed'; h: number; w: number };

/** A family's I/O convention. */
export interface OnnxProfile {
  readonly name: string;
  /** `separate`: image and mask inputs; `migan`: one 4-channel input [0.5 − hole, image·(1 − hole)]. */
  readonly layout: 'separate' | 'migan';
  /** Tensor names: `image` and `mask` (separate layout) or `input` (migan layout), and `output`. */
  readonly names: { readonly image: string; readonly mask: string; readonly input: string; readonly output: string };
  readonly inputRange: ValueRange;
  /** `auto`: detected from the output's values (max > 1.5 → 0–255; else min < −0.05 → [-1,1]; else [0,1]). */
  readonly outputRange: ValueRange | 'auto';
  /** What a mask value of 1 means to the network. */
  readonly maskPolarity: 'hole' | 'known';
  readonly size: SizeRule;
  /** Default strategy: `crop` (around the hole) or `full` (whole image). */
  readonly strategy: 'crop' | 'full';
}

const DEFAULT_NAMES = { image: 'image', mask: 'mask', input: 'input', output: 'output' } as const;

/** The built-in profiles. */
export const ONNX_PROFILES: Readonly<Record<'lama' | 'mat' | 'migan', OnnxProfile>> = {
  lama: {
    name: 'lama', layout: 'separate', names: DEFAULT_NAMES, inputRange: '0,1', outputRange: 'auto',
    maskPolarity: 'hole', size: { mode: 'multiple', value: 8 }, strategy: 'full',
  },
  mat: {
    name: 'mat', layout: 'separate', names: DEFAULT_NAMES, inputRange: '-1,1', outputRange: '-1,1',
    maskPolarity: 'known', size: { mode: 'fixed', h: 512, w: 512 }, strategy: 'crop',
  },
  migan: {
    name: 'migan', layout: 'migan', names: DEFAULT_NAMES, inputRange: '-1,1', outputRange: '-1,1',
    maskPolarity: 'hole', size: { mode: 'fixed', h: 512, w: 512 }, strategy: 'crop',
  },
};

const rangeSchema = z.enum(['0,1', '-1,1', '0,255']);
const sizeSchema = z.union([
  z.object({ multiple: z.number().int().min(1).max(1024) }).strict(),
  z.object({ fixed: z.union([z.number().int().min(1), z.tuple([z.number().int().min(1), z.number().int().min(1)])]) }).strict(),
]);

/** Config of the `onnx` guide. For `custom`, `inputRange`, `maskPolarity` and `size` are required. */
export const onnxGuideConfig = z
  .object({
    /** The .onnx file (relative paths resolve against the context's baseDir). */
    model: z.string().min(1),
    profile: z.enum(['lama', 'mat', 'migan', 'custom']).default('lama'),
    /** Override tensor names. */
    names: z.object({ image: z.string().min(1), mask: z.string().min(1), input: z.string().min(1), output: z.string().min(1) }).partial().strict().optional(),
    layout: z.enum(['separate', 'migan']).optional(),
    inputRange: rangeSchema.optional(),
    outputRange: z.union([rangeSchema, z.literal('auto')]).optional(),
    maskPolarity: z.enum(['hole', 'known']).optional(),
    /** `{ multiple: 8 }` or `{ fixed: 512 }` / `{ fixed: [h, w] }`. */
    size: sizeSchema.optional(),
    /** `crop`: around the hole's bounding box; `full`: the whole image. Default from the profile. */
    strategy: z.enum(['crop', 'full']).optional(),
    /** Pixels added around the hole's bounding box in `crop` strategy. */
    cropMargin: z.number().int().min(0).default(128),
    /** How multiple-of-k models' inputs are padded. */
    padMode: z.enum(['symmetric', 'edge', 'zero']).default('symmetric'),
    /** onnxruntime intra-op threads (default: its wrapper's choice). */
    threads: z.number().int().min(1).max(256).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.profile !== 'custom') return;
    for (const key of ['inputRange', 'maskPolarity', 'size'] as const) {
      if (v[key] === undefined) ctx.addIssue({ code: 'custom', message: `the custom profile needs "${key}"`, path: [key] });
    }
  });

/** Parsed config of the onnx guide. */
export type OnnxGuideConfig = z.infer<typeof onnxGuideConfig>;

/** The profile a config describes: the named built-in (or custom defaults) with the config's overrides. */
export function resolveProfile(config: OnnxGuideConfig): OnnxProfile {
  const base: OnnxProfile =
    config.profile === 'custom'
      ? { name: 'custom', layout: 'separate', names: DEFAULT_NAMES, inputRange: '0,1', outputRange: 'auto', maskPolarity: 'hole', size: { mode: 'multiple', value: 1 }, strategy: 'full' }
      : ONNX_PROFILES[config.profile];
  let size = base.size;
  if (config.size) {
    if ('multiple' in config.size) size = { mode: 'multiple', value: config.size.multiple };
    else {
      const f = config.size.fixed;
      size = typeof f === 'number' ? { mode: 'fixed', h: f, w: f } : { mode: 'fixed', h: f[0], w: f[1] };
    }
  }
  return {
    name: base.name,
    layout: config.layout ?? base.layout,
    names: { ...base.names, ...(config.names ?? {}) },
    inputRange: config.inputRange ?? base.inputRange,
    outputRange: config.outputRange ?? base.outputRange,
    maskPolarity: config.maskPolarity ?? base.maskPolarity,
    size,
    strategy: config.strategy ?? (size.mode === 'fixed' ? 'crop' : base.strategy),
  };
}

type DimSpec = number | '*';

/** Expected declared signature of a profile: inputs and the output, dims with '*' for free. */
export function profileSignature(profile: OnnxProfile): { inputs: { name: string; dims: DimSpec[] }[]; output: { name: string; dims: DimSpec[] } } {
  const hs: DimSpec = profile.size.mode === 'fixed' ? profile.size.h : '*';
  const ws: DimSpec = profile.size.mode === 'fixed' ? profile.size.w : '*';
  const inputs =
    profile.layout === 'migan'
      ? [{ name: profile.names.input, dims: [1, 4, hs, ws] as DimSpec[] }]
      : [
          { name: profile.names.image, dims: [1, 3, hs, ws] as DimSpec[] },
          { name: profile.names.mask, dims: [1, 1, hs, ws] as DimSpec[] },
        ];
  return { inputs, output: { name: profile.names.output, dims: [1, 3, hs, ws] } };
}

const DIM_NAMES = ['batch', 'channels', 'height', 'width'];

/**
 * Compare a session's declared inputs/outputs with a profile. Returns the differences (empty when they match).
 * Symbolic dimensions match anything; the batch dimension may be 1 or symbolic.
 */
export function signatureDifferences(profile: OnnxProfile, inputs: readonly OrtValueInfo[], outputs: readonly OrtValueInfo[]): string[] {
  const sig = profileSignature(profile);
  const diffs: string[] = [];
  const checkValue = (kind: 'input' | 'output', v: OrtValueInfo, dims: DimSpec[]): void => {
    if (!v.isTensor) { diffs.push(`${kind} "${v.name}" is not a tensor`); return; }
    if (v.type !== 'float32') diffs.push(`${kind} "${v.name}" has element type ${v.type}, the profile needs float32`);
    if (v.dims.length !== dims.length) {
      diffs.push(`${kind} "${v.name}" has ${v.dims.length} dimensions [${v.dims.join(',')}], the profile needs ${dims.length} [${dims.join(',')}]`);
      return;
    }
    for (let i = 0; i < dims.length; i++) {
      const want = dims[i], got = v.dims[i];
      if (want === '*' || typeof got === 'string') continue;
      if (got !== want) diffs.push(`${kind} "${v.name}" dimension ${i} (${DIM_NAMES[i]}) is ${got}, the profile needs ${want}`);
    }
  };
  for (const want of sig.inputs) {
    const got = inputs.find((v) => v.name === want.name);
    if (!got) diffs.push(`missing input "${want.name}" [${want.dims.join(',')}]`);
    else checkValue('input', got, want.dims);
  }
  for (const v of inputs) {
    if (!sig.inputs.some((s) => s.name === v.name)) diffs.push(`unexpected input ${formatOrtValueInfo(v)}`);
  }
  const out = outputs.find((v) => v.name === sig.output.name);
  if (!out) diffs.push(`missing output "${sig.output.name}" [${sig.output.dims.join(',')}]`);
  else checkValue('output', out, sig.output.dims);
  return diffs;
}

/** A region of the image (x0, y0 inclusive; x1, y1 exclusive). */
export interface Region { x0: number; y0: number; x1: number; y1: number }

/** Where and how one image is fed to the network. */
export interface OnnxPlan {
  /** The part of the image the network sees. */
  region: Region;
  /** Size the region is resized to (equal to the region's size when not resized). */
  resized: { h: number; w: number };
  /** Size after padding (the network's input size). */
  input: { h: number; w: number };
}

/**
 * Plan one image: for a fixed size, the crop (hole bounding box + margin, grown toward the network's aspect and
 * clamped to the image) or the whole image, resized to the network's size; for a multiple-of-k size, the crop or the
 * whole image, padded to the next multiple.
 */
export function planRegion(bbox: Region, width: number, height: number, size: SizeRule, strategy: 'crop' | 'full', margin: number): OnnxPlan {
  let region: Region = { x0: 0, y0: 0, x1: width, y1: height };
  const fitsExactly = size.mode === 'fixed' && size.w === width && size.h === height;
  if (strategy === 'crop' && !fitsExactly) {
    region = {
      x0: Math.max(0, bbox.x0 - margin), y0: Math.max(0, bbox.y0 - margin),
      x1: Math.min(width, bbox.x1 + margin), y1: Math.min(height, bbox.y1 + margin),
    };
    if (size.mode === 'fixed') region = growToAspect(region, size.w / size.h, width, height);
  }
  const rw = region.x1 - region.x0, rh = region.y1 - region.y0;
  if (size.mode === 'fixed') return { region, resized: { h: size.h, w: size.w }, input: { h: size.h, w: size.w } };
  const k = size.value;
  return { region, resized: { h: rh, w: rw }, input: { h: Math.ceil(rh / k) * k, w: Math.ceil(rw / k) * k } };
}

/** Grow a region (centred, shifted inside the image) toward the aspect ratio w/h = `aspect`. */
function growToAspect(r: Region, aspect: number, width: number, height: number): Region {
  const grow = (lo: number, hi: number, want: number, limit: number): [number, number] => {
    const size = Math.min(limit, Math.max(hi - lo, want));
    let a = Math.round((lo + hi) / 2 - size / 2);
    a = Math.max(0, Math.min(limit - size, a));
    return [a, a + size];
  };
  const rw = r.x1 - r.x0, rh = r.y1 - r.y0;
  if (rw / rh < aspect) {
    const [x0, x1] = grow(r.x0, r.x1, Math.round(rh * aspect), width);
    return { ...r, x0, x1 };
  }
  const [y0, y1] = grow(r.y0, r.y1, Math.round(rw / aspect), height);
  return { ...r, y0, y1 };
}

/** Map [-1,1] values to a range (in place). */
function toRange(d: Float32Array, range: ValueRange): void {
  if (range === '-1,1') return;
  const a = range === '0,1' ? 0.5 : 127.5;
  for (let i = 0; i < d.length; i++) d[i] = (d[i] + 1) * a;
}

/** Detect an output's range: max > 1.5 → 0–255; else min < −0.05 → [-1,1]; else [0,1]. `lama` never picks [-1,1]. */
export function detectRange(d: Float32Array, allowSigned = true): ValueRange {
  let mn = Infinity, mx = -Infinity;
  for (let i = 0; i < d.length; i++) { const v = d[i]; if (v < mn) mn = v; if (v > mx) mx = v; }
  if (mx > 1.5) return '0,255';
  if (allowSigned && mn < -0.05) return '-1,1';
  return '0,1';
}

/** Map values in `range` to [-1,1], clamped (in place). */
function fromRange(d: Float32Array, range: ValueRange): void {
  for (let i = 0; i < d.length; i++) {
    const x = d[i];
    const v = range === '-1,1' ? x : range === '0,1' ? x * 2 - 1 : x / 127.5 - 1;
    d[i] = v < -1 ? -1 : v > 1 ? 1 : v;
  }
}

/** Runs an ONNX inpainting network under a profile (see the file comment). */
export class OnnxGuide implements Guide {
  readonly name = 'onnx';
  readonly sizes: SizeSupport = { min: 1, max: Infinity, multiple: 1, fullMask: true };
  readonly profile: OnnxProfile;
  private session?: Promise<{ session: OrtSession; profile: OnnxProfile }>;

  constructor(readonly config: OnnxGuideConfig, private readonly baseDir: string, private readonly logger: Logger) {
    this.profile = resolveProfile(config);
  }

  /** The model file's absolute path. */
  get modelPath(): string {
    return path.resolve(this.baseDir, this.config.model);
  }

  /**
   * Load the session (once) and validate its signature; returns the effective profile (a multiple-of-k profile
   * becomes fixed-size when the model declares fixed spatial dimensions).
   */
  load(): Promise<{ session: OrtSession; profile: OnnxProfile }> {
    this.session ??= (async () => {
      const session = await loadOrtSession(this.modelPath, { intraOpNumThreads: this.config.threads });
      let profile = this.profile;
      const main = session.inputs.find((v) => v.name === (profile.layout === 'migan' ? profile.names.input : profile.names.image));
      if (profile.size.mode === 'multiple' && main && typeof main.dims[2] === 'number' && typeof main.dims[3] === 'number' && !this.config.size) {
        profile = { ...profile, size: { mode: 'fixed', h: main.dims[2], w: main.dims[3] }, strategy: this.config.strategy ?? 'crop' };
        this.logger.debug(`onnx guide: ${this.modelPath} declares a fixed ${main.dims[3]}x${main.dims[2]} input; resizing to it`);
      }
      const diffs = signatureDifferences(profile, session.inputs, session.outputs);
      if (diffs.length) {
        await session.release();
        throw new ModelFileError(
          `ONNX model ${this.modelPath} does not match the "${profile.name}" profile:\n  - ${diffs.join('\n  - ')}\n` +
            `the model declares ${session.describe()}`,
        );
      }
      return { session, profile };
    })();
    this.session.catch(() => { this.session = undefined; });
    return this.session;
  }

  async inpaint(image: Tensor4, mask: Tensor4, options: GuideOptions): Promise<Tensor4> {
    if (image.c !== 1 && image.c !== 3) throw new InputError(`onnx guide: images must have 1 or 3 channels, got ${image.c}`);
    return runPerImage(image, mask, options, { guide: this.name, fullMask: true, sizes: this.sizes }, async (img, m, _i, progress) => {
      const { session, profile } = await this.load();
      throwIfAborted(options.signal, 'onnx guide');
      progress(0.1, 'onnx: preparing');
      const out = await this.runOne(session, profile, img, m);
      return out;
    });
  }

  private async runOne(session: OrtSession, profile: OnnxProfile, image: Tensor4, mask: Tensor4): Promise<Tensor4> {
    const { h, w } = image;
    const rgb = toChannels(image, 3);
    const bbox = maskBoundingBox(mask)!;
    const plan = planRegion(bbox, w, h, profile.size, profile.strategy, this.config.cropMargin);
    const { region } = plan;
    const rw = region.x1 - region.x0, rh = region.y1 - region.y0;
    this.logger.debug(
      `onnx guide: region x ${region.x0}..${region.x1}, y ${region.y0}..${region.y1} (${rw}x${rh}) -> ${plan.resized.w}x${plan.resized.h}` +
        ` -> input ${plan.input.w}x${plan.input.h}`,
    );
    // crop
    const cropImg = new Float32Array(3 * rh * rw);
    const cropHole = new Float32Array(rh * rw);
    for (let y = 0; y < rh; y++) {
      const sy = region.y0 + y;
      for (let x = 0; x < rw; x++) {
        const sx = region.x0 + x;
        cropHole[y * rw + x] = mask.data[sy * w + sx];
        for (let c = 0; c < 3; c++) cropImg[(c * rh + y) * rw + x] = rgb.data[(c * h + sy) * w + sx];
      }
    }
    // resize (fixed-size models)
    const { h: zh, w: zw } = plan.resized;
    const resImg = resizePlanes(cropImg, 3, rh, rw, zh, zw);
    const resHole = zh === rh && zw === rw ? cropHole : Float32Array.from(resizeHoleConservative(cropHole, rh, rw, zh, zw));
    // pad (multiple-of-k models)
    const { h: ih, w: iw } = plan.input;
    const padMode = this.config.padMode as PadMode;
    const inImg = ih === zh && iw === zw ? resImg : padPlanes(resImg, 3, zh, zw, ih, iw, padMode);
    const inHole = ih === zh && iw === zw ? resHole : padPlanes(resHole, 1, zh, zw, ih, iw, padMode === 'zero' ? 'zero' : padMode);
    const ihw = ih * iw;
    // to the model's range, hole pixels zeroed (in the model's units, as the reference implementations do)
    toRange(inImg, profile.inputRange);
    for (let p = 0; p < ihw; p++) if (inHole[p] !== 0) { inImg[p] = 0; inImg[ihw + p] = 0; inImg[2 * ihw + p] = 0; }
    const feeds: Record<string, { dims: number[]; data: Float32Array }> = {};
    if (profile.layout === 'migan') {
      const data = new Float32Array(4 * ihw);
      for (let p = 0; p < ihw; p++) data[p] = 0.5 - inHole[p];
      data.set(inImg, ihw);
      feeds[profile.names.input] = { dims: [1, 4, ih, iw], data };
    } else {
      const m = new Float32Array(ihw);
      const holeValue = profile.maskPolarity === 'hole' ? 1 : 0;
      for (let p = 0; p < ihw; p++) m[p] = inHole[p] !== 0 ? holeValue : 1 - holeValue;
      feeds[profile.names.image] = { dims: [1, 3, ih, iw], data: inImg };
      feeds[profile.names.mask] = { dims: [1, 1, ih, iw], data: m };
    }
    const result = (await session.run(feeds, [profile.names.output]))[profile.names.output];
    const d = result.dims;
    if (d.length !== 4 || d[0] !== 1 || d[1] !== 3 || d[2] !== ih || d[3] !== iw) {
      throw new ModelFileError(`ONNX model ${this.modelPath}: output "${profile.names.output}" has shape [${d.join(',')}], expected [1,3,${ih},${iw}]`);
    }
    const outData = result.data;
    const range = profile.outputRange === 'auto' ? detectRange(outData, profile.name !== 'lama') : profile.outputRange;
    if (profile.outputRange === 'auto') this.logger.debug(`onnx guide: output range detected as ${range}`);
    fromRange(outData, range);
    // un-pad, un-resize
    let un = outData;
    if (ih !== zh || iw !== zw) {
      un = new Float32Array(3 * zh * zw);
      for (let c = 0; c < 3; c++) for (let y = 0; y < zh; y++) un.set(outData.subarray((c * ih + y) * iw, (c * ih + y) * iw + zw), (c * zh + y) * zw);
    }
    const back = resizePlanes(un, 3, zh, zw, rh, rw);
    // the region's result (clamped) into the image; runPerImage pastes the known pixels back from the input
    const out = rgb.clone();
    for (let y = 0; y < rh; y++) {
      const sy = region.y0 + y;
      for (let x = 0; x < rw; x++) {
        const sx = region.x0 + x;
        for (let c = 0; c < 3; c++) {
          const v = back[(c * rh + y) * rw + x];
          out.data[(c * h + sy) * w + sx] = v < -1 ? -1 : v > 1 ? 1 : v;
        }
      }
    }
    return image.c === 1 ? toChannels(out, 1) : out;
  }

  async dispose(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) {
      try {
        await (await s).session.release();
      } catch {
        // loading failed: nothing to release
      }
    }
  }
}

/** Registry entry: `onnx`. */
export const onnxGuideEntry: RegistryEntry<Guide, OnnxGuideConfig, GuideContext> = {
  name: 'onnx',
  description: 'a bring-your-own ONNX inpainting network (LaMa, MAT, MI-GAN profiles or a custom one) on onnxruntime',
  configSchema: onnxGuideConfig,
  create: (config, context) => {
    if (!config.model.toLowerCase().endsWith('.onnx')) {
      context.logger.warn(`onnx guide: model ${config.model} does not end in .onnx`);
    }
    return new OnnxGuide(config, context.baseDir, context.logger);
  },
};


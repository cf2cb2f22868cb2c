import { z } from 'zod';
import { ConfigError, parseConfig } from '@diff2s/core';
import type { InitSpec, NetOp, NetSection, NetworkDef, ParamSpec, SectionName } from './def';
import { validateNetworkDef } from './def';

/** What the network's input channels are made of, in order. */
export const ConditioningLayout = z
  .object({
    /**
     * Image inputs concatenated along channels, in order: `xt` the noisy image, `xm` the conditioning image
     * (Diff-2sIR's x_m = m⊙ε + (1−m)⊙x_0), `mask` (1 channel, 1 = hole). Without `xm` and `mask` the model is
     * unconditional (RePaint-style).
     */
    inputs: z.array(z.enum(['xt', 'xm', 'mask'])).min(1).default(['xm', 'xt']),
    /**
     * `asGiven`: feed x_m as given (noise in the hole, Palette / Diff-2sIR); `zero`: feed (1−m)⊙x_m, i.e. the masked
     * image with zeros in the hole (the frugal model's y = x⊙(1−M)).
     */
    holeFill: z.enum(['asGiven', 'zero']).default('asGiven'),
  })
  .strict();
export type ConditioningLayout = z.infer<typeof ConditioningLayout>;

/** How the noise level enters the network. */
export const NoiseInputConfig = z
  .object({
    /** The scalar fed to the embedding: integer step t, ᾱ_t (Palette's "gamma"), or √ᾱ_t. */
    input: z.enum(['t', 'alphaBar', 'sqrtAlphaBar']).default('alphaBar'),
    /** `mlp`: sinusoidal embedding → dense → act → dense, added in every block; `tile`: sinusoidal embedding tiled over H×W and concatenated to the input. */
    embedding: z.enum(['mlp', 'tile']).default('mlp'),
    /** Sinusoidal embedding size (even). */
    dim: z.number().int().min(2).multipleOf(2).default(64),
    /** The scalar is multiplied by this before the sinusoids. */
    scale: z.number().positive().default(1),
    maxPeriod: z.number().positive().default(10000),
    /** MLP width = dim × mlpMult (mlp embedding). */
    mlpMult: z.number().int().min(1).default(4),
  })
  .strict();
export type NoiseInputConfig = z.infer<typeof NoiseInputConfig>;

/** Configuration of the UNet builder (one builder, several configurations; see {@link unetPresets}). */
export const UNetConfig = z
  .object({
    /**
     * `guided`: guided-diffusion / Palette layout (stem conv; a skip after the stem, every block and every
     * downsampling; decoder levels of numResBlocks+1 blocks; output GN-act-conv3×3).
     * `classic`: the textbook UNet of the frugal model (one skip per level, downsampling after every level,
     * upsample + concat + blocks per decoder level, 1×1 output conv).
     */
    layout: z.enum(['guided', 'classic']).default('guided'),
    baseChannels: z.number().int().min(1).default(64),
    channelMults: z.array(z.number().int().min(1)).min(1).default([1, 2, 4, 8]),
    numResBlocks: z.number().int().min(1).default(2),
    /** `plain`: conv-(norm)-act-conv-(norm)-act; `resnet`: (norm-act-conv)×2 + skip (1×1 conv when channels change). */
    block: z.enum(['plain', 'resnet']).default('resnet'),
    norm: z.enum(['groupnorm', 'none']).default('groupnorm'),
    groups: z.number().int().min(1).default(32),
    normEps: z.number().positive().default(1e-5),
    activation: z.enum(['relu', 'silu']).default('silu'),
    /** `avgpool` (2×2), `conv` (3×3 stride 2), `resblock` (a resnet block with average pooling inside). */
    downsample: z.enum(['avgpool', 'conv', 'resblock']).default('resblock'),
    /** `nearest`, `nearest-conv` (nearest then 3×3 conv), `resblock` (a resnet block with nearest upsampling inside). */
    upsample: z.enum(['nearest', 'nearest-conv', 'resblock']).default('resblock'),
    /** A 3×3 conv from the input to baseChannels·mults[0] before the first level (always on for `guided`). */
    stem: z.boolean().default(true),
    /** Self-attention in the middle block. */
    middleAttention: z.boolean().default(true),
    attentionHeadChannels: z.number().int().min(1).default(32),
    /** Channels of x_t, x_m and the output. */
    imageChannels: z.number().int().min(1).default(3),
    /** Output channels (default imageChannels). */
    outChannels: z.number().int().min(1).optional(),
    conditioning: ConditioningLayout.default({ inputs: ['xm', 'xt'], holeFill: 'asGiven' }),
    noise: NoiseInputConfig.default({ input: 'alphaBar', embedding: 'mlp', dim: 64, scale: 1, maxPeriod: 10000, mlpMult: 4 }),
    /** Resnet blocks apply the embedding as GN(h)·(1+scale)+shift (guided-diffusion's use_scale_shift_norm). */
    scaleShiftNorm: z.boolean().default(true),
    /** Zero-initialise the last conv of residual branches, attention projections and the output conv. */
    zeroInit: z.boolean().default(false),
    predictionType: z.enum(['epsilon', 'x0', 'v']).default('epsilon'),
  })
  .strict();
export type UNetConfig = z.infer<typeof UNetConfig>;
/** A UNet config as written by users (defaults not applied). */
export type UNetConfigInput = z.input<typeof UNetConfig>;

/** Presets: `frugal` (seed 000, ≈155k parameters) and `palette` (Palette / Diff-2sIR, ≈62M parameters). */
export const unetPresets: Record<'frugal' | 'palette', UNetConfigInput> = {
  frugal: {
    layout: 'classic',
    baseChannels: 32,
    channelMults: [1, 1, 1],
    numResBlocks: 1,
    block: 'plain',
    norm: 'none',
    activation: 'relu',
    downsample: 'avgpool',
    upsample: 'nearest',
    stem: false,
    middleAttention: false,
    conditioning: { inputs: ['xt', 'xm', 'mask'], holeFill: 'zero' },
    noise: { input: 't', embedding: 'tile', dim: 16, scale: 1 },
    scaleShiftNorm: false,
    zeroInit: false,
    predictionType: 'x0',
  },
  palette: {
    layout: 'guided',
    baseChannels: 64,
    channelMults: [1, 2, 4, 8],
    numResBlocks: 2,
    block: 'resnet',
    norm: 'groupnorm',
    groups: 32,
    activation: 'silu',
    downsample: 'resblock',
    upsample: 'resblock',
    stem: true,
    middleAttention: true,
    attentionHeadChannels: 32,
    conditioning: { inputs: ['xm', 'xt'], holeFill: 'asGiven' },
    noise: { input: 'alphaBar', embedding: 'mlp', dim: 64, scale: 1 },
    scaleShiftNorm: true,
    zeroInit: true,
    predictionType: 'epsilon',
  },
};
export type UNetPresetName = keyof typeof unetPresets;

/** A UNet given by preset name, or by a config (optionally `{ preset, ...overrides }`). */
export type UNetSpec = UNetPresetName | (UNetConfigInput & { preset?: UNetPresetName });

/**
 * Resolve a config: a preset name, or `{ preset?, ...overrides }` (overrides merged onto the preset, nested
 * `conditioning` / `noise` objects merged key by key). Throws ConfigError with the key path on invalid values.
 */
export function resolveUNetConfig(input: UNetSpec, path = 'model'): UNetConfig {
  if (typeof input === 'string') {
    if (!(input in unetPresets)) throw new ConfigError(`unknown UNet preset "${input}"; presets: ${Object.keys(unetPresets).join(', ')}`, path);
    return parseConfig(UNetConfig, unetPresets[input], path);
  }
  const { preset, ...rest } = input;
  if (preset !== undefined && !(preset in unetPresets)) {
    throw new ConfigError(`unknown UNet preset "${preset}"; presets: ${Object.keys(unetPresets).join(', ')}`, `${path}.preset`);
  }
  const base: UNetConfigInput = preset ? unetPresets[preset] : {};
  const merged: UNetConfigInput = {
    ...base,
    ...rest,
    ...(base.conditioning || rest.conditioning ? { conditioning: { ...base.conditioning, ...rest.conditioning } as ConditioningLayout } : {}),
    ...(base.noise || rest.noise ? { noise: { ...base.noise, ...rest.noise } as NoiseInputConfig } : {}),
  };
  return parseConfig(UNetConfig, merged, path);
}

/** Input channels of the image tensor fed to the network (before any tiled embedding). */
export function imageInputChannels(cfg: UNetConfig): number {
  let c = 0;
  for (const k of cfg.conditioning.inputs) c += k === 'mask' ? 1 : cfg.imageChannels;
  return c;
}

/** Whether a config is conditioned on (x_m, mask). */
export function isConditional(cfg: UNetConfig): boolean {
  return cfg.conditioning.inputs.some((k) => k === 'xm' || k === 'mask');
}

class Builder {
  readonly params: ParamSpec[] = [];
  readonly sections: Record<SectionName, NetOp[]> = { embed: [], encoder: [], middle: [], decoder: [] };
  section: SectionName = 'embed';
  private readonly names = new Set<string>();

  constructor(readonly cfg: UNetConfig) {}

  private value(name: string): string {
    let n = name, k = 1;
    while (this.names.has(n)) n = `${name}~${k++}`;
    this.names.add(n);
    return n;
  }

  private param(name: string, shape: number[], init: InitSpec): string {
    this.params.push({ name, shape, init });
    return name;
  }

  emit(op: NetOp): string {
    this.sections[this.section].push(op);
    return op.out;
  }

  conv(scope: string, x: string, cin: number, cout: number, k: number, stride = 1, zero = false): string {
    const weight = this.param(`${scope}.weight`, [cout, cin, k, k], zero ? { kind: 'zeros' } : { kind: 'he', fanIn: cin * k * k });
    const bias = this.param(`${scope}.bias`, [cout], { kind: 'zeros' });
    return this.emit({ op: 'conv2d', in: x, out: this.value(scope), weight, bias, stride, pad: (k - 1) >> 1 });
  }

  dense(scope: string, x: string, fin: number, fout: number, zero = false): string {
    const weight = this.param(`${scope}.weight`, [fout, fin], zero ? { kind: 'zeros' } : { kind: 'glorot', fanIn: fin, fanOut: fout });
    const bias = this.param(`${scope}.bias`, [fout], { kind: 'zeros' });
    return this.emit({ op: 'dense', in: x, out: this.value(scope), weight, bias });
  }

  norm(scope: string, x: string, ch: number): string {
    if (this.cfg.norm === 'none') return x;
    const groups = Math.min(this.cfg.groups, ch);
    if (ch % groups !== 0) throw new ConfigError(`GroupNorm: ${ch} channels are not divisible into ${groups} groups (at ${scope})`, 'model.groups');
    const scale = this.param(`${scope}.scale`, [ch], { kind: 'ones' });
    const shift = this.param(`${scope}.shift`, [ch], { kind: 'zeros' });
    return this.emit({ op: 'groupNorm', in: x, out: this.value(scope), groups, eps: this.cfg.normEps, scale, shift });
  }

  act(x: string, name: string): string {
    return this.emit({ op: 'act', fn: this.cfg.activation, in: x, out: this.value(`${name}.act`) });
  }

  add(a: string, b: string, name: string): string {
    return this.emit({ op: 'add', a, b, out: this.value(name) });
  }

  resample(x: string, kind: 'down' | 'up', name: string): string {
    return this.emit(kind === 'down' ? { op: 'avgPool2', in: x, out: this.value(`${name}.pool`) } : { op: 'upsample2', in: x, out: this.value(`${name}.up`) });
  }

  /** The embedding value blocks use (after its activation), or undefined in `tile` mode. */
  emb?: { name: string; dim: number };

  block(scope: string, x: string, cin: number, cout: number, updown?: 'down' | 'up'): string {
    return this.cfg.block === 'plain' && !updown ? this.plainBlock(scope, x, cin, cout) : this.resBlock(scope, x, cin, cout, updown);
  }

  plainBlock(scope: string, x: string, cin: number, cout: number): string {
    let h = this.conv(`${scope}.conv1`, x, cin, cout, 3);
    h = this.norm(`${scope}.norm1`, h, cout);
    h = this.act(h, `${scope}.1`);
    if (this.emb) {
      const e = this.dense(`${scope}.emb`, this.emb.name, this.emb.dim, cout);
      h = this.emit({ op: 'addVector', in: h, vec: e, out: this.value(`${scope}.addemb`) });
    }
    h = this.conv(`${scope}.conv2`, h, cout, cout, 3);
    h = this.norm(`${scope}.norm2`, h, cout);
    return this.act(h, `${scope}.2`);
  }

  resBlock(scope: string, x: string, cin: number, cout: number, updown?: 'down' | 'up'): string {
    const cfg = this.cfg;
    let h = this.norm(`${scope}.norm1`, x, cin);
    h = this.act(h, `${scope}.1`);
    let skipIn = x;
    if (updown) {
      h = this.resample(h, updown, `${scope}.h`);
      skipIn = this.resample(x, updown, `${scope}.x`);
    }
    h = this.conv(`${scope}.conv1`, h, cin, cout, 3);
    if (this.emb) {
      const ss = cfg.scaleShiftNorm;
      const e = this.dense(`${scope}.emb`, this.emb.name, this.emb.dim, ss ? 2 * cout : cout);
      if (ss) {
        h = this.norm(`${scope}.norm2`, h, cout);
        h = this.emit({ op: 'scaleShift', in: h, vec: e, out: this.value(`${scope}.scaleshift`) });
      } else {
        h = this.emit({ op: 'addVector', in: h, vec: e, out: this.value(`${scope}.addemb`) });
        h = this.norm(`${scope}.norm2`, h, cout);
      }
    } else {
      h = this.norm(`${scope}.norm2`, h, cout);
    }
    h = this.act(h, `${scope}.2`);
    h = this.conv(`${scope}.conv2`, h, cout, cout, 3, 1, cfg.zeroInit);
    const skip = cin === cout ? skipIn : this.conv(`${scope}.skip`, skipIn, cin, cout, 1);
    return this.add(skip, h, `${scope}.out`);
  }

  attention(scope: string, x: string, ch: number): string {
    const heads = Math.max(1, Math.floor(ch / this.cfg.attentionHeadChannels));
    if (ch % heads !== 0) throw new ConfigError(`attention: ${ch} channels not divisible into ${heads} heads`, 'model.attentionHeadChannels');
    const h = this.norm(`${scope}.norm`, x, ch);
    const qkvWeight = this.param(`${scope}.qkv.weight`, [3 * ch, ch], { kind: 'glorot', fanIn: ch, fanOut: 3 * ch });
    const qkvBias = this.param(`${scope}.qkv.bias`, [3 * ch], { kind: 'zeros' });
    const projWeight = this.param(`${scope}.proj.weight`, [ch, ch], this.cfg.zeroInit ? { kind: 'zeros' } : { kind: 'glorot', fanIn: ch, fanOut: ch });
    const projBias = this.param(`${scope}.proj.bias`, [ch], { kind: 'zeros' });
    const a = this.emit({ op: 'attention', in: h, out: this.value(`${scope}.attn`), heads, qkvWeight, qkvBias, projWeight, projBias });
    return this.add(x, a, `${scope}.out`);
  }

  down(scope: string, x: string, ch: number): string {
    switch (this.cfg.downsample) {
      case 'avgpool': return this.resample(x, 'down', scope);
      case 'conv': return this.conv(scope, x, ch, ch, 3, 2);
      case 'resblock': return this.resBlock(scope, x, ch, ch, 'down');
    }
  }

  up(scope: string, x: string, ch: number): string {
    switch (this.cfg.upsample) {
      case 'nearest': return this.resample(x, 'up', scope);
      case 'nearest-conv': return this.conv(`${scope}.conv`, this.resample(x, 'up', scope), ch, ch, 3);
      case 'resblock': return this.resBlock(scope, x, ch, ch, 'up');
    }
  }
}

/**
 * Build the engine-neutral description of a UNet. Pure: no tensors are allocated, so the 62M-parameter palette
 * definition is cheap. Parameter names look like `enc.1.0.conv1.weight`, `mid.attn.qkv.weight`, `out.conv.bias`.
 */
export function defineUNet(config: UNetSpec | UNetConfig): NetworkDef {
  const cfg = resolveUNetConfig(config);
  const b = new Builder(cfg);
  const outCh = cfg.outChannels ?? cfg.imageChannels;
  const imgCh = imageInputChannels(cfg);
  const levels = cfg.channelMults.length;
  const guided = cfg.layout === 'guided';

  // embed: noise [N] → temb [N, dim] (→ emb = act(dense(act(dense(temb)))) in mlp mode)
  b.section = 'embed';
  const temb = b.emit({ op: 'timestepEmbedding', in: 'noise', out: 'temb', dim: cfg.noise.dim, maxPeriod: cfg.noise.maxPeriod, scale: cfg.noise.scale });
  let embOutputs: string[] = [temb];
  if (cfg.noise.embedding === 'mlp') {
    const width = cfg.noise.dim * cfg.noise.mlpMult;
    let e = b.dense('time.dense1', temb, cfg.noise.dim, width);
    e = b.act(e, 'time.1');
    e = b.dense('time.dense2', e, width, width);
    e = b.emit({ op: 'act', fn: cfg.activation, in: e, out: 'emb' });
    b.emb = { name: e, dim: width };
    embOutputs = ['emb'];
  }

  // encoder
  b.section = 'encoder';
  let h = 'x';
  let ch = imgCh;
  if (cfg.noise.embedding === 'tile') {
    const tiled = b.emit({ op: 'tile', in: temb, like: 'x', out: 'temb.tiled' });
    h = b.emit({ op: 'concat', ins: ['x', tiled], out: 'input' });
    ch += cfg.noise.dim;
  }
  const skips: string[] = [];
  const skipShapes: { channels: number; factor: number }[] = [];
  let factor = 1;
  if (guided || cfg.stem) {
    const c0 = cfg.baseChannels * cfg.channelMults[0];
    h = b.conv('enc.stem', h, ch, c0, 3);
    ch = c0;
    if (guided) { skips.push(h); skipShapes.push({ channels: ch, factor }); }
  }
  for (let l = 0; l < levels; l++) {
    const cl = cfg.baseChannels * cfg.channelMults[l];
    for (let r = 0; r < cfg.numResBlocks; r++) {
      h = b.block(`enc.${l}.${r}`, h, ch, cl);
      ch = cl;
      if (guided) { skips.push(h); skipShapes.push({ channels: ch, factor }); }
    }
    if (!guided) { skips.push(h); skipShapes.push({ channels: ch, factor }); }
    if (!guided || l < levels - 1) {
      h = b.down(`enc.${l}.down`, h, ch);
      factor *= 2;
      if (guided) { skips.push(h); skipShapes.push({ channels: ch, factor }); }
    }
  }
  const hEnc = h;
  const hEncChannels = ch;
  const encInputs = ['x', ...embOutputs];

  // middle
  b.section = 'middle';
  if (guided) {
    h = b.resBlock('mid.0', h, ch, ch);
    if (cfg.middleAttention) h = b.attention('mid.attn', h, ch);
    h = b.resBlock('mid.1', h, ch, ch);
  } else {
    for (let r = 0; r < cfg.numResBlocks; r++) {
      h = b.block(`mid.${r}`, h, ch, ch);
      if (r === 0 && cfg.middleAttention) h = b.attention('mid.attn', h, ch);
    }
    if (cfg.numResBlocks === 1 && cfg.middleAttention) h = b.block('mid.1', h, ch, ch);
  }
  const hMid = h;

  // decoder
  b.section = 'decoder';
  const stack = [...skips];
  const stackCh = skipShapes.map((s) => s.channels);
  for (let l = levels - 1; l >= 0; l--) {
    const cl = cfg.baseChannels * cfg.channelMults[l];
    if (guided) {
      for (let i = 0; i <= cfg.numResBlocks; i++) {
        const s = stack.pop()!;
        const sc = stackCh.pop()!;
        h = b.emit({ op: 'concat', ins: [h, s], out: `dec.${l}.${i}.cat` });
        h = b.block(`dec.${l}.${i}`, h, ch + sc, cl);
        ch = cl;
        if (l > 0 && i === cfg.numResBlocks) h = b.up(`dec.${l}.up`, h, ch);
      }
    } else {
      h = b.up(`dec.${l}.up`, h, ch);
      const s = stack.pop()!;
      const sc = stackCh.pop()!;
      h = b.emit({ op: 'concat', ins: [h, s], out: `dec.${l}.cat` });
      let cin = ch + sc;
      for (let r = 0; r < cfg.numResBlocks; r++) {
        h = b.block(`dec.${l}.${r}`, h, cin, cl);
        cin = ch = cl;
      }
    }
  }
  let out: string;
  if (guided) {
    h = b.norm('out.norm', h, ch);
    h = b.act(h, 'out');
    out = b.conv('out.conv', h, ch, outCh, 3, 1, cfg.zeroInit);
  } else {
    out = b.conv('out.conv', h, ch, outCh, 1, 1, cfg.zeroInit);
  }

  const sec = (name: SectionName, inputs: string[], outputs: string[]): NetSection => ({ inputs, outputs, ops: b.sections[name] });
  const embInputs = embOutputs;
  const def: NetworkDef = {
    format: 'diff2s.network',
    version: 1,
    family: 'unet',
    params: b.params,
    sections: {
      embed: sec('embed', ['noise'], embOutputs),
      encoder: sec('encoder', encInputs, [hEnc, ...skips]),
      middle: sec('middle', [hEnc, ...embInputs], [hMid]),
      decoder: sec('decoder', [hMid, ...skips, ...embInputs], [out]),
    },
    io: { input: 'x', noise: 'noise', embeddings: embOutputs, hEnc, hMid, skips, output: out },
    shapes: {
      inputChannels: imgCh,
      outputChannels: outCh,
      hEncChannels,
      hMidChannels: hEncChannels,
      skips: skipShapes,
      bottleneckFactor: factor,
      sizeMultiple: factor,
    },
  };
  // The decoder reads skips only if they are listed; embeddings only where used — keep inputs minimal but valid.
  validateNetworkDef(def);
  return def;
}

/**
 * A small reverse-mode differentiator that writes ONNX: every primitive emits its forward node(s) into an
 * {@link OnnxGraphBuilder} and records a backward rule on a tape; {@link Tape.backward} walks the tape in reverse and
 * emits the gradient nodes (contributions to one value are summed with one `Sum` node). Shapes are static.
 *
 * Primitives (each with a hand-written vector–Jacobian product): conv (any stride/pad, optional bias and fused
 * ReLU), relu, silu, sigmoid, add/sub/mul/div with broadcasting, avgPool2, upsample2 (nearest), concat, split,
 * slice, reshape, transpose, matmul (batched), gemm (dense), softmax, reduceMean/reduceSum, groupNorm (as one
 * primitive), tile, and sin/cos/exp of values that need no gradient.
 *
 * Conv backward (ONNX has no weight-gradient op):
 * - input gradient: stride 1 → a Conv of the output gradient with the spatially flipped, transposed weights (fast
 *   path eligible); stride > 1 → ConvTranspose.
 * - weight gradient: the k×k patch matrix P [n, Cin·k·k, Ho·Wo] is built by a grouped Conv with fixed one-hot
 *   filters, then MatMul(P, gyᵀ) (the large matrix first), summed over the batch; the batch is processed in chunks
 *   so P stays under {@link TapeOptions.patchBytes}.
 * With `nchwc` set, convs whose channel counts fit the CPU's block size run as onnxruntime's internal
 * `com.microsoft.nchwc` Conv with an in-graph weight reorder (see {@link NchwcInfo}).
 */
import { shapeSize } from '../net/def';
import type { OnnxGraphBuilder } from '../onnx/graph';

/** onnxruntime's internal NCHWc domain (blocked-layout Conv, ReorderInput, ReorderOutput). */
export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

/** Number of elements of a shape (net/def's `shapeSize`; the name the training-graph code has always used). */
export const numel: (shape: readonly number[]) => number = shapeSize;

/** A value of the graph: tensor name, static shape, whether a gradient is wanted for it. */
export interface V {
  readonly name: string;
  readonly shape: readonly number[];
  readonly grad: boolean;
}

/** onnxruntime's NCHWc block size for the fast conv path (16 with AVX-512, 8 with AVX2). */
export interface NchwcInfo {
  block: number;
}

/** Options of a {@link Tape}. */
export interface TapeOptions {
  /** Use onnxruntime's internal NCHWc convs where channel counts fit (x86 only). Off: standard ONNX ops only. */
  nchwc?: NchwcInfo;
  /** Bound on the patch matrix of one weight-gradient chunk, in bytes (default 32 MiB). */
  patchBytes?: number;
  /**
   * Weight gradient of stride-1 'same' convs: `patches` (default: the patch matrix of x from a one-hot grouped
   * Conv) or `shift` (k² zero-padded shifted copies of the output gradient, one MatMul for all taps; measured slower
   * on onnxruntime 1.30, whose Pad and Concat are slow). Other convs always use patches.
   */
  weightGrad?: 'shift' | 'patches';
}

interface Entry {
  outs: V[];
  back: (gs: (string | undefined)[]) => void;
}

/** Records primitives and emits their gradients. */
export class Tape {
  private readonly entries: Entry[] = [];
  private readonly contrib = new Map<string, string[]>();
  private readonly nchwc?: NchwcInfo;
  private readonly patchBytes: number;
  /** Counts of convs emitted per path (for reports and tests). */
  readonly stats = { nchwcConvs: 0, standardConvs: 0 };

  constructor(readonly g: OnnxGraphBuilder, options: TapeOptions = {}) {
    this.nchwc = options.nchwc;
    this.patchBytes = options.patchBytes ?? 32 * 1024 * 1024;
    this.weightGrad = options.weightGrad ?? 'patches';
  }

  private readonly weightGrad: 'shift' | 'patches';
  /** Channel-concat outputs → their parts (a conv reading one sends input gradients to the parts directly). */
  private readonly concatParts = new Map<string, V[]>();
  /** NCHW tensor → its NCHWc (blocked) twin, for tensors produced by NCHWc convs. */
  private readonly blocked = new Map<string, string>();

  // -------------------------------------------------------------------------------------------------------------
  // plumbing

  /** A value from an existing tensor name. */
  value(name: string, shape: readonly number[], grad = false): V {
    return { name, shape: [...shape], grad };
  }

  /** A float32 graph input. */
  input(name: string, shape: readonly number[], grad = false): V {
    return this.value(this.g.input(name, shape), shape, grad);
  }

  private out(opType: string, ins: string[], shape: readonly number[], base: string, attrs = {}, domain?: string, grad = true): V {
    return this.value(this.g.op(opType, ins, base, attrs, domain), shape, grad);
  }

  private record(outs: V[], back: Entry['back']): void {
    if (outs.some((o) => o.grad)) this.entries.push({ outs, back });
  }

  /** Add a gradient contribution for `v`. */
  accumulate(v: V, grad: string): void {
    if (!v.grad) return;
    const list = this.contrib.get(v.name);
    if (list) list.push(grad);
    else this.contrib.set(v.name, [grad]);
  }

  /** The summed gradient of `v` (after {@link backward}); undefined when nothing flowed into it. */
  gradOf(v: V): string | undefined {
    const list = this.contrib.get(v.name);
    if (!list || list.length === 0) return undefined;
    if (list.length === 1) return list[0];
    const s = this.g.op('Sum', list, `${v.name}/grad`);
    this.contrib.set(v.name, [s]);
    return s;
  }

  /** Seed the gradient of `v` with tensor `seed` and emit the backward pass of everything recorded. */
  backward(v: V, seed: string): void {
    this.accumulate(v, seed);
    for (let k = this.entries.length - 1; k >= 0; k--) {
      const e = this.entries[k];
      const gs = e.outs.map((o) => (o.grad ? this.gradOf(o) : undefined));
      if (gs.every((x) => x === undefined)) continue;
      e.back(gs);
    }
  }

  private anyGrad(...vs: (V | undefined)[]): boolean {
    return vs.some((v) => v?.grad);
  }

  // -------------------------------------------------------------------------------------------------------------
  // shape helpers

  private reduceSum(x: string, axes: number[], keep: boolean, base: string): string {
    return this.g.op('ReduceSum', [x, this.g.constI64(axes)], base, { keepdims: { i: keep ? 1 : 0 } });
  }

  private reshapeRaw(x: string, shape: readonly number[], base: string): string {
    return this.g.op('Reshape', [x, this.g.constI64(shape)], base);
  }

  /** Sum a gradient of broadcast shape `from` down to shape `to` (numpy broadcasting). */
  private unbroadcast(gy: string, from: readonly number[], to: readonly number[], base: string): string {
    if (from.length === to.length && from.every((d, i) => d === to[i])) return gy;
    const lead = from.length - to.length;
    const axes: number[] = [];
    for (let i = 0; i < from.length; i++) {
      const t = i < lead ? 1 : to[i - lead];
      if (i < lead || (t === 1 && from[i] !== 1)) axes.push(i);
    }
    let r = axes.length ? this.reduceSum(gy, axes, true, `${base}/unbc`) : gy;
    r = this.reshapeRaw(r, to.length ? to : [], `${base}/unbc_shape`);
    return r;
  }

  private broadcastShape(a: readonly number[], b: readonly number[]): number[] {
    const n = Math.max(a.length, b.length);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const x = a[i - (n - a.length)] ?? 1, y = b[i - (n - b.length)] ?? 1;
      if (x !== y && x !== 1 && y !== 1) throw new Error(`shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
      out.push(Math.max(x, y));
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------------------------
  // elementwise

  add(a: V, b: V, base = 'add'): V {
    const shape = this.broadcastShape(a.shape, b.shape);
    const y = this.out('Add', [a.name, b.name], shape, base, {}, undefined, this.anyGrad(a, b));
    this.record([y], ([gy]) => {
      if (a.grad) this.accumulate(a, this.unbroadcast(gy!, shape, a.shape, `${base}/da`));
      if (b.grad) this.accumulate(b, this.unbroadcast(gy!, shape, b.shape, `${base}/db`));
    });
    return y;
  }

  sub(a: V, b: V, base = 'sub'): V {
    const shape = this.broadcastShape(a.shape, b.shape);
    const y = this.out('Sub', [a.name, b.name], shape, base, {}, undefined, this.anyGrad(a, b));
    this.record([y], ([gy]) => {
      if (a.grad) this.accumulate(a, this.unbroadcast(gy!, shape, a.shape, `${base}/da`));
      if (b.grad) this.accumulate(b, this.unbroadcast(this.g.op('Neg', [gy!], `${base}/neg`), shape, b.shape, `${base}/db`));
    });
    return y;
  }

  mul(a: V, b: V, base = 'mul'): V {
    const shape = this.broadcastShape(a.shape, b.shape);
    const y = this.out('Mul', [a.name, b.name], shape, base, {}, undefined, this.anyGrad(a, b));
    this.record([y], ([gy]) => {
      if (a.grad) this.accumulate(a, this.unbroadcast(this.g.op('Mul', [gy!, b.name], `${base}/gb`), shape, a.shape, `${base}/da`));
      if (b.grad) this.accumulate(b, this.unbroadcast(this.g.op('Mul', [gy!, a.name], `${base}/ga`), shape, b.shape, `${base}/db`));
    });
    return y;
  }

  div(a: V, b: V, base = 'div'): V {
    const shape = this.broadcastShape(a.shape, b.shape);
    const y = this.out('Div', [a.name, b.name], shape, base, {}, undefined, this.anyGrad(a, b));
    this.record([y], ([gy]) => {
      const ga = this.g.op('Div', [gy!, b.name], `${base}/gdivb`);
      if (a.grad) this.accumulate(a, this.unbroadcast(ga, shape, a.shape, `${base}/da`));
      if (b.grad) {
        // d(a/b)/db = −y/b
        const t = this.g.op('Neg', [this.g.op('Mul', [ga, y.name], `${base}/gy_y`)], `${base}/negt`);
        this.accumulate(b, this.unbroadcast(t, shape, b.shape, `${base}/db`));
      }
    });
    return y;
  }

  /** x · c for a constant scalar c. */
  scale(x: V, c: number, base = 'scale'): V {
    const k = this.g.scalar(c);
    const y = this.out('Mul', [x.name, k], x.shape, base, {}, undefined, x.grad);
    this.record([y], ([gy]) => this.accumulate(x, this.g.op('Mul', [gy!, k], `${base}/dx`)));
    return y;
  }

  /** x + c for a constant scalar c. */
  addScalar(x: V, c: number, base = 'addc'): V {
    const y = this.out('Add', [x.name, this.g.scalar(c)], x.shape, base, {}, undefined, x.grad);
    this.record([y], ([gy]) => this.accumulate(x, gy!));
    return y;
  }

  relu(x: V, base = 'relu'): V {
    const y = this.out('Relu', [x.name], x.shape, base, {}, undefined, x.grad);
    this.record([y], ([gy]) => this.accumulate(x, this.reluBack(gy!, y.name, base)));
    return y;
  }

  /** gy·[y > 0] as Mul(gy, Cast(Greater(y, 0))): about 2x faster on onnxruntime's CPU provider than Where. */
  private reluBack(gy: string, y: string, base: string): string {
    const pos = this.g.op('Greater', [y, this.g.scalar(0)], `${base}/pos`);
    return this.g.op('Mul', [gy, this.g.op('Cast', [pos], `${base}/mask`, { to: { i: 1 } })], `${base}/dx`);
  }

  sigmoid(x: V, base = 'sigmoid'): V {
    const y = this.out('Sigmoid', [x.name], x.shape, base, {}, undefined, x.grad);
    this.record([y], ([gy]) => {
      // y(1−y)·gy
      const t = this.g.op('Sub', [y.name, this.g.op('Mul', [y.name, y.name], `${base}/yy`)], `${base}/dy`);
      this.accumulate(x, this.g.op('Mul', [gy!, t], `${base}/dx`));
    });
    return y;
  }

  /** silu(x) = x·σ(x); backward gy·(s + y − y·s) from the saved s and y (4 passes). */
  silu(x: V, base = 'silu'): V {
    const s = this.g.op('Sigmoid', [x.name], `${base}/sig`);
    const y = this.out('Mul', [x.name, s], x.shape, base, {}, undefined, x.grad);
    this.record([y], ([gy]) => {
      const ys = this.g.op('Mul', [y.name, s], `${base}/ys`);
      const d = this.g.op('Add', [s, this.g.op('Sub', [y.name, ys], `${base}/y-ys`)], `${base}/d`);
      this.accumulate(x, this.g.op('Mul', [gy!, d], `${base}/dx`));
    });
    return y;
  }

  /** Elementwise function of a value that needs no gradient (Sin, Cos, Exp…). */
  unaryNoGrad(opType: string, x: V, base = opType.toLowerCase()): V {
    if (x.grad) throw new Error(`${opType}: gradients through ${opType} are not supported (used on constants only)`);
    return this.out(opType, [x.name], x.shape, base, {}, undefined, false);
  }

  // -------------------------------------------------------------------------------------------------------------
  // layout

  reshape(x: V, shape: readonly number[], base = 'reshape'): V {
    if (numel(shape) !== numel(x.shape)) throw new Error(`reshape [${x.shape.join(',')}] → [${shape.join(',')}]: sizes differ`);
    const y = this.value(this.reshapeRaw(x.name, shape, base), shape, x.grad);
    this.record([y], ([gy]) => this.accumulate(x, this.reshapeRaw(gy!, x.shape, `${base}/dx`)));
    return y;
  }

  transpose(x: V, perm: number[], base = 'transpose'): V {
    const shape = perm.map((p) => x.shape[p]);
    const y = this.out('Transpose', [x.name], shape, base, { perm: { ints: perm } }, undefined, x.grad);
    this.record([y], ([gy]) => {
      const inv = new Array<number>(perm.length);
      perm.forEach((p, i) => { inv[p] = i; });
      this.accumulate(x, this.g.op('Transpose', [gy!], `${base}/dx`, { perm: { ints: inv } }));
    });
    return y;
  }

  concat(xs: V[], axis: number, base = 'concat'): V {
    const shape = [...xs[0].shape];
    shape[axis] = xs.reduce((s, x) => s + x.shape[axis], 0);
    const y = this.out('Concat', xs.map((x) => x.name), shape, base, { axis: { i: axis } }, undefined, this.anyGrad(...xs));
    if (axis === 1) this.concatParts.set(y.name, xs);
    this.record([y], ([gy]) => {
      const outs = xs.map((x) => this.g.fresh(`${base}/d_${x.name}`));
      this.g.node('Split', [gy!, this.g.constI64(xs.map((x) => x.shape[axis]))], outs, { axis: { i: axis } });
      xs.forEach((x, i) => this.accumulate(x, outs[i]));
    });
    return y;
  }

  split(x: V, sizes: number[], axis: number, base = 'split'): V[] {
    const names = sizes.map((_, i) => this.g.fresh(`${base}/${i}`));
    this.g.node('Split', [x.name, this.g.constI64(sizes)], names, { axis: { i: axis } });
    const ys = names.map((n, i) => {
      const s = [...x.shape];
      s[axis] = sizes[i];
      return this.value(n, s, x.grad);
    });
    this.record(ys, (gs) => {
      const parts = gs.map((gi, i) => gi ?? this.g.constF32(new Float32Array(numel(ys[i].shape)), ys[i].shape, `${base}/zeros`));
      this.accumulate(x, this.g.op('Concat', parts, `${base}/dx`, { axis: { i: axis } }));
    });
    return ys;
  }

  /** x[start:end] along one axis. */
  slice(x: V, axis: number, start: number, end: number, base = 'slice'): V {
    const shape = [...x.shape];
    shape[axis] = end - start;
    const y = this.out('Slice', [x.name, this.g.constI64([start]), this.g.constI64([end]), this.g.constI64([axis])], shape, base, {}, undefined, x.grad);
    this.record([y], ([gy]) => {
      const pads = new Array<number>(2 * x.shape.length).fill(0);
      pads[axis] = start;
      pads[x.shape.length + axis] = x.shape[axis] - end;
      this.accumulate(x, this.g.op('Pad', [gy!, this.g.constI64(pads)], `${base}/dx`));
    });
    return y;
  }

  /** vector [N, D] → image [N, D, H, W] (the same vector at every position). */
  tile(v: V, h: number, w: number, base = 'tile'): V {
    const [n, d] = v.shape;
    const u = this.g.op('Unsqueeze', [v.name, this.g.constI64([2, 3])], `${base}/u`);
    const y = this.out('Expand', [u, this.g.constI64([n, d, h, w])], [n, d, h, w], base, {}, undefined, v.grad);
    this.record([y], ([gy]) => this.accumulate(v, this.reduceSum(gy!, [2, 3], false, `${base}/dv`)));
    return y;
  }

  /** Sum over axes. */
  sum(x: V, axes: number[], keep: boolean, base = 'sum'): V {
    const shape = keep ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    const y = this.value(this.reduceSum(x.name, axes, keep, base), shape, x.grad);
    this.record([y], ([gy]) => {
      const kshape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const k = keep ? gy! : this.reshapeRaw(gy!, kshape, `${base}/keep`);
      this.accumulate(x, this.g.op('Expand', [k, this.g.constI64(x.shape)], `${base}/dx`));
    });
    return y;
  }

  /** Mean over axes. */
  mean(x: V, axes: number[], keep: boolean, base = 'mean'): V {
    let count = 1;
    for (const a of axes) count *= x.shape[a];
    const shape = keep ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    const y = this.out('ReduceMean', [x.name], shape, base, { axes: { ints: axes }, keepdims: { i: keep ? 1 : 0 } }, undefined, x.grad);
    this.record([y], ([gy]) => {
      const kshape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const k = keep ? gy! : this.reshapeRaw(gy!, kshape, `${base}/keep`);
      const scaled = this.g.op('Mul', [k, this.g.scalar(1 / count)], `${base}/scaled`);
      this.accumulate(x, this.g.op('Expand', [scaled, this.g.constI64(x.shape)], `${base}/dx`));
    });
    return y;
  }

  // -------------------------------------------------------------------------------------------------------------
  // pooling / resampling

  avgPool2(x: V, base = 'avgpool'): V {
    const [n, c, h, w] = x.shape;
    const y = this.out('AveragePool', [x.name], [n, c, h / 2, w / 2], base, { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } }, undefined, x.grad);
    this.record([y], ([gy]) => {
      const q = this.g.op('Mul', [gy!, this.g.scalar(0.25)], `${base}/q`);
      this.accumulate(x, this.upsampleRaw(q, `${base}/dx`));
    });
    return y;
  }

  private upsampleRaw(x: string, base: string): string {
    return this.g.op('Resize', [x, '', this.g.constF32([1, 1, 2, 2], [4], 'c_scales_up2')], base, {
      mode: { s: 'nearest' },
      coordinate_transformation_mode: { s: 'asymmetric' },
      nearest_mode: { s: 'floor' },
    });
  }

  upsample2(x: V, base = 'upsample'): V {
    const [n, c, h, w] = x.shape;
    const y = this.value(this.upsampleRaw(x.name, base), [n, c, 2 * h, 2 * w], x.grad);
    this.record([y], ([gy]) => {
      const p = this.g.op('AveragePool', [gy!], `${base}/pool`, { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } });
      this.accumulate(x, this.g.op('Mul', [p, this.g.scalar(4)], `${base}/dx`));
    });
    return y;
  }

  // -------------------------------------------------------------------------------------------------------------
  // linear algebra

  /** Batched MatMul a [..., M, K] × b [..., K, N] (same leading dims). */
  matmul(a: V, b: V, base = 'matmul'): V {
    const r = a.shape.length;
    const shape = [...a.shape.slice(0, r - 1), b.shape[b.shape.length - 1]];
    const y = this.out('MatMul', [a.name, b.name], shape, base, {}, undefined, this.anyGrad(a, b));
    const perm = [...Array(r).keys()];
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    this.record([y], ([gy]) => {
      if (a.grad) this.accumulate(a, this.g.op('MatMul', [gy!, this.g.op('Transpose', [b.name], `${base}/bT`, { perm: { ints: perm } })], `${base}/da`));
      if (b.grad) this.accumulate(b, this.g.op('MatMul', [this.g.op('Transpose', [a.name], `${base}/aT`, { perm: { ints: perm } }), gy!], `${base}/db`));
    });
    return y;
  }

  /** Dense layer: x [N, In] · wᵀ [Out, In] + b [Out]. */
  dense(x: V, w: V, b: V | undefined, base = 'dense'): V {
    const shape = [x.shape[0], w.shape[0]];
    const ins = [x.name, w.name, ...(b ? [b.name] : [])];
    const y = this.out('Gemm', ins, shape, base, { transB: { i: 1 } }, undefined, this.anyGrad(x, w, b));
    this.record([y], ([gy]) => {
      if (x.grad) this.accumulate(x, this.g.op('MatMul', [gy!, w.name], `${base}/dx`));
      if (w.grad) this.accumulate(w, this.g.op('Gemm', [gy!, x.name], `${base}/dw`, { transA: { i: 1 } }));
      if (b?.grad) this.accumulate(b, this.reduceSum(gy!, [0], false, `${base}/db`));
    });
    return y;
  }

  /** Softmax over the last axis; backward y·(gy − Σ gy·y). */
  softmax(x: V, base = 'softmax'): V {
    const y = this.out('Softmax', [x.name], x.shape, base, { axis: { i: -1 } }, undefined, x.grad);
    this.record([y], ([gy]) => {
      const gyy = this.g.op('Mul', [gy!, y.name], `${base}/gyy`);
      const s = this.reduceSum(gyy, [x.shape.length - 1], true, `${base}/s`);
      this.accumulate(x, this.g.op('Sub', [gyy, this.g.op('Mul', [y.name, s], `${base}/ys`)], `${base}/dx`));
    });
    return y;
  }

  // -------------------------------------------------------------------------------------------------------------
  // normalization

  /**
   * GroupNorm as one primitive: (x − mean)/√(var + eps)·γ + β per sample and group (biased variance, Mul +
   * ReduceMean for precision). Backward: dx = rstd·(d − mean(d) − x̂·mean(d·x̂)) with d = gy·γ, means per group.
   */
  groupNorm(x: V, groups: number, eps: number, gamma: V, beta: V, base = 'gn'): V {
    const [n, c] = x.shape;
    const g = this.g;
    const xg = this.reshapeRaw(x.name, [n, groups, -1], `${base}/xg`);
    const mean = g.op('ReduceMean', [xg], `${base}/mean`, { axes: { ints: [2] }, keepdims: { i: 1 } });
    const d = g.op('Sub', [xg, mean], `${base}/d`);
    const variance = g.op('ReduceMean', [g.op('Mul', [d, d], `${base}/dd`)], `${base}/var`, { axes: { ints: [2] }, keepdims: { i: 1 } });
    const rstd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(eps)], `${base}/var_eps`)], `${base}/std`)], `${base}/rstd`);
    const xhatG = g.op('Mul', [d, rstd], `${base}/xhat_g`);
    const xhat = this.reshapeRaw(xhatG, x.shape, `${base}/xhat`);
    const g3 = this.reshapeRaw(gamma.name, [c, 1, 1], `${base}/gamma3`);
    const b3 = this.reshapeRaw(beta.name, [c, 1, 1], `${base}/beta3`);
    const y = this.out('Add', [g.op('Mul', [xhat, g3], `${base}/scaled`), b3], x.shape, base, {}, undefined, this.anyGrad(x, gamma, beta));
    this.record([y], ([gy]) => {
      if (gamma.grad) this.accumulate(gamma, this.reduceSum(g.op('Mul', [gy!, xhat], `${base}/gy_xhat`), [0, 2, 3], false, `${base}/dgamma`));
      if (beta.grad) this.accumulate(beta, this.reduceSum(gy!, [0, 2, 3], false, `${base}/dbeta`));
      if (x.grad) {
        const dx = this.reshapeRaw(g.op('Mul', [gy!, g3], `${base}/dxhat`), [n, groups, -1], `${base}/dxhat_g`);
        const m1 = g.op('ReduceMean', [dx], `${base}/m1`, { axes: { ints: [2] }, keepdims: { i: 1 } });
        const m2 = g.op('ReduceMean', [g.op('Mul', [dx, xhatG], `${base}/dx_xhat`)], `${base}/m2`, { axes: { ints: [2] }, keepdims: { i: 1 } });
        const t = g.op('Sub', [g.op('Sub', [dx, m1], `${base}/t1`), g.op('Mul', [xhatG, m2], `${base}/xm2`)], `${base}/t2`);
        this.accumulate(x, this.reshapeRaw(g.op('Mul', [t, rstd], `${base}/dxg`), x.shape, `${base}/dx`));
      }
    });
    return y;
  }

  // -------------------------------------------------------------------------------------------------------------
  // convolution

  /** Whether a conv with these channel counts can run as an NCHWc conv; 'bibo' (blocked input) or 'bo' (NCHW input). */
  private nchwcKind(cin: number, cout: number): 'bibo' | 'bo' | undefined {
    const B = this.nchwc?.block;
    if (!B || cout % B !== 0) return undefined;
    if (cin < B) return 'bo';
    return cin % B === 0 ? 'bibo' : undefined;
  }

  /**
   * One forward convolution of tensor x [N,Cin,H,W] with weights w [Cout,Cin,k,k] (names), NCHWc when possible.
   * No tape entry: callers record the backward.
   */
  private convRaw(x: string, w: string, wShape: readonly number[], b: string | undefined, stride: number, pad: number, relu: boolean, base: string): string {
    const [cout, cin, kh, kw] = wShape;
    const attrs = {
      kernel_shape: { ints: [kh, kw] },
      strides: { ints: [stride, stride] },
      pads: { ints: [pad, pad, pad, pad] },
      dilations: { ints: [1, 1] },
      group: { i: 1 },
    };
    const kind = this.nchwcKind(cin, cout);
    const g = this.g;
    if (kind) {
      this.stats.nchwcConvs++;
      const B = this.nchwc!.block;
      let wr: string;
      if (kind === 'bibo') {
        const w6 = this.reshapeRaw(w, [cout / B, B, cin / B, B, kh, kw], `${base}/w6`);
        wr = this.reshapeRaw(g.op('Transpose', [w6], `${base}/wbibo`, { perm: { ints: [0, 2, 4, 5, 3, 1] } }), wShape, `${base}/wr`);
      } else {
        const w5 = this.reshapeRaw(w, [cout / B, B, cin, kh, kw], `${base}/w5`);
        wr = this.reshapeRaw(g.op('Transpose', [w5], `${base}/wbo`, { perm: { ints: [0, 2, 3, 4, 1] } }), wShape, `${base}/wr`);
      }
      // an input that an NCHWc conv produced is taken in its blocked form: no ReorderInput
      const xin = kind === 'bibo' ? this.blocked.get(x) ?? g.op('ReorderInput', [x], `${base}/xc`, { channels_last: { i: 0 } }, NCHWC_DOMAIN) : x;
      const yc = g.op('Conv', [xin, wr, ...(b ? [b] : [])], `${base}/yc`, { ...attrs, ...(relu ? { activation: { s: 'Relu' } } : {}) }, NCHWC_DOMAIN);
      const y = g.op('ReorderOutput', [yc], base, { channels: { i: cout }, channels_last: { i: 0 } }, NCHWC_DOMAIN);
      this.blocked.set(y, yc);
      return y;
    }
    this.stats.standardConvs++;
    const y = g.op('Conv', [x, w, ...(b ? [b] : [])], relu ? `${base}/pre` : base, attrs);
    return relu ? g.op('Relu', [y], base) : y;
  }

  /**
   * conv2d (cross-correlation, symmetric zero padding), optional bias, optionally fused with a following ReLU
   * (`relu: true` returns relu(conv(x))).
   */
  conv(x: V, w: V, b: V | undefined, stride: number, pad: number, relu = false, base = 'conv'): V {
    const [n, cin, h, wd] = x.shape;
    const [cout, cin2, kh, kw] = w.shape;
    if (cin !== cin2) throw new Error(`conv ${base}: input has ${cin} channels, weights expect ${cin2}`);
    const ho = Math.floor((h + 2 * pad - kh) / stride) + 1, wo = Math.floor((wd + 2 * pad - kw) / stride) + 1;
    const yName = this.convRaw(x.name, w.name, w.shape, b?.name, stride, pad, relu, base);
    const y = this.value(yName, [n, cout, ho, wo], this.anyGrad(x, w, b));
    this.record([y], ([gyIn]) => {
      const g = this.g;
      const gy = relu ? this.reluBack(gyIn!, y.name, `${base}/relu`) : gyIn!;
      if (b?.grad) this.accumulate(b, this.reduceSum(gy, [0, 2, 3], false, `${base}/db`));
      if (x.grad) {
        if (stride === 1 && kh === kw && 2 * pad === kh - 1) {
          // dx = conv(gy, flip(wᵀ)) with padding k−1−pad
          const wt = g.op('Transpose', [w.name], `${base}/wT`, { perm: { ints: [1, 0, 2, 3] } });
          const wf = kh === 1 ? wt : g.op('Slice', [wt, g.constI64([-1, -1]), g.constI64([-kh - 1, -kw - 1]), g.constI64([2, 3]), g.constI64([-1, -1])], `${base}/wflip`);
          const parts = this.concatParts.get(x.name);
          if (parts) {
            // x = concat(parts): one conv per part with its slice of the weights, no Split of a full dx
            let c0 = 0;
            for (const [i, part] of parts.entries()) {
              const c = part.shape[1];
              if (part.grad) {
                const wp = g.op('Slice', [wf, g.constI64([c0]), g.constI64([c0 + c]), g.constI64([0])], `${base}/wpart${i}`);
                this.accumulate(part, this.convRaw(gy, wp, [c, cout, kh, kw], undefined, 1, kh - 1 - pad, false, `${base}/dx${i}`));
              }
              c0 += c;
            }
          } else {
            this.accumulate(x, this.convRaw(gy, wf, [cin, cout, kh, kw], undefined, 1, kh - 1 - pad, false, `${base}/dx`));
          }
        } else {
          const outPad = [h - ((ho - 1) * stride - 2 * pad + kh), wd - ((wo - 1) * stride - 2 * pad + kw)];
          this.accumulate(x, g.op('ConvTranspose', [gy, w.name], `${base}/dx`, {
            kernel_shape: { ints: [kh, kw] },
            strides: { ints: [stride, stride] },
            pads: { ints: [pad, pad, pad, pad] },
            output_padding: { ints: outPad },
          }));
        }
      }
      if (w.grad) {
        const same = stride === 1 && kh % 2 === 1 && kw % 2 === 1 && pad === (kh - 1) >> 1 && pad === (kw - 1) >> 1 && kh > 1;
        this.accumulate(w, same && this.weightGrad === 'shift' ? this.convWeightGradShift(x, gy, w.shape, base) : this.convWeightGrad(x, gy, [n, cout, ho, wo], w.shape, stride, pad, base));
      }
    });
    return y;
  }

  /**
   * Weight gradient of a stride-1 'same' conv without a patch matrix of x: with xp = x zero-padded by p and
   * G_k = gy zero-padded so that G_k[Y, X] = gy[Y − ky, X − kx] (k = (ky, kx), all on the padded grid),
   * dW[o, c, ky, kx] = Σ_n Σ_{Y,X} xp[n, c, Y, X]·G_k[n, o, Y, X]. The k·k shifted copies of gy (Cout channels each)
   * are concatenated, so ONE MatMul per chunk computes every tap: [n, k²·Cout, L] × [n, L, Cin] (the large matrix
   * first). Chunked over the batch to bound the shifted copies by `patchBytes`.
   */
  private convWeightGradShift(x: V, gy: string, wShape: readonly number[], base: string): string {
    const g = this.g;
    const [n, cin, h, wd] = x.shape;
    const [cout, , kh, kw] = wShape;
    const ph = (kh - 1) >> 1, pw = (kw - 1) >> 1;
    const L = (h + 2 * ph) * (wd + 2 * pw);
    const taps = kh * kw;
    const perSample = taps * cout * L * 4;
    const chunk = Math.max(1, Math.min(n, Math.floor(this.patchBytes / perSample)));
    const xp = ph || pw ? g.op('Pad', [x.name, g.constI64([0, 0, ph, pw, 0, 0, ph, pw])], `${base}/xpad`) : x.name;
    const parts: string[] = [];
    for (let n0 = 0; n0 < n; n0 += chunk) {
      const m = Math.min(chunk, n - n0);
      const sl = (t: string, nm: string) => (m === n ? t : g.op('Slice', [t, g.constI64([n0]), g.constI64([n0 + m]), g.constI64([0])], `${base}/${nm}${n0}`));
      const gys = sl(gy, 'gy');
      const shifted: string[] = [];
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          shifted.push(g.op('Pad', [gys, g.constI64([0, 0, ky, kx, 0, 0, kh - 1 - ky, kw - 1 - kx])], `${base}/gshift${n0}_${ky}${kx}`));
        }
      }
      const G = this.reshapeRaw(taps === 1 ? shifted[0] : g.op('Concat', shifted, `${base}/gcat${n0}`, { axis: { i: 1 } }), [m, taps * cout, L], `${base}/G${n0}`);
      const xT = g.op('Transpose', [this.reshapeRaw(sl(xp, 'xp'), [m, cin, L], `${base}/xp3_${n0}`)], `${base}/xpT${n0}`, { perm: { ints: [0, 2, 1] } });
      const mm = g.op('MatMul', [G, xT], `${base}/gx${n0}`); // [m, taps·cout, cin]
      parts.push(m === 1 ? this.reshapeRaw(mm, [taps * cout, cin], `${base}/gxs${n0}`) : this.reduceSum(mm, [0], false, `${base}/gxs${n0}`));
    }
    const total = parts.length === 1 ? parts[0] : g.op('Sum', parts, `${base}/gxsum`);
    // [taps, cout, cin] → [cout, cin, taps]
    const t3 = this.reshapeRaw(total, [taps, cout, cin], `${base}/dw3`);
    return this.reshapeRaw(g.op('Transpose', [t3], `${base}/dwT`, { perm: { ints: [1, 2, 0] } }), wShape, `${base}/dw`);
  }

  /** Σ_n P[n]·gy[n]ᵀ with the patch matrix P from a one-hot grouped conv, chunked over the batch. */
  private convWeightGrad(x: V, gy: string, yShape: readonly number[], wShape: readonly number[], stride: number, pad: number, base: string): string {
    const g = this.g;
    const [n, cin] = x.shape;
    const [, cout, ho, wo] = yShape;
    const [, , kh, kw] = wShape;
    const kk = kh * kw;
    const rows = cin * kk;
    const hw = ho * wo;
    const pointwise = kk === 1 && stride === 1 && pad === 0;
    const perSample = rows * hw * 4;
    const chunk = Math.max(1, Math.min(n, Math.floor(this.patchBytes / perSample)));
    let onehot: string | undefined;
    if (!pointwise) {
      const f = new Float32Array(rows * kk);
      for (let r = 0; r < rows; r++) f[r * kk + (r % kk)] = 1;
      onehot = g.constF32(f, [rows, 1, kh, kw], `${base}/onehot`);
    }
    const parts: string[] = [];
    for (let n0 = 0; n0 < n; n0 += chunk) {
      const m = Math.min(chunk, n - n0);
      const sl = (t: string, nm: string) => (m === n ? t : g.op('Slice', [t, g.constI64([n0]), g.constI64([n0 + m]), g.constI64([0])], `${base}/${nm}${n0}`));
      const xs = sl(x.name, 'x');
      const gys = sl(gy, 'gy');
      const p = pointwise
        ? xs
        : g.op('Conv', [xs, onehot!], `${base}/patches${n0}`, {
          kernel_shape: { ints: [kh, kw] },
          strides: { ints: [stride, stride] },
          pads: { ints: [pad, pad, pad, pad] },
          group: { i: cin },
        });
      const p3 = this.reshapeRaw(p, [m, rows, hw], `${base}/p3_${n0}`);
      const gyT = g.op('Transpose', [this.reshapeRaw(gys, [m, cout, hw], `${base}/gy3_${n0}`)], `${base}/gyT${n0}`, { perm: { ints: [0, 2, 1] } });
      const mm = g.op('MatMul', [p3, gyT], `${base}/pg${n0}`); // [m, rows, cout]
      parts.push(m === 1 ? this.reshapeRaw(mm, [rows, cout], `${base}/pgs${n0}`) : this.reduceSum(mm, [0], false, `${base}/pgs${n0}`));
    }
    const total = parts.length === 1 ? parts[0] : g.op('Sum', parts, `${base}/pgsum`);
    return this.reshapeRaw(g.op('Transpose', [total], `${base}/dwT`, { perm: { ints: [1, 0] } }), wShape, `${base}/dw`);
  }
}

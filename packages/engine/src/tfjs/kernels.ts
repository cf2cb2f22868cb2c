/**
 * Gradient kernels diff2s registers for the tfjs wasm backend (4.22), which lacks or mis-implements some:
 *
 * - `Conv2DBackpropFilter` (missing): dW = Conv2D(xᵀ, dyᵀ) with dilation = stride — the batch axis becomes the
 *   channel axis, the input channels become the batch, and the output gradient is the (dilated) filter.
 * - `Conv2DBackpropInput` (present but ~10× slower than the forward conv): replaced by a Conv2D with the flipped,
 *   in/out-swapped filter on the zero-inserted output gradient, as fast as the forward conv. Dilated or NCHW cases
 *   fall back to the original kernel.
 * - `BatchMatMul` with `transposeA` (~10× slow): the wrapper transposes A explicitly first.
 *
 * Other gaps (documented; the UNet ops avoid them): MaxPool's gradient is wrong (use avgPool / strided convs),
 * `UnsortedSegmentSum` is missing (no `gather` in differentiated code). tfjs-cpu's ResizeNearestNeighborGrad is wrong,
 * so nearest upsampling uses a custom gradient (see ops.ts).
 *
 * Each kernel is composed from the backend's own kernels (looked up with `getKernel`), disposing intermediates.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

const WASM = 'wasm';

type Pads = { top: number; bottom: number; left: number; right: number };

interface Backendish {
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Runs other kernels of one backend inside a kernel, tracking intermediates for disposal. */
class KernelScope {
  private readonly temps: TensorInfo[] = [];
  constructor(private readonly backend: Backendish, private readonly backendName: string) {}

  run(name: string, inputs: Record<string, TensorInfo>, attrs: Record<string, unknown> = {}, keep = false): TensorInfo {
    const k = original.get(name) ?? tf.getKernel(name, this.backendName);
    if (!k) throw new Error(`kernel ${name} is not registered for ${this.backendName}`);
    const out = k.kernelFunc({ inputs: inputs as never, backend: this.backend as never, attrs: attrs as never }) as TensorInfo;
    if (!keep) this.temps.push(out);
    return out;
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  /** Pad (non-negative amounts) or crop (negative amounts) the H and W axes of an NHWC tensor. */
  padOrCrop(x: TensorInfo, p: Pads): TensorInfo {
    let cur = x;
    const [n, h, w, c] = cur.shape;
    const ct = Math.max(0, -p.top), cb = Math.max(0, -p.bottom), cl = Math.max(0, -p.left), cr = Math.max(0, -p.right);
    if (ct || cb || cl || cr) {
      cur = this.run('Slice', { x: cur }, { begin: [0, ct, cl, 0], size: [n, h - ct - cb, w - cl - cr, c] });
    }
    return cur;
  }

  dispose(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
  }
}

/** Originals of kernels we wrap (captured before unregistering). */
const original = new Map<string, tf.KernelConfig>();
let registered = false;

function explicit(p: Pads): [[number, number], [number, number], [number, number], [number, number]] {
  return [[0, 0], [Math.max(0, p.top), Math.max(0, p.bottom)], [Math.max(0, p.left), Math.max(0, p.right)], [0, 0]];
}

/**
 * dW for a stride-s, dilation-1 NHWC conv: Conv2D of xᵀ [Ci,H,W,N] with dyᵀ [Ho,Wo,N,Co] as filter, dilation s,
 * stride 1, then transposed back to [KH,KW,Ci,Co].
 */
export function conv2dBackpropFilterImpl(
  scope: KernelScope, x: TensorInfo, dy: TensorInfo,
  attrs: { strides: [number, number] | number; pad: tf.Conv2DBackpropFilterAttrs['pad']; dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number] },
): TensorInfo {
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode,
  );
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo } = info;
  const pt = info.padInfo.top, pl = info.padInfo.left;
  const pads: Pads = { top: pt, left: pl, bottom: kh + (Ho - 1) * sh - H - pt, right: kw + (Wo - 1) * sw - W - pl };
  let xT = scope.transpose(x, [3, 1, 2, 0]); // [Ci, H, W, N]
  xT = scope.padOrCrop(xT, { top: 0, left: 0, bottom: Math.min(0, pads.bottom), right: Math.min(0, pads.right) });
  const dyT = scope.transpose(dy, [1, 2, 0, 3]); // [Ho, Wo, N, Co]
  const r = scope.run('Conv2D', { x: xT, filter: dyT }, {
    strides: [1, 1], pad: explicit(pads), dataFormat: 'NHWC', dilations: [sh, sw], dimRoundingMode: undefined,
  }); // [Ci, KH, KW, Co]
  if (r.shape[1] !== kh || r.shape[2] !== kw) {
    throw new Error(`Conv2DBackpropFilter: internal shape mismatch [${r.shape}] vs filter ${kh}x${kw}`);
  }
  return scope.run('Transpose', { x: r }, { perm: [1, 2, 0, 3] }, true);
}

/** dx for a stride-s, dilation-1 NHWC conv: Conv2D of the zero-inserted dy with the flipped, swapped filter. */
export function conv2dBackpropInputImpl(
  scope: KernelScope, dy: TensorInfo, filter: TensorInfo,
  attrs: { strides: [number, number] | number; pad: tf.Conv2DBackpropInputAttrs['pad']; dimRoundingMode?: 'floor' | 'round' | 'ceil'; inputShape: [number, number, number, number] },
): TensorInfo {
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode,
  );
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo } = info;
  const [n, , , co] = dy.shape;
  let z = dy;
  if (sh > 1 || sw > 1) {
    const r6 = scope.reshape(dy, [n, Ho, 1, Wo, 1, co]);
    const p6 = scope.run('PadV2', { x: r6 }, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
    z = scope.reshape(p6, [n, Ho * sh, Wo * sw, co]);
  }
  const hz = z.shape[1], wz = z.shape[2];
  const pads: Pads = {
    top: kh - 1 - info.padInfo.top,
    left: kw - 1 - info.padInfo.left,
    bottom: 0,
    right: 0,
  };
  pads.bottom = H + kh - 1 - hz - pads.top;
  pads.right = W + kw - 1 - wz - pads.left;
  z = scope.padOrCrop(z, pads);
  const flipped = scope.run('Reverse', { x: filter }, { dims: [0, 1] });
  const swapped = scope.transpose(flipped, [0, 1, 3, 2]); // [KH, KW, Co, Ci]
  const out = scope.run('Conv2D', { x: z, filter: swapped }, {
    strides: [1, 1], pad: explicit(pads), dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined,
  }, true);
  if (out.shape[1] !== H || out.shape[2] !== W) {
    scope.dispose();
    throw new Error(`Conv2DBackpropInput: internal shape mismatch [${out.shape}] vs input ${H}x${W}`);
  }
  return out;
}

function isNHWC(df: unknown): boolean {
  return df === undefined || df === 'NHWC' || df === 'channelsLast';
}

/** Run `f` with a scope whose intermediate tensors are disposed afterwards. */
function inScope<T>(backend: unknown, f: (scope: KernelScope) => T): T {
  const scope = new KernelScope(backend as Backendish, WASM);
  try {
    return f(scope);
  } finally {
    scope.dispose();
  }
}

const backpropFilterKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (!isNHWC(a.dataFormat)) throw new Error('Conv2DBackpropFilter (diff2s wasm kernel) supports NHWC only');
  return inScope(backend, (scope) => conv2dBackpropFilterImpl(scope, x, dy, a));
};

const backpropInputKernel: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (!isNHWC(a.dataFormat)) return original.get('Conv2DBackpropInput')!.kernelFunc(args);
  return inScope(backend, (scope) => conv2dBackpropInputImpl(scope, dy, filter, a));
};

const batchMatMulKernel: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const at = attrs as unknown as { transposeA: boolean; transposeB: boolean };
  const orig = original.get('BatchMatMul')!;
  if (!at.transposeA) return orig.kernelFunc(args);
  return inScope(backend, (scope) => {
    const r = a.shape.length;
    const perm = [...Array(r).keys()];
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    const aT = scope.transpose(a, perm);
    return orig.kernelFunc({ inputs: { a: aT, b } as never, backend, attrs: { ...at, transposeA: false } as never }) as TensorInfo;
  });
};

/** Options of {@link registerWasmGradientKernels}. */
export interface WasmKernelOptions {
  /** Replace the slow Conv2DBackpropInput (default true). */
  fastBackpropInput?: boolean;
  /** Wrap BatchMatMul so transposeA runs as an explicit transpose (default true). */
  fastTransposeA?: boolean;
}

/** The kernels registered by diff2s for the wasm backend (names), for reporting. */
export const wasmKernelFixes = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul'] as const;

/**
 * Register the diff2s gradient kernels for the wasm backend (idempotent). Called by `initEngine` before the wasm
 * backend is activated.
 */
export function registerWasmGradientKernels(options: WasmKernelOptions = {}): void {
  if (registered) return;
  registered = true;
  if (!tf.getKernel('Conv2DBackpropFilter', WASM)) {
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: WASM, kernelFunc: backpropFilterKernel });
  }
  const wrap = (name: string, fn: KernelFunc) => {
    const k = tf.getKernel(name, WASM);
    if (!k) return;
    original.set(name, k);
    tf.unregisterKernel(name, WASM);
    tf.registerKernel({ ...k, kernelFunc: fn });
  };
  if (options.fastBackpropInput !== false) wrap('Conv2DBackpropInput', backpropInputKernel);
  if (options.fastTransposeA !== false) wrap('BatchMatMul', batchMatMulKernel);
}

/** Restore the original wasm kernels we wrapped (tests / benchmarks comparing with the originals). */
export function unregisterWasmGradientKernels(): void {
  if (!registered) return;
  registered = false;
  for (const [name, k] of original) {
    tf.unregisterKernel(name, WASM);
    tf.registerKernel(k);
  }
  original.clear();
  if (tf.getKernel('Conv2DBackpropFilter', WASM)) tf.unregisterKernel('Conv2DBackpropFilter', WASM);
}

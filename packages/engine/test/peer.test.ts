/**
 * The PyTorch peer (bench/peer/diff2s_peer.py) runs the same NetworkDef on the same weights as TfjsNetwork and agrees
 * to ~1e-4 (forward, h₋₁, h, loss, gradients). Runs only when /usr/bin/python3 can import torch (Debian's
 * python3-torch); otherwise the suite reports itself as skipped, with the reason in the test name. CI does not install
 * torch. The fuller check (refiner swap, a wider guided UNet) is `node bench/peer/check.js`.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Rng, Tensor4 } from '@diff2s/core';
import { defineUNet, encodeWeights, initEngine, initWeights, NativeUNet, resolveUNetConfig, tf } from '@diff2s/engine';
import { randMask, randTensor, relErr, tinyGuided } from './helpers';

const PYTHON = '/usr/bin/python3';
const PEER = path.resolve(__dirname, '../../../bench/peer/diff2s_peer.py');

function torchVersion(): string | null {
  if (!fs.existsSync(PYTHON) || !fs.existsSync(PEER)) return null;
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

const torch = torchVersion();

type Named = Record<string, { shape: number[]; data: Float32Array }>;

function writeBundle(file: string, tensors: Named): void {
  const entries: { name: string; shape: number[]; offset: number; length: number }[] = [];
  const chunks: Buffer[] = [];
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    entries.push({ name, shape: t.shape, offset: off, length: t.data.length });
    chunks.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    off += t.data.byteLength;
  }
  const bin = path.basename(file, '.json') + '.bin';
  fs.writeFileSync(path.join(path.dirname(file), bin), Buffer.concat(chunks));
  fs.writeFileSync(file, JSON.stringify({ format: 'diff2s.weights', version: 1, dtype: 'float32', byteOrder: 'little', file: bin, totalBytes: off, entries }));
}

function readBundle(file: string): Map<string, Float32Array> {
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  const bytes = fs.readFileSync(path.join(path.dirname(file), m.file));
  const out = new Map<string, Float32Array>();
  for (const e of m.entries) out.set(e.name, new Float32Array(bytes.buffer.slice(bytes.byteOffset + e.offset, bytes.byteOffset + e.offset + 4 * e.length)));
  return out;
}

const t4 = (t: Tensor4) => ({ shape: [...t.shape], data: t.data });

// Gradients are compared on smooth (SiLU) networks only: with ReLU, a pre-activation within float32 rounding of 0
// can fall on different sides of the kink in the two engines, which moves a gradient by ~1e-3 relative on small
// batches (both agree with a float64 reference elsewhere). The ReLU preset is compared on the forward pass.
const cases: [string, unknown, number, boolean][] = [
  ['frugal preset (ReLU), forward only', 'frugal', 32, false],
  ['frugal with SiLU', { preset: 'frugal', activation: 'silu' }, 32, true],
  ['tiny guided (GroupNorm, SiLU, MLP embedding, attention)', tinyGuided, 8, true],
];

const SKIP_REASON = 'SKIPPED: python3-torch is absent (/usr/bin/python3 cannot import torch); the PyTorch peer check did not run';

if (!torch) {
  describe(`PyTorch peer — ${SKIP_REASON}`, () => {
    // jest lists no names for a suite whose tests are all skipped, so say it in the output too
    beforeAll(() => console.warn(`peer.test.ts: ${SKIP_REASON} (install with apt-get install python3-torch; CI never does)`));
    test(`${SKIP_REASON} (reported as a pass so the reason shows up in the test list)`, () => undefined);
    test.skip('peer forward / gradients match tfjs (needs python3-torch)', () => undefined);
  });
} else {
  describe(`PyTorch peer (torch ${torch}) matches the tfjs executor on the same NetworkDef and weights`, () => {
    let dir: string;
    beforeAll(async () => {
      await initEngine({ backend: 'wasm' });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diff2s-peer-test-'));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    test.each(cases)('%s: forward, h₋₁, h (and loss, gradients) agree to 1e-4', async (label, spec, size, grads) => {
      const cfg = resolveUNetConfig(spec as never);
      const def = defineUNet(cfg);
      const rng = new Rng(`peer-${label}`);
      const weights = initWeights(def, 3);
      for (const w of weights.values()) for (let i = 0; i < w.length; i++) w[i] += 0.05 * rng.normal();
      const model = await NativeUNet.create(cfg, { weights });
      try {
        const n = 2;
        const xt = randTensor(rng, [n, 3, size, size]);
        const mask = randMask(rng, n, size, size);
        const x = model.buildInput(xt, { xm: randTensor(rng, [n, 3, size, size]), mask });
        const noise = new Float32Array(n);
        for (let i = 0; i < n; i++) noise[i] = cfg.noise.input === 't' ? 1 + rng.int(1000) : rng.uniform();
        const target = randTensor(rng, [n, 3, size, size]);

        const output = model.forwardInput(x, noise);
        const enc = model.encodeInput(x, noise);
        const hMid = model.middleAt(enc.h, noise);
        model.releaseSkips(enc.skips);
        const lg = model.net.lossAndGrads({ input: x, noise, target, weight: mask });

        fs.writeFileSync(path.join(dir, 'def.json'), JSON.stringify(def));
        const { manifest, bytes } = encodeWeights(def, weights);
        fs.writeFileSync(path.join(dir, manifest.file), bytes);
        fs.writeFileSync(path.join(dir, 'weights.json'), JSON.stringify(manifest));
        writeBundle(path.join(dir, 'in.json'), { x: t4(x), noise: { shape: [n], data: noise }, target: t4(target), weight: t4(mask) });
        const r = spawnSync(PYTHON, [PEER, 'run', '--def', path.join(dir, 'def.json'), '--weights', path.join(dir, 'weights.json'),
          '--inputs', path.join(dir, 'in.json'), '--out', path.join(dir, 'out.json')], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
        if (r.status !== 0) throw new Error(`peer failed: ${r.stderr}`);
        const peer = readBundle(path.join(dir, 'out.json'));

        expect(relErr(peer.get('output')!, output.data)).toBeLessThan(1e-4);
        expect(relErr(peer.get('hEnc')!, enc.h.data)).toBeLessThan(1e-4);
        expect(relErr(peer.get('hMid')!, hMid.data)).toBeLessThan(1e-4);
        expect(relErr(peer.get('loss')!, [lg.loss])).toBeLessThan(1e-4);
        for (const p of grads ? def.params : []) {
          const g = peer.get(`grad:${p.name}`);
          expect(g).toBeDefined();
          const err = relErr(g!, lg.grads.get(p.name)!);
          if (!(err < 2e-4)) throw new Error(`gradient of ${p.name}: relative error ${err}`);
        }
        expect(tf.memory().numTensors).toBeGreaterThan(0);
      } finally {
        model.dispose();
      }
    });
  });
}

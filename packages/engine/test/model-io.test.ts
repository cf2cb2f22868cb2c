import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createContainer, MemoryLogger, ModelFileError, Rng } from '@diff2s/core';
import {
  engineModule, initEngine, LoadedModel, loadModel, loadOnnxModel, loadTfjsModel, MANIFEST_FILE, MODEL_CARD_FILE, NativeUNet,
  OnnxUNet, ortAvailability, readModelCard, resolveModelEngine, saveModel, WEIGHTS_FILE, WeightsManifest,
} from '@diff2s/engine';
import { randMask, randTensor, tinyGuided } from './helpers';

let dir: string;
beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'diff2s-engine-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const step = { t: 120, alphaBar: 0.7 };

describe('save / load', () => {
  test('save → load gives identical outputs, and the card records the model', async () => {
    const model = await NativeUNet.create(tinyGuided as never, { seed: 5 });
    const folder = path.join(dir, 'm1');
    await saveModel(folder, model, {
      preset: 'palette',
      schedule: { type: 'linear', T: 1000, betaStart: 1e-4, betaEnd: 0.02 },
      training: { data: ['a.png'], steps: 10 },
      backend: 'wasm',
    });
    const files = (await fs.readdir(folder)).sort();
    expect(files).toEqual([MODEL_CARD_FILE, WEIGHTS_FILE, MANIFEST_FILE].sort()); // no temp files left
    const card = await readModelCard(folder);
    expect(card.config).toEqual(model.config);
    expect(card.predictionType).toBe('epsilon');
    expect(card.training?.steps).toBe(10);
    expect(card.engine.name).toBe('@diff2s/engine');
    expect(card.engine.version).toMatch(/^\d+\.\d+\.\d+/);
    const bytes = await fs.readFile(path.join(folder, WEIGHTS_FILE));
    expect(bytes.byteLength).toBe(card.parameters * 4);

    const loaded = await loadModel(folder, { engine: 'tfjs' });
    expect(loaded.engine).toBe('tfjs');
    const rng = new Rng('io');
    const xt = randTensor(rng, [2, 3, 8, 8]);
    const cond = { xm: randTensor(rng, [2, 3, 8, 8]), mask: randMask(rng, 2, 8, 8) };
    const a = (await model.predict(xt, step, cond)).clone();
    const b = await loaded.predict(xt, step, cond);
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
    model.dispose();
    loaded.dispose();
  });

  test('loading names the parameter that does not match', async () => {
    const model = await NativeUNet.create(tinyGuided as never, { seed: 5 });
    const folder = path.join(dir, 'm2');
    await saveModel(folder, model);
    model.dispose();
    const mf = path.join(folder, MANIFEST_FILE);
    const original = await fs.readFile(mf, 'utf8');
    const manifest = JSON.parse(original) as WeightsManifest;

    const wrongShape = structuredClone(manifest);
    const e = wrongShape.entries.find((x) => x.name === 'enc.0.0.conv1.weight')!;
    e.shape = [8, 8, 1, 9];
    await fs.writeFile(mf, JSON.stringify(wrongShape));
    await expect(loadModel(folder)).rejects.toThrow(/parameter "enc\.0\.0\.conv1\.weight" has shape \[8, 8, 1, 9\], the model config expects \[8, 8, 3, 3\]/);

    const missing = structuredClone(manifest);
    missing.entries = missing.entries.filter((x) => x.name !== 'mid.attn.qkv.bias');
    await fs.writeFile(mf, JSON.stringify(missing));
    await expect(loadModel(folder)).rejects.toThrow(/parameter "mid\.attn\.qkv\.bias" \[48\] is missing/);

    const extra = structuredClone(manifest);
    extra.entries.push({ name: 'bogus.weight', shape: [1], offset: 0, length: 1 });
    await fs.writeFile(mf, JSON.stringify(extra));
    await expect(loadModel(folder)).rejects.toThrow(ModelFileError);
    await expect(loadModel(folder)).rejects.toThrow(/"bogus\.weight"/);

    await fs.writeFile(mf, original);
    await fs.truncate(path.join(folder, WEIGHTS_FILE), 100);
    await expect(loadModel(folder)).rejects.toThrow(/has 100 bytes/);

    const card = JSON.parse(await fs.readFile(path.join(folder, MODEL_CARD_FILE), 'utf8'));
    card.config.baseChannels = 'big';
    await fs.writeFile(path.join(folder, MODEL_CARD_FILE), JSON.stringify(card));
    await expect(loadModel(folder)).rejects.toThrow(/baseChannels/);
    await expect(loadModel(path.join(dir, 'absent'))).rejects.toThrow(/cannot read/);
  });

  test('the container registers the "native" model loader', async () => {
    const model = await NativeUNet.create(tinyGuided as never, { seed: 9 });
    await saveModel(path.join(dir, 'm3'), model);
    model.dispose();
    const c = createContainer(engineModule);
    expect(c.modelLoaders.names()).toContain('native');
    const loaded = (await c.modelLoaders.create('native', { path: 'm3', engine: 'tfjs' }, { container: c, baseDir: dir, logger: new MemoryLogger() })) as LoadedModel;
    expect(loaded).toBeInstanceOf(NativeUNet);
    expect(loaded.engine).toBe('tfjs');
    expect(loaded.card.family).toBe('unet');
    loaded.dispose();
    expect(() => c.modelLoaders.create('native', { path: 'x', extra: 1 }, { container: c, baseDir: dir, logger: new MemoryLogger() })).toThrow(/unknown key/);
  });

  test('loadModel picks the engine like the native loader, and every loaded model says which engine it runs on', async () => {
    const model = await NativeUNet.create(tinyGuided as never, { seed: 11 });
    const folder = path.join(dir, 'm4');
    await saveModel(folder, model);
    const ort = await ortAvailability();
    const rng = new Rng('engines');
    const xt = randTensor(rng, [1, 3, 8, 8]);
    const cond = { xm: randTensor(rng, [1, 3, 8, 8]), mask: randMask(rng, 1, 8, 8) };
    const ref = (await model.predict(xt, step, cond)).clone();
    model.dispose();

    // engine: tfjs — NativeUNet (also via loadTfjsModel, the tfjs-only loader)
    const tfjs = await loadModel(folder, { engine: 'tfjs' });
    expect(tfjs).toBeInstanceOf(NativeUNet);
    expect(tfjs.engine).toBe('tfjs');
    const direct = await loadTfjsModel(folder);
    expect(direct.engine).toBe('tfjs');
    expect(Array.from((await direct.predict(xt, step, cond)).data)).toEqual(Array.from(ref.data));
    tfjs.dispose();
    direct.dispose();
    // a tfjs backend other than auto (configs written before engines) keeps tfjs under auto
    expect(await resolveModelEngine({ engine: 'auto', backend: 'wasm' })).toEqual({ engine: 'tfjs', reason: 'tfjs backend "wasm" requested' });
    expect((await resolveModelEngine({})).engine).toBe(ort.available ? 'onnx' : 'tfjs');
    const auto = await loadModel(folder, { backend: 'wasm' });
    expect(auto.engine).toBe('tfjs');
    await auto.dispose();
    if (!ort.available) {
      console.warn(`onnxruntime-node does not load here (${ort.reason}): the onnx half of this test is skipped`);
      return;
    }
    // engine: onnx — OnnxUNet; auto picks it when onnxruntime loads; the registry loader goes through loadModel
    const logger = new MemoryLogger();
    for (const loaded of [
      await loadModel(folder, { engine: 'onnx' }),
      await loadModel(folder, { logger }),
      await loadOnnxModel(folder),
      (await createContainer(engineModule).modelLoaders.create('native', { path: 'm4' }, { container: createContainer(), baseDir: dir, logger })) as LoadedModel,
    ]) {
      expect(loaded).toBeInstanceOf(OnnxUNet);
      expect(loaded.engine).toBe('onnx');
      expect(loaded.card.family).toBe('unet');
      const y = await loaded.predict(xt, step, cond);
      let err = 0;
      for (let i = 0; i < y.size; i++) err = Math.max(err, Math.abs(y.data[i] - ref.data[i]));
      expect(err).toBeLessThan(1e-4);
      await loaded.dispose();
    }
    expect(logger.messages.some((e) => /on onnx \(onnxruntime-node loads\)/.test(e.message))).toBe(true);
  });
});
